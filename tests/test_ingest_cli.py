"""`peekless dataset ...` end to end through the argparse wrapper."""

from __future__ import annotations

import argparse

import pytest
from ingest_fixtures import write_coco

from training.ingest.cli import main, register
from training.ingest.manifest import load_manifest


def test_register_adds_dataset_command():
    parser = argparse.ArgumentParser(prog="peekless")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dataset", "card", "somewhere"])
    assert callable(args.func) and str(args.dataset) == "somewhere"


def test_coco_build_forget_card_verify(tmp_path, capsys):
    images = [{"id": i, "width": 64, "height": 48} for i in (1, 2, 3)]
    ann = write_coco(tmp_path / "coco", images, [{"image_id": 2, "bbox": [0, 0, 30, 30]}])
    out = tmp_path / "out"
    argv = [
        "dataset",
        "build",
        "coco",
        "--annotations",
        str(ann),
        "--images",
        str(tmp_path / "coco"),
        "--rule",
        "mlperf",
        "--size",
        "16",
        "--color",
        "rgb",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "built 3 of 3 inputs" in capsys.readouterr().out
    m = load_manifest(out / "manifest.json")
    assert m["channels"] == 3 and m["name"] == "coco-mlperf"

    assert main(["dataset", "forget", str(out), "--source-id", "2"]) == 0
    assert "removed 1 image" in capsys.readouterr().out
    assert {r["source_id"] for r in load_manifest(out / "manifest.json")["images"]} == {"1", "3"}
    assert main(["dataset", "forget", str(out), "--source-id", "2"]) == 1  # already gone
    assert main(["dataset", "forget", str(out)]) == 2  # no criterion
    assert main(["dataset", "card", str(out)]) == 0
    assert "1 request(s), 1 image(s) removed" in (out / "DATASET_CARD.md").read_text()

    assert main(["dataset", "verify", str(out)]) == 0
    png = out / load_manifest(out / "manifest.json")["images"][0]["path"]
    png.write_bytes(png.read_bytes() + b"trailing")
    assert main(["dataset", "verify", str(out)]) == 1
    assert "after IEND" in capsys.readouterr().err


def test_folders_needs_licence_and_consent(tmp_path):
    (tmp_path / "person").mkdir()
    with pytest.raises(SystemExit):
        main(["dataset", "build", "folders", str(tmp_path), "--consent", "yes"])
    with pytest.raises(SystemExit):
        main(["dataset", "build", "folders", str(tmp_path), "--licence", "CC0"])


def test_build_synthetic_writes_a_card(tmp_path):
    out = tmp_path / "syn"
    assert (
        main(["dataset", "build", "synthetic", "--n", "6", "--size", "32", "--out", str(out)]) == 0
    )
    assert "no substitute for real data" in (out / "DATASET_CARD.md").read_text()
