"""Model cards: ``model_card.json`` and ``MODEL_CARD.md`` (with PNG plots) for a trained model.

``write_model_card(model_dir, manifest)`` reads what training and quantization left in
``model_dir`` (``model.keras``, ``training_history.json``, ``model_int8.tflite``) and
measures the rest itself on the dataset's test split:

- the data: manifest sha256, name, counts, and whether a removal has made the model stale;
- the recipe and every hyperparameter (from ``training_history.json``);
- accuracy, ROC AUC and the confusion matrix of the float and the int8 model (the int8 one
  through LiteRT's reference kernels, i.e. as the device computes), and how often the two
  pick the same class;
- differential privacy: epsilon and delta when training used DP-SGD (the history's "dp"
  block, written by training/dp.py);
- a membership-inference audit (training/membership.py) when that module is installed,
  otherwise "not run" with the reason;
- size: parameters, .keras and .tflite bytes, MACs per inference, arena and weight bytes
  (from the Peekless compiler's report; MACs counted from the Keras layers if the compiler
  refuses the model);
- plots: training curves, ROC curves, confusion matrices (matplotlib, Agg backend).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from peekless.errors import UserError
from training.ingest import is_model_stale, load_manifest, load_split, manifest_sha256
from training.ingest.manifest import LABEL_NAMES
from training.run_paths import path_for_record

CARD_JSON = "model_card.json"
CARD_MD = "MODEL_CARD.md"
SCHEMA = "peekless-model-card/1"
PLOTS = {
    "training_curves": "training_curves.png",
    "roc": "roc.png",
    "confusion_matrix": "confusion_matrix.png",
}
MAX_ROC_POINTS = 256  # ROC curves stored in the JSON are thinned to about this many points


# --- metrics (numpy only) -------------------------------------------------------------


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates) over every distinct score threshold,
    from (0, 0) to (1, 1); class 1 is the positive class, higher scores mean more positive."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        raise ValueError("ROC needs both classes among the labels")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    return np.r_[0.0, fp / neg], np.r_[0.0, tp / pos]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half, as Mann-Whitney's U)."""
    fpr, tpr = roc_curve(labels, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    """[[true no_person as no_person, as person], [true person as no_person, as person]]."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    return [[int(np.sum((labels == t) & (predicted == p))) for p in (0, 1)] for t in (0, 1)]


def decision_metrics(labels: np.ndarray, decisions: np.ndarray) -> dict:
    """Accuracy, person recall and precision, false-positive rate (None where a rate has
    no denominator) and the confusion matrix of class decisions (1 = person)."""
    labels, decisions = np.asarray(labels).astype(int), np.asarray(decisions).astype(int)
    (tn, fp), (fn, tp) = cm = confusion_matrix(labels, decisions)
    return {
        "accuracy": float(np.mean(labels == decisions)),
        "person_recall": tp / (tp + fn) if tp + fn else None,
        "person_precision": tp / (tp + fp) if tp + fp else None,
        "false_positive_rate": fp / (fp + tn) if fp + tn else None,
        "confusion_matrix": cm,
    }


def _metrics(labels: np.ndarray, scores: np.ndarray, predicted: np.ndarray) -> dict:
    m = decision_metrics(labels, predicted)
    fpr, tpr = roc_curve(labels, scores)
    return {
        "accuracy": m.pop("accuracy"),
        "roc_auc": roc_auc(labels, scores),
        "confusion_matrix": m.pop("confusion_matrix"),
        **m,  # person_recall, person_precision, false_positive_rate
        "roc": _thin({"fpr": fpr.tolist(), "tpr": tpr.tolist()}),
    }


def _thin(roc: dict) -> dict:
    """Keep about MAX_ROC_POINTS of a curve (always the first and last point)."""
    n = len(roc["fpr"])
    if n <= MAX_ROC_POINTS:
        return roc
    keep = np.unique(np.r_[np.linspace(0, n - 1, MAX_ROC_POINTS).round().astype(int), n - 1])
    return {k: [v[i] for i in keep] for k, v in roc.items()}


def evaluate_models(
    model_path: Path, tflite_path: Path | None, manifest_path: Path, split: str = "test"
) -> dict:
    """Float (and, given a .tflite, int8) metrics on one split, and their agreement.
    ``model_path``: the float model's file, or that model already loaded.

    Scores for ROC: the person logit minus the no-person logit (the int8 model's raw int8
    outputs; one scale for both outputs, so the order is that of the dequantized values).
    """
    from training.preprocess import to_model_input
    from training.train import predict_keras

    images, labels = load_split(manifest_path, split)
    missing = [name for c, name in LABEL_NAMES.items() if not np.any(labels == c)]
    if missing:  # the card's metrics (ROC, per-class rates) need both classes
        raise UserError(
            f"{manifest_path}: the {split} split has no {' and no '.join(missing)} image, so "
            f"the model cannot be evaluated (build the dataset with a larger --{split} "
            "fraction or more pictures; then `peekless model-card` writes the card)"
        )
    logits = predict_keras(model_path, images)
    result = {
        "split": split,
        "images": len(labels),
        "per_class": {LABEL_NAMES[c]: int(np.sum(labels == c)) for c in (0, 1)},
        "float": _metrics(labels, logits[:, 1] - logits[:, 0], logits.argmax(axis=1)),
    }
    if tflite_path is not None:
        from training.quantize import litert_predict

        out = litert_predict(tflite_path, to_model_input(images)).astype(np.int32)
        result["int8"] = _metrics(labels, out[:, 1] - out[:, 0], out.argmax(axis=1))
        result["float_int8_agreement"] = float(np.mean(logits.argmax(axis=1) == out.argmax(axis=1)))
    return result


# --- size ------------------------------------------------------------------------------


def keras_macs(model) -> int:
    """Multiply-accumulates per inference of Conv2D, DepthwiseConv2D, AveragePooling2D (one
    per input tap, as the compiler counts) and Dense layers."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("Conv2D", "DepthwiseConv2D"):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            c_in = layer.input.shape[-1]
            per_pixel = kh * kw * c_out * (1 if kind == "DepthwiseConv2D" else c_in)
            total += int(h * w * per_pixel)
        elif kind == "AveragePooling2D":
            _, h, w, c = layer.output.shape
            total += int(h * w * c * layer.pool_size[0] * layer.pool_size[1])
        elif kind == "Dense":
            total += int(layer.input.shape[-1] * layer.units)
    return total


def model_size(model_path: Path, tflite_path: Path | None) -> dict:
    """Parameters, file sizes, MACs, and the compiled arena and weight bytes."""
    import keras

    model = keras.models.load_model(model_path, compile=False)
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    size = {
        "parameters": int(model.count_params()),
        "trainable_parameters": trainable,
        "keras_bytes": Path(model_path).stat().st_size,
        "tflite_bytes": Path(tflite_path).stat().st_size if tflite_path else None,
        "macs": keras_macs(model),
        "macs_source": "Keras layers",
        "arena_bytes": None,
        "weight_bytes": None,
    }
    if tflite_path is not None:
        from compiler import UnsupportedModelError, compile_model

        try:
            with tempfile.TemporaryDirectory() as tmp:
                compiled = compile_model(tflite_path, Path(tmp))
        except UnsupportedModelError as exc:
            size["compiler"] = f"not compiled: {exc}"
        else:
            size.update(
                macs=compiled.macs,
                macs_source="Peekless compiler report",
                arena_bytes=compiled.arena_bytes,
                weight_bytes=compiled.weight_bytes,
            )
    return size


# --- privacy ---------------------------------------------------------------------------


def membership_audit(
    model_path: Path, manifest_path: Path, *, enabled: bool = True, seed: int = 0
) -> dict:
    """training.membership.audit_membership's result, or {"status": "not run", "reason"}."""
    if not enabled:
        return {"status": "not run", "reason": "switched off (--no-membership)"}
    try:
        from training.membership import audit_membership
    except ImportError as exc:
        return {"status": "not run", "reason": f"training.membership is not available ({exc})"}
    try:
        result = audit_membership(
            model_path, manifest_path, members="train", nonmembers="test", seed=seed
        )
    except Exception as exc:  # noqa: BLE001 - the card is still written, saying why
        return {"status": "not run", "reason": f"audit failed: {type(exc).__name__}: {exc}"}
    result = dict(result)
    for attack in result.get("attacks", {}).values():
        if isinstance(attack, dict) and isinstance(attack.get("roc"), dict):
            attack["roc"] = _thin(attack["roc"])
    return {"status": "run", **result}


# --- plots -----------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(epochs: list[dict], path: Path) -> Path:
    plt = _pyplot()
    x = [e["epoch"] for e in epochs]
    panels = [("loss", ("loss", "val_loss")), ("accuracy", ("accuracy", "val_accuracy"))]
    if any("learning_rate" in e for e in epochs):
        panels.append(("learning rate", ("learning_rate",)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    for ax, (title, keys) in zip(np.atleast_1d(axes), panels):
        for key in keys:
            points = [(i, e[key]) for i, e in zip(x, epochs) if e.get(key) is not None]
            if points:
                ax.plot(*zip(*points), marker=".", label=key.replace("_", " "))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if title != "learning rate":
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roc(evaluation: dict, membership: dict, path: Path) -> Path:
    plt = _pyplot()
    attacks = membership.get("attacks") if membership.get("status") == "run" else None
    fig, axes = plt.subplots(1, 2 if attacks else 1, figsize=(9 if attacks else 4.6, 4.2))
    ax = np.atleast_1d(axes)[0]
    for kind in ("float", "int8"):
        if kind in evaluation:
            m = evaluation[kind]
            ax.plot(m["roc"]["fpr"], m["roc"]["tpr"], label=f"{kind} (AUC {m['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="gray")
    ax.set(title=f"person detection, {evaluation['split']} split",
           xlabel="false positive rate", ylabel="true positive rate")  # fmt: skip
    ax.legend(loc="lower right")
    if attacks:
        ax = np.atleast_1d(axes)[1]
        for name, attack in attacks.items():
            roc = attack.get("roc") or {}
            if roc.get("fpr"):
                ax.plot(roc["fpr"], roc["tpr"], label=f"{name} (AUC {attack.get('auc', 0):.3f})")
        ax.plot([0, 1], [0, 1], ls=":", color="gray")
        ax.set(title="membership inference (train vs test)",
               xlabel="false positive rate", ylabel="true positive rate")  # fmt: skip
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(evaluation: dict, path: Path) -> Path:
    plt = _pyplot()
    kinds = [k for k in ("float", "int8") if k in evaluation]
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.8 * len(kinds), 3.4))
    names = [LABEL_NAMES[0], LABEL_NAMES[1]]
    for ax, kind in zip(np.atleast_1d(axes), kinds):
        cm = np.array(evaluation[kind]["confusion_matrix"])
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center",
                    color="white" if v > cm.max() / 2 else "black")  # fmt: skip
        ax.set(title=f"{kind}", xticks=[0, 1], yticks=[0, 1], xticklabels=names,
               yticklabels=names, xlabel="predicted", ylabel="true")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- the card --------------------------------------------------------------------------


def _file_entry(path: Path | None) -> dict | None:
    if path is None or not Path(path).exists():
        return None
    data = Path(path).read_bytes()
    return {"path": Path(path).name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _versions() -> dict:
    import keras
    import tensorflow as tf

    from compiler.compile import COMPILER_VERSION

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "peekless_compiler": COMPILER_VERSION,
    }


def build_card(
    model_dir: Path,
    manifest_path: Path,
    tflite_path: Path | None = None,
    *,
    membership: bool = True,
    seed: int = 0,
    split: str = "test",
) -> dict:
    """Everything the card states, as a dict (``write_model_card`` also writes it out)."""
    model_dir, manifest_path = Path(model_dir), Path(manifest_path)
    model_path = model_dir / "model.keras"
    if not model_path.exists():
        raise UserError(f"{model_dir}: no model.keras here (give the --out folder of a run)")
    if tflite_path is None and (model_dir / "model_int8.tflite").exists():
        tflite_path = model_dir / "model_int8.tflite"
    history_path = model_dir / "training_history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else {}
    manifest = load_manifest(manifest_path)
    sha = manifest_sha256(manifest_path)
    trained_on = history.get("dataset", {}).get("manifest_sha256")
    config = history.get("config", {})

    evaluation = evaluate_models(model_path, tflite_path, manifest_path, split)
    dp = history.get("dp")
    channels = int(manifest.get("channels", config.get("input_shape", [0, 0, 1])[-1]))
    quant_report = Path(tflite_path).parent / "quantize_report.json" if tflite_path else None
    calibration = Path(tflite_path).with_suffix(".calibration.json") if tflite_path else None
    card = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": {
            "name": model_dir.name,
            "arch": config.get("arch"),
            "family": config.get("model_family"),
            "task": "person / no person in one camera frame (visual wake words)",
            "input": {
                "shape": config.get("input_shape"),
                "colour": {1: "gray", 3: "RGB"}.get(channels, f"{channels} channels"),
                "float": "pixels / 255",
                "int8": "pixel - 128 (scale 1/255, zero point -128)",
            },
            "outputs": [LABEL_NAMES[0], LABEL_NAMES[1]],
            "files": {"keras": _file_entry(model_path), "tflite": _file_entry(tflite_path)},
        },
        "dataset": {
            "name": manifest.get("name"),
            "manifest": path_for_record(manifest_path, model_dir),  # relative: no home folder
            "manifest_sha256": sha,
            "trained_on_manifest_sha256": trained_on,
            "same_manifest": trained_on == sha if trained_on else None,
            "stale": is_model_stale(trained_on, manifest_path.parent) if trained_on else None,
            "counts": manifest.get("counts"),
            "synthetic": str(manifest.get("name", "")).startswith("synthetic"),
        },
        "training": {
            "recipe": config.get("recipe"),
            "hyperparameters": config,
            "epochs_run": len(history.get("epochs", [])),
            "train_seconds": history.get("train_seconds"),
            "resumed_at_epoch": history.get("resumed_at_epoch"),
            "final_epoch": (history.get("epochs") or [None])[-1],
        },
        "evaluation": evaluation,
        # int8 score thresholds on the validation split: `peekless firmware --target-fpr`
        "operating_points": _validation_operating_points(tflite_path, manifest_path),
        "quantization": {
            "report": json.loads(quant_report.read_text())
            if quant_report and quant_report.exists()
            else None,
            "calibration": {
                k: v for k, v in json.loads(calibration.read_text()).items() if k not in ("ids", "indices")
            }
            if calibration and calibration.exists()
            else None,
            "quantization_aware_training": "no: tensorflow-model-optimization supports "
            "Keras 2 only; post-training full-int8 quantization",
        },
        "privacy": {
            "differential_privacy": {"used": True, **dp} if dp else {"used": False},
            "membership_inference": membership_audit(
                model_path, manifest_path, enabled=membership, seed=seed
            ),
        },
        "size": model_size(model_path, tflite_path),
        "plots": dict(PLOTS),
        "software": _versions(),
    }
    card["limitations"] = _limitations(card)
    return card


def _validation_operating_points(tflite_path: Path | None, manifest_path: Path) -> dict | None:
    if tflite_path is None:
        return None
    from training.operating_points import split_operating_points

    return split_operating_points(tflite_path, manifest_path, "val")


def _limitations(card: dict) -> list[str]:
    notes = [
        "Detects whether a person is present; it does not identify anyone and must not be used to.",
        (
            "Test figures come from the test split of the same dataset (same source, same "
            "distribution); accuracy on another camera, site or lighting is not measured here."
        ),
    ]
    if card["dataset"]["synthetic"]:
        notes.insert(
            0,
            "Trained and evaluated on synthetic, rendered scenes only: these figures say "
            "little about real doorbell images.",
        )
    if card["dataset"]["same_manifest"] is False:
        notes.append("Evaluated on a different manifest from the one it was trained on.")
    if card["dataset"]["stale"]:
        notes.append("STALE: images of its training data were removed on request; retrain.")
    if not card["privacy"]["differential_privacy"]["used"]:
        notes.append(
            "Trained without differential privacy: no formal bound on what the weights "
            "reveal about individual training images."
        )
    return notes


def write_model_card(
    model_dir: Path,
    manifest_path: Path,
    tflite_path: Path | None = None,
    *,
    membership: bool = True,
    seed: int = 0,
    split: str = "test",
) -> dict:
    """Write model_card.json, MODEL_CARD.md and the PNG plots into ``model_dir``; returns
    the card."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    model_dir = Path(model_dir)
    card = build_card(
        model_dir, manifest_path, tflite_path, membership=membership, seed=seed, split=split
    )
    history_path = model_dir / "training_history.json"
    epochs = json.loads(history_path.read_text()).get("epochs", []) if history_path.exists() else []
    if epochs:
        plot_training_curves(epochs, model_dir / PLOTS["training_curves"])
    else:
        card["plots"].pop("training_curves")
    plot_roc(card["evaluation"], card["privacy"]["membership_inference"], model_dir / PLOTS["roc"])
    plot_confusion(card["evaluation"], model_dir / PLOTS["confusion_matrix"])
    (model_dir / CARD_JSON).write_text(json.dumps(card, indent=1) + "\n")
    (model_dir / CARD_MD).write_text(render_markdown(card))
    return card


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_markdown(card: dict) -> str:
    """MODEL_CARD.md's text."""
    m, d, t, ev = card["model"], card["dataset"], card["training"], card["evaluation"]
    size, privacy = card["size"], card["privacy"]
    out = [f"# Model card: {m['name']}", ""]
    out += [f"- Task: {m['task']}", f"- Architecture: `{m['arch']}` ({m['family']})"]
    out += [
        (
            f"- Input: {m['input']['shape']} {m['input']['colour']}; "
            f"float {m['input']['float']}, int8 {m['input']['int8']}"
        ),
        f"- Outputs: logits {m['outputs']}",
    ]
    for kind, f in m["files"].items():
        if f:
            out.append(f"- {kind}: `{f['path']}`, {f['bytes']:,} bytes, sha256 `{f['sha256']}`")
    out += ["", "## Data", ""]
    out += [
        f"- Dataset: {d['name']} (`{d['manifest'] or 'manifest path not recorded'}`)",
        f"- Manifest sha256: `{d['manifest_sha256']}`",
    ]
    if d["same_manifest"] is False:
        out.append(f"- **Trained on a different manifest:** `{d['trained_on_manifest_sha256']}`")
    if d["stale"]:
        out.append("- **Stale:** a removal request has since changed this data; retrain.")
    counts = d.get("counts") or {}
    if counts:
        out += ["", "| split | person | no_person |", "|---|---|---|"]
        out += [f"| {s} | {c['person']:,} | {c['no_person']:,} |" for s, c in counts.items()]
    out += ["", "## Training", "", f"Recipe: `{t['recipe']}`", ""]
    init = t["hyperparameters"].get("init")
    if isinstance(init, dict):  # train --init (training/pretrained_init.py)
        start = init.get("pretrained") or f"`{init.get('file')}`"
        out += [f"Fine-tuned from {start} (sha256 `{init.get('sha256')}`"
                + (f", licence {init['licence']}" if init.get("licence") else "") + "); "
                + ("; ".join(init.get("adapted") or []) or "used as it is") + ".", ""]  # fmt: skip
    out += ["| hyperparameter | value |", "|---|---|"]
    out += [
        f"| {k} | {v:g} |" if isinstance(v, float) else f"| {k} | {_fmt(v)} |"
        for k, v in t["hyperparameters"].items()
        if k != "init"
    ]
    out += [
        "",
        f"Epochs run: {t['epochs_run']}; training time {_fmt(t['train_seconds'], 1)} s"
        + (f"; resumed at epoch {t['resumed_at_epoch']}" if t["resumed_at_epoch"] else ""),
    ]
    out += ["", f"## Evaluation ({ev['split']} split, {ev['images']:,} images)", ""]
    kinds = [k for k in ("float", "int8") if k in ev]
    out += ["| | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for key, label in (
        ("accuracy", "accuracy"),
        ("roc_auc", "ROC AUC"),
        ("person_recall", "person recall"),
        ("person_precision", "person precision"),
        ("false_positive_rate", "false positive rate"),
    ):
        out.append(f"| {label} | " + " | ".join(_fmt(ev[k][key]) for k in kinds) + " |")
    out += ["", "Confusion matrices (rows: true class; columns: predicted):", ""]
    out += ["| model | true | no_person | person |", "|---|---|---|---|"]
    for k in kinds:
        for name, row in zip(m["outputs"], ev[k]["confusion_matrix"]):
            out.append(f"| {k} | {name} | {row[0]:,} | {row[1]:,} |")
    if "float_int8_agreement" in ev:
        agreement = _fmt(ev["float_int8_agreement"])
        note = "int8 through LiteRT's reference kernels, as on the device"
        out += ["", f"Float/int8 agreement: {agreement} ({note})"]
    op = card.get("operating_points")
    if op:
        out += ["", (f"Operating points ({op['split']} split, {op['negatives']:,} no_person, "
                f"{op['positives']:,} person; score {op['score']}; choose one with "
                "`peekless firmware --target-fpr F --card model_card.json`): "
                f"{len(op['points'])} thresholds in model_card.json")]  # fmt: skip
    out += ["", "## Privacy", ""]
    dp = privacy["differential_privacy"]
    if dp["used"]:
        out.append(
            f"- Differential privacy (DP-SGD): epsilon {_fmt(dp.get('epsilon'), 3)} at delta "
            f"{dp.get('delta')!s}; noise multiplier {dp.get('noise_multiplier')}, L2 clip "
            f"{dp.get('l2_clip')}, sampling rate {dp.get('sampling_rate')}, {dp.get('steps')} "
            f"steps, accountant {dp.get('accountant')}"
        )
    else:
        out.append("- Differential privacy: not used")
    mi = privacy["membership_inference"]
    if mi.get("status") == "run":
        out.append(
            f"- Membership inference (members: {mi.get('members')}, non-members: "
            f"{mi.get('nonmembers')}):"
        )
        for name, a in mi.get("attacks", {}).items():
            out.append(
                f"  - {name} attack: AUC {_fmt(a.get('auc'), 3)}, advantage "
                f"{_fmt(a.get('advantage'), 3)}, TPR at 1 % FPR {_fmt(a.get('tpr_at_1pct_fpr'), 3)}"
            )
    else:
        out.append(f"- Membership inference: not run ({mi.get('reason')})")
    out += ["", "## Size", ""]
    out += [
        f"- Parameters: {size['parameters']:,}",
        f"- .tflite: {_fmt(size['tflite_bytes'])} bytes; .keras: {size['keras_bytes']:,} bytes",
        f"- MACs per inference: {size['macs']:,} ({size['macs_source']})",
    ]
    if size.get("arena_bytes"):
        out.append(
            f"- Compiled: arena {size['arena_bytes']:,} bytes, weights {size['weight_bytes']:,} bytes"
        )
    q = card["quantization"]
    out += [
        "",
        "## Quantization",
        "",
        f"- Quantization-aware training: {q['quantization_aware_training']}",
    ]
    if q["calibration"]:
        c = q["calibration"]
        out.append(
            f"- Calibration: {c.get('count')} images of the {c.get('split')} split, per class "
            f"{c.get('per_class')}, seed {c.get('seed')}"
        )
    out += ["", "## Limitations", ""] + [f"- {note}" for note in card["limitations"]]
    out += ["", "## Plots", ""]
    out += [f"![{name}]({file})" for name, file in card["plots"].items()]
    sw = card["software"]
    out += ["", "---", f"Written {card['created']} by training/model_card.py; "
            + ", ".join(f"{k} {v}" for k, v in sw.items()), ""]  # fmt: skip
    return "\n".join(out)


def export_and_card(
    model_dir: Path, manifest_path: Path, *, seed: int = 0, membership: bool = True
) -> dict:
    """What ``peekless train`` does after training: quantize ``model_dir/model.keras`` to
    ``model_int8.tflite`` (with its calibration record and ``quantize_report.json``), then
    write the model card. Returns {"tflite": path, "quantize_report": dict, "card": dict}."""
    from training.quantize import REPORT_FILE, quantize

    model_dir = Path(model_dir)
    tflite = quantize(
        model_dir / "model.keras", manifest_path, model_dir / "model_int8.tflite", seed=seed
    )
    report = json.loads((tflite.parent / REPORT_FILE).read_text())
    card = write_model_card(model_dir, manifest_path, tflite, membership=membership, seed=seed)
    return {"tflite": tflite, "quantize_report": report, "card": card}
