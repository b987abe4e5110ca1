"""`peekless evaluate`: figures of the decision rule on LiteRT's reference outputs, a plain
labelled folder scrubbed in memory with no file name reaching the report, and on the
emulated device every decision held to the host reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED
from hil_fixtures import HAVE_TOOLS, build_tiny_model, cache_root
from PIL import Image

from host_tools.decision_rule import DecisionRule
from peekless.cli import main

NAMES = ("maria_garcia_2026-10-01_1830", "Flat 4, 22 Harbour Road")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The audit tests' tiny gray model (its input scale is within 1e-5 of 1/255: enough
    for the device, where the bytes are all that count)."""
    root = cache_root(tmp_path_factory)
    build_tiny_model(root)
    return root / "tiny.tflite"


@pytest.fixture(scope="module")
def gray_model(tmp_path_factory) -> Path:
    """A small gray 96x96 model quantized by `peekless quantize`'s code: input pixel - 128."""
    import keras

    from training.quantize import quantize
    from training.synthetic import build_dataset

    root = tmp_path_factory.mktemp("gray")
    manifest = build_dataset(root / "data", n=40, seed=2)
    keras.utils.set_random_seed(3)
    inp = keras.Input((96, 96, 1))
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(inp)
    x = keras.layers.AveragePooling2D(x.shape[1:3])(x)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    model.save(root / "m.keras")
    return quantize(root / "m.keras", manifest, root / "m.tflite", calibration_count=10, report=False)


def _folder(root: Path, frames: np.ndarray, labels: np.ndarray) -> Path:
    """ROOT/person and ROOT/no_person with PNGs named like a person's files, a file that
    is not an image, and a symlink to a file outside."""
    for i, (frame, label) in enumerate(zip(frames, labels)):
        folder = root / ("person" if label else "no_person") / NAMES[1]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame[..., 0]).save(folder / f"{NAMES[0]}_{i:03d}.png")
    (root / "person" / f"{NAMES[0]}.txt").write_text("not a picture")
    outside = root.parent / "outside.png"
    Image.fromarray(frames[0][..., 0]).save(outside)
    (root / "no_person" / "link.png").symlink_to(outside)
    return root


def test_a_folder_is_scrubbed_in_memory_and_no_name_reaches_the_report(gray_model, tmp_path,
                                                                       capsys):  # fmt: skip
    from host_tools.canaries import generate_canaries
    from training.preprocess import to_model_input
    from training.reference import litert_reference

    frames = generate_canaries(24, 96, 96, 1, seed=3).frames
    labels = np.arange(24) % 3 == 0
    folder = _folder(tmp_path / "mine", frames, labels)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    out = tmp_path / "report"
    assert main(["evaluate", str(gray_model), str(folder), "--out", str(out)]) == 0
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if out not in p.parents
                  and p != out) == before  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["REPORT.md", "report.json", "roc.png"]

    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["frames"] == 24 and report["dataset"]["per_class"]["person"] == 8
    assert report["dataset"]["skipped"] == {"symlink (not followed)": 1, "unknown_format": 1}
    # Files are read in sorted order: no_person first, then person.
    order = np.r_[np.flatnonzero(~labels), np.flatnonzero(labels)]
    outputs = litert_reference(gray_model, to_model_input(frames[order]))
    want = DecisionRule().apply(outputs)
    assert report["metrics"]["accuracy"] == pytest.approx(np.mean(want == labels[order]))
    for text in ((out / "report.json").read_text(), (out / "REPORT.md").read_text()):
        for name in (*NAMES, "maria", "Harbour", "outside", str(tmp_path)):
            assert name not in text

    assert main(["evaluate", str(gray_model), str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "no such dataset" in capsys.readouterr().err


@pytest.mark.skipif(not HAVE_TOOLS, reason="arm-none-eabi-gcc/qemu-system-arm missing")
def test_the_device_comparison_fails_when_a_decision_differs(tiny):
    from host_tools.canaries import generate_canaries
    from host_tools.device_eval import device_decisions
    from training.preprocess import to_model_input
    from training.reference import litert_reference

    frames = generate_canaries(6, 96, 96, 1, seed=4).frames
    outputs = litert_reference(tiny, to_model_input(frames))
    wrong = outputs.copy()
    wrong[3] = wrong[3][::-1] if wrong[3, 0] != wrong[3, 1] else [-100, 100]
    result = device_decisions(tiny, frames, wrong, DecisionRule(), "an386", boot_frames=4)
    assert result.boots == 2 and result.hello_ok and result.problems == []
    assert result.mismatches == [3]
    assert result.to_json()["agreement"] == pytest.approx(5 / 6)


@pytest.fixture(scope="module")
def rgb_manifest(tmp_path_factory) -> Path:
    from training.synthetic import build_dataset

    return build_dataset(tmp_path_factory.mktemp("rgb") / "data", n=80, seed=9, channels=3,
                         val_fraction=0.25, test_fraction=0.5)  # fmt: skip


@pytest.mark.emulator
@pytest.mark.skipif(not HAVE_TOOLS, reason="arm-none-eabi-gcc/qemu-system-arm missing")
def test_mlperf_int8_on_an386_agrees_with_litert_on_every_frame(rgb_manifest, tmp_path,
                                                                 monkeypatch, capsys):  # fmt: skip
    if not (SHARED / "models" / "mlperf_vww_96_int8.tflite").exists():
        pytest.skip("reference model missing in ../shared/models")
    from training.preprocess import to_model_input
    from training.pretrained import locate
    from training.reference import litert_reference
    from training.synthetic import load_split

    monkeypatch.setenv("PEEKLESS_SHARED", str(SHARED))
    out = tmp_path / "report"
    argv = ["evaluate", "mlperf-vww", str(rgb_manifest), "--out", str(out), "--board", "an386",
            "--limit", "24", "--threshold", "0.3", "--k-of-n", "2/3", "--boot-frames", "12"]
    assert main(argv) == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    device = report["device"]
    assert (device["frames"], device["boots"], device["mismatches"]) == (24, 2, 0), device
    assert device["hello_states_the_manifest"] and device["instructions_per_inference"]["mean"] > 1e6

    # The host figures, recomputed here from LiteRT and the rule the report states.
    images, labels = load_split(rgb_manifest, "test")
    outputs = litert_reference(locate("mlperf-vww", "int8"), to_model_input(images[:24]))
    rule = DecisionRule.from_manifest(report)
    assert (rule.kind, rule.k, rule.n) == ("k_of_n", 2, 3)
    assert report["metrics"]["accuracy"] == pytest.approx(np.mean(rule.apply(outputs) == labels[:24]))
    plain = DecisionRule("threshold", threshold=rule.threshold).apply(outputs)
    assert report["threshold_table"][2]["accuracy"] == pytest.approx(np.mean(plain == labels[:24]))

    # The report's operating points choose a threshold for `peekless firmware`.
    from host_tools.rule_choice import choose_rule

    args = type("A", (), {"threshold": None, "target_fpr": 0.2, "card": out / "report.json", "tflite": None,
                              "k_of_n": None, "hysteresis_low": None})()  # fmt: skip
    chosen = choose_rule(args, model_sha256=report["model"]["tflite_sha256"])
    assert chosen.chosen_from["fpr"] <= 0.2
