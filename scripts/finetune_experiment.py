"""Fine-tuning from the MLPerf VWW model vs training from scratch, on synthetic RGB scenes
(the measurements behind the `finetune` recipe; docs/TRAINING.md, "Fine-tuning").

    .venv/bin/python scripts/finetune_experiment.py --out runs/finetune --train 500 --epochs 10

Builds a synthetic RGB dataset with ``--train`` training images (val 100, test 400), then
for each configuration trains with training/train.py and measures float accuracy and ROC
AUC on the test split. Writes results.json and prints a Markdown table. Synthetic scenes
are a pipeline test, not a stand-in for a camera: the figures compare starts and settings,
they do not predict accuracy on real frames.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# (name, init, base recipe, overrides)
CONFIGS = [
    ("scratch, mobilenet_v1, mlperf recipe", None, "mlperf", {}),
    ("scratch, doorbell recipe", None, "doorbell", {}),
    ("init, all weights, lr 1e-3", "mlperf-vww", "finetune", {"learning_rate": 1e-3, "freeze": "none"}),
    ("init, all weights, lr 3e-4", "mlperf-vww", "finetune", {"learning_rate": 3e-4, "freeze": "none"}),
    ("init, all weights, lr 1e-4", "mlperf-vww", "finetune", {"learning_rate": 1e-4, "freeze": "none"}),
    ("init, BatchNorm frozen, lr 3e-4", "mlperf-vww", "finetune", {"learning_rate": 3e-4, "freeze": "bn"}),
    ("init, BatchNorm frozen, lr 1e-3", "mlperf-vww", "finetune", {"learning_rate": 1e-3, "freeze": "bn"}),
    ("init, logits only, lr 1e-3", "mlperf-vww", "finetune", {"learning_rate": 1e-3, "freeze": "backbone"}),
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--train", type=int, default=500, help="training images")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", default=None, help="comma-separated config indices")
    a = p.parse_args(argv)

    from training import recipes
    from training.model_card import roc_auc
    from training.synthetic import build_dataset, load_split
    from training.train import predict_keras, train

    n = a.train + 100 + 400
    manifest = build_dataset(a.out / "data", n=n, seed=21, channels=3,
                             val_fraction=100 / n, test_fraction=400 / n)  # fmt: skip
    x_test, y_test = load_split(manifest, "test")
    results_path = a.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    chosen = [int(i) for i in a.only.split(",")] if a.only else range(len(CONFIGS))
    for i in chosen:
        name, init, base, overrides = CONFIGS[i]
        recipe = replace(recipes.RECIPES[base], name=f"exp{i}", **overrides)
        recipes.RECIPES[recipe.name] = recipe
        run = a.out / f"run{i}"
        t0 = time.perf_counter()
        model = train(manifest, run, epochs=a.epochs, seed=a.seed, recipe=recipe.name, init=init,
                      verbose=False)  # fmt: skip
        seconds = time.perf_counter() - t0
        logits = predict_keras(model, x_test)
        history = json.loads((run / "training_history.json").read_text())
        results[name] = {
            "test_accuracy": float(np.mean(logits.argmax(1) == y_test)),
            "test_roc_auc": roc_auc(y_test, logits[:, 1] - logits[:, 0]),
            "val_accuracy_by_epoch": [round(e.get("val_accuracy", 0.0), 4) for e in history["epochs"]],
            "train_seconds": round(seconds, 1),
            "trainable_params": history["config"].get("trainable_params"),
        }
        print(name, results[name], flush=True)
        results_path.write_text(json.dumps(results, indent=1) + "\n")
    if any(c[1] for c in CONFIGS):  # the start itself, before any step
        from training.pretrained import locate

        logits = predict_keras(locate("mlperf-vww", "float"), x_test)
        results["MLPerf model as published, no training"] = {
            "test_accuracy": float(np.mean(logits.argmax(1) == y_test)),
            "test_roc_auc": roc_auc(y_test, logits[:, 1] - logits[:, 0]),
        }
        results_path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{a.train} training images, {a.epochs} epochs, seed {a.seed}; test split 400 images\n")
    print("| configuration | test accuracy | test ROC AUC | val accuracy by epoch | time |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['test_accuracy']:.3f} | {r['test_roc_auc']:.3f} | "
              f"{r.get('val_accuracy_by_epoch', '')} | {r.get('train_seconds', '')} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
