"""DP-SGD versus ordinary training, and membership-inference audits, on the demo's data.

Not a test: it takes minutes per stage on 2 CPU cores. Each stage writes its own folder
under --out and a ``result.json`` there; ``report`` collects them into one table.

    P=".venv/bin/python scripts/dp_experiment.py --out runs/dpexp"
    $P data
    $P nondp
    $P overfit
    $P dp --name dp_scratch --target-epsilon 8 --batch-size 512 --epochs 30 \
        --l2-clip 5 --learning-rate 1e-3 --optimizer adam --dp-seed 1
    $P public
    $P dp --name dp_finetune --init-model runs/dpexp/public/model.keras \
        --train-only bn_and_logits --target-epsilon 8 --batch-size 512 --epochs 30 \
        --l2-clip 5 --learning-rate 3e-3 --optimizer adam --dp-seed 1
    $P report
    # the larger private set (N = 18,000), same public model:
    Q=".venv/bin/python scripts/dp_experiment.py --out runs/dpexp20k"
    $Q data --n 24000
    $Q nondp --epochs 10
    $Q dp --name dp_finetune_20ep --init-model runs/dpexp/public/model.keras \
        --target-epsilon 8 --batch-size 512 --epochs 20 --l2-clip 5 --learning-rate 3e-3
    $Q report

``data`` builds the dataset exactly as ``make demo`` does (``build_dataset(n=3000,
seed=0)``; ``--n`` for a larger one); ``nondp`` is ``training.train.train`` with its defaults; ``overfit`` fits the
ordinary model, without augmentation, to the first 300 train images for 100 epochs;
``public`` trains the ordinary model on 400 synthetic scenes of another seed (public data:
no private image among them), which ``dp --init-model`` then fine-tunes with DP-SGD. The
public model's audit uses the private train split as "members": it never saw them, so
that row is a null control. Each model is quantised to int8 (``training.quantize``), its
int8 test accuracy measured with the reference kernels, compiled with
``compiler`` and audited with ``training.membership`` (members: the images it
was trained on; non-members: the test split, as many).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OVERFIT_IMAGES = 300
OVERFIT_EPOCHS = 100
PUBLIC_IMAGES = 400


def _manifest(out: Path) -> Path:
    return out / "data" / "manifest.json"


def _finish(run: Path, model_path: Path, manifest: Path, members, result: dict) -> dict:
    """Quantise, measure, compile and audit one trained model; write run/result.json."""
    from compiler import compile_model
    from training.membership import audit_membership, summary
    from training.quantize import int8_accuracy, quantize
    from training.train import evaluate_keras

    tflite = quantize(model_path, manifest, run / "model_int8.tflite")
    compiled = compile_model(tflite, run / "generated")
    result.update(
        float_test_accuracy=evaluate_keras(model_path, manifest, "test"),
        int8_test_accuracy=int8_accuracy(tflite, manifest, "test"),
        compiled={"macs": compiled.macs, "arena_bytes": compiled.arena_bytes,
                  "weight_bytes": compiled.weight_bytes},
    )  # fmt: skip
    result["mia"] = {}
    for path in (model_path, tflite):
        audit = audit_membership(path, manifest, members=members, nonmembers="test")
        print(summary(audit))
        result["mia"][audit["format"]] = audit
    (run / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"{run.name}: float {result['float_test_accuracy']:.4f}, "
        f"int8 {result['int8_test_accuracy']:.4f}"
    )
    return result


def cmd_data(a) -> None:
    from training.synthetic import build_dataset

    print(build_dataset(a.out / "data", n=a.n, seed=0))


def cmd_nondp(a) -> None:
    from training.train import train

    run = a.out / "nondp"
    started = time.perf_counter()
    model = train(_manifest(a.out), run, **({"epochs": a.epochs} if a.epochs else {}))
    result = {"kind": "non-DP (train() defaults" + (f", {a.epochs} epochs)" if a.epochs else ")"), "wall_seconds": time.perf_counter() - started}
    history = json.loads((run / "training_history.json").read_text())
    result["seconds_per_epoch"] = history["train_seconds"] / len(history["epochs"])
    _finish(run, model, _manifest(a.out), "train", result)


def cmd_dp(a) -> None:
    from training.dp import train_dp

    run = a.out / a.name
    started = time.perf_counter()
    model = train_dp(
        _manifest(a.out), run, epochs=a.epochs, batch_size=a.batch_size, seed=a.seed,
        width=a.width, l2_clip=a.l2_clip, target_epsilon=a.target_epsilon,
        noise_multiplier=a.noise_multiplier, learning_rate=a.learning_rate, dp_seed=a.dp_seed,
        optimizer=a.optimizer, weight_average=a.weight_average or None,
        init_model=a.init_model, train_only=a.train_only,
    )  # fmt: skip
    history = json.loads((run / "training_history.json").read_text())
    result = {
        "kind": "DP-SGD",
        "argv": sys.argv[1:],
        "wall_seconds": time.perf_counter() - started,
        "seconds_per_epoch": history["train_seconds"] / len(history["epochs"]),
        "dp": history["dp"],
    }
    _finish(run, model, _manifest(a.out), "train", result)


def cmd_public(a) -> None:
    """A 'public' model: train() on PUBLIC_IMAGES synthetic scenes of another seed (none
    of them in the private set; train_dp's check_public verifies that)."""
    from training.synthetic import build_dataset
    from training.train import evaluate_keras, train

    public = build_dataset(a.out / "public_data", n=PUBLIC_IMAGES, seed=1)
    model = train(public, a.out / "public")
    result = {
        "kind": f"public-only: train() on {PUBLIC_IMAGES} synthetic scenes of seed 1",
        "private_test_accuracy": evaluate_keras(model, _manifest(a.out), "test"),
    }
    _finish(a.out / "public", model, _manifest(a.out), "train", result)


def cmd_overfit(a) -> None:
    import keras
    import numpy as np

    from training.ingest import load_split
    from training.model import build_model
    from training.preprocess import to_float_input

    run = a.out / "overfit"
    run.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(a.out)
    images, labels = load_split(manifest, "train")
    images, labels = images[:OVERFIT_IMAGES], labels[:OVERFIT_IMAGES]
    keras.utils.set_random_seed(0)
    model = build_model(input_shape=images.shape[1:], width=0.25, seed=0)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    model.fit(to_float_input(images), labels, batch_size=32, epochs=OVERFIT_EPOCHS, verbose=2)
    model_path = run / "model.keras"
    model.save(model_path)
    result = {
        "kind": f"overfitted: first {OVERFIT_IMAGES} train images, {OVERFIT_EPOCHS} epochs, "
        "no augmentation",
        "wall_seconds": time.perf_counter() - started,
    }
    _finish(run, model_path, manifest, (images, np.asarray(labels)), result)


def cmd_report(a) -> None:
    rows = []
    for path in sorted(a.out.glob("*/result.json")):
        r = json.loads(path.read_text())
        dp = r.get("dp")
        row = [
            path.parent.name,
            f"{r['float_test_accuracy']:.4f}",
            f"{r['int8_test_accuracy']:.4f}",
            f"{dp['epsilon']:.2f}" if dp else "inf",
            f"{dp['noise_multiplier']:.3f}" if dp else "-",
            f"{r['seconds_per_epoch']:.1f}" if "seconds_per_epoch" in r else "-",
        ]
        for fmt in ("keras float", "int8 tflite"):
            for attack in ("loss", "confidence"):
                m = r["mia"][fmt]["attacks"][attack]
                row.append(f"{m['auc']:.3f}/{m['advantage']:.3f}/{m['tpr_at_1pct_fpr']:.3f}")
        rows.append(row)
    head = ["run", "float acc", "int8 acc", "epsilon", "noise", "s/epoch",
            "MIA float loss", "MIA float conf", "MIA int8 loss", "MIA int8 conf"]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\nMIA cells: AUC / advantage max(TPR-FPR) / TPR at 1% FPR")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/dpexp"))
    sub = p.add_subparsers(dest="cmd", required=True)
    data = sub.add_parser("data")
    data.set_defaults(func=cmd_data)
    data.add_argument("--n", type=int, default=3000, help="scenes (the demo's: 3000)")
    nondp = sub.add_parser("nondp")
    nondp.set_defaults(func=cmd_nondp)
    nondp.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    sub.add_parser("overfit").set_defaults(func=cmd_overfit)
    sub.add_parser("public").set_defaults(func=cmd_public)
    sub.add_parser("report").set_defaults(func=cmd_report)
    d = sub.add_parser("dp")
    d.set_defaults(func=cmd_dp)
    d.add_argument("--name", default="dp")
    d.add_argument("--epochs", type=int, default=30)
    d.add_argument("--batch-size", type=int, default=512)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--width", type=float, default=0.25)
    d.add_argument("--l2-clip", type=float, default=1.0)
    d.add_argument("--learning-rate", type=float, default=4e-3)
    d.add_argument("--dp-seed", type=int, default=None)
    d.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    d.add_argument("--weight-average", type=float, default=0.99, help="0: none")
    d.add_argument("--init-model", type=Path, help="e.g. OUT/public/model.keras")
    d.add_argument("--train-only", choices=("all", "bn_and_logits"), default="all")
    g = d.add_mutually_exclusive_group(required=True)
    g.add_argument("--target-epsilon", type=float)
    g.add_argument("--noise-multiplier", type=float)
    a = p.parse_args(argv)
    a.func(a)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
