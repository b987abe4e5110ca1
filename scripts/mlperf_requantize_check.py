"""Our int8 export of the MLPerf VWW float model against MLPerf's own int8 file.

    .venv/bin/python scripts/mlperf_requantize_check.py --out runs/mlperf-requantize

Builds synthetic RGB scenes (``--images``, seed 1), runs `peekless quantize` on
../shared/models/mlperf_vww_96.h5 with the train split as calibration, and compares on the
test split: float vs our int8 (agreement, quantize_report.json), our int8 vs the
reference int8 (same decision, score differences), and each one's accuracy and ROC AUC.
Synthetic scenes are what we calibrate on; accuracy on them says little about real
photographs (the issue's held-out real set is measured elsewhere).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--images", type=int, default=2000)
    a = p.parse_args(argv)

    from host_tools.decision_rule import DecisionRule
    from peekless.cli import main as peekless
    from training.model_card import roc_auc
    from training.preprocess import to_model_input
    from training.pretrained import locate
    from training.reference import litert_reference
    from training.synthetic import build_dataset, load_split
    from training.train import predict_keras

    manifest = build_dataset(a.out / "data", n=a.images, seed=1, channels=3)
    ours = a.out / "mlperf_vww_96_peekless_int8.tflite"
    h5, reference = locate("mlperf-vww", "float"), locate("mlperf-vww", "int8")
    assert peekless(["quantize", str(h5), str(manifest), "--out", str(ours)]) == 0
    x, y = load_split(manifest, "test")
    rule = DecisionRule()
    q_ours = litert_reference(ours, to_model_input(x))
    q_ref = litert_reference(reference, to_model_input(x))
    probs = predict_keras(h5, x)
    d_ours, d_ref = rule.apply(q_ours), rule.apply(q_ref)
    d_float = probs[:, 1] > probs[:, 0]
    s_ours, s_ref = rule.scores(q_ours), rule.scores(q_ref)
    result = {
        "test_images": len(y),
        "accuracy": {"float": float(np.mean(d_float == y)), "ours_int8": float(np.mean(d_ours == y)),
                     "reference_int8": float(np.mean(d_ref == y))},
        "roc_auc": {"float": roc_auc(y, probs[:, 1] - probs[:, 0]), "ours_int8": roc_auc(y, s_ours),
                    "reference_int8": roc_auc(y, s_ref)},
        "agreement": {"float_vs_ours_int8": float(np.mean(d_float == d_ours)),
                      "float_vs_reference_int8": float(np.mean(d_float == d_ref)),
                      "ours_vs_reference_int8": float(np.mean(d_ours == d_ref))},
        "score_difference_ours_minus_reference": {
            "mean_abs": float(np.mean(np.abs(s_ours - s_ref))), "max_abs": int(np.max(np.abs(s_ours - s_ref)))},
        "quantize_report": json.loads((a.out / "quantize_report.json").read_text()),
    }  # fmt: skip
    (a.out / "check.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "quantize_report"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
