"""`peekless evaluate`'s figures and files: report.json, REPORT.md and roc.png.

Figures are those of the decision rule as the device applies it (host_tools/
decision_rule.py) on LiteRT's reference outputs: accuracy, person recall, precision,
false-positive rate and the confusion matrix; ROC AUC of the int8 score; a threshold
table at person probabilities 0.1 .. 0.9; and the full operating points, so that the
report can itself be the ``--card`` of `peekless firmware --target-fpr`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.model_card import decision_metrics

REPORT_JSON = "report.json"
REPORT_MD = "REPORT.md"
ROC_PNG = "roc.png"
SCHEMA = "peekless-evaluation/1"
TABLE_PROBABILITIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def threshold_table(labels: np.ndarray, scores: np.ndarray, facts: dict) -> list[dict]:
    """One row per person probability of TABLE_PROBABILITIES (plain threshold, no debounce)."""
    from host_tools.decision_rule import threshold_for_probability

    rows = []
    for p in TABLE_PROBABILITIES:
        t = threshold_for_probability(p, facts["output_scale"], facts["softmax"])
        rows.append({"probability": p, "score_threshold": t,
                     **decision_metrics(labels, scores >= t)})  # fmt: skip
    return rows


def build_report(*, labels: np.ndarray, outputs: np.ndarray, rule, facts: dict, data: dict,
                 model: dict, device: dict | None) -> dict:  # fmt: skip
    from host_tools.decision_rule import SCORE
    from training.model_card import roc_auc
    from training.operating_points import operating_points_block

    scores = rule.scores(outputs)
    both = len(set(np.asarray(labels).tolist())) == 2
    return {
        "schema": SCHEMA,
        "model": model,
        "dataset": data,
        "decision_rule": rule.to_manifest() | {"describe": rule.describe()},
        "reference": "LiteRT BUILTIN_REF (reference kernels): the outputs the device must reproduce",
        "score": SCORE,
        "metrics": decision_metrics(labels, rule.apply(outputs)),
        "roc_auc": roc_auc(labels, scores) if both else None,
        "threshold_table": threshold_table(labels, scores, facts),
        "operating_points": operating_points_block(facts, labels, outputs, data.get("split", "all"),
                                                   rule.person_index) if both else None,
        "device": device,
    }


def plot_roc(report: dict, path: Path) -> Path | None:
    from training.model_card import _pyplot

    op = report.get("operating_points")
    if not op:
        return None
    plt = _pyplot()
    pts = np.array(op["points"], dtype=float)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot(pts[:, 1], pts[:, 2], label=f"int8 score (AUC {report['roc_auc']:.3f})")
    m = report["metrics"]
    if m["false_positive_rate"] is not None and m["person_recall"] is not None:
        ax.plot([m["false_positive_rate"]], [m["person_recall"]], "o",
                label=f"rule: {report['decision_rule']['kind']}")  # fmt: skip
    ax.plot([0, 1], [0, 1], ls=":", color="gray")
    ax.set(title="person detection", xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _f(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_markdown(report: dict) -> str:
    m, d, model = report["metrics"], report["dataset"], report["model"]
    out = ["# Evaluation", "",
           f"- Model: {model.get('name') or 'int8 .tflite'}, sha256 `{model['tflite_sha256']}`",
           f"- Data: {d['kind']}" + (f" `{d.get('name')}`, {d['split']} split" if d.get("split") else "")
           + f"; {d['frames']:,} frames ({d['per_class']['person']:,} person, "
           f"{d['per_class']['no_person']:,} no_person)",
           f"- Decision rule: {report['decision_rule']['describe']}",
           f"- Reference: {report['reference']}", ""]  # fmt: skip
    if d.get("skipped"):
        out.insert(-1, "- Skipped inputs: " + ", ".join(f"{n} {k}" for k, n in d["skipped"].items()))
    out += ["| accuracy | person recall | precision | false-positive rate | ROC AUC |",
            "|---|---|---|---|---|",
            (f"| {_f(m['accuracy'])} | {_f(m['person_recall'])} | {_f(m['person_precision'])} | "
            f"{_f(m['false_positive_rate'])} | {_f(report['roc_auc'])} |"), ""]  # fmt: skip
    (tn, fp), (fn, tp) = m["confusion_matrix"]
    out += ["Confusion (rows: true class):", "", "| | predicted no_person | predicted person |",
            "|---|---|---|", f"| no_person | {tn:,} | {fp:,} |", f"| person | {fn:,} | {tp:,} |",
            "", "## Thresholds (plain threshold, no debounce)", "",
            "| person probability | score >= | accuracy | recall | false-positive rate |",
            "|---|---|---|---|---|"]  # fmt: skip
    for r in report["threshold_table"]:
        out.append(f"| {r['probability']:.1f} | {r['score_threshold']} | {_f(r['accuracy'])} | "
                   f"{_f(r['person_recall'])} | {_f(r['false_positive_rate'])} |")  # fmt: skip
    dev = report.get("device")
    if dev:
        verdict = "every decision equals the host reference" if dev["mismatches"] == 0 else (
            f"**{dev['mismatches']} decisions differ from the host reference**")
        out += ["", f"## Device ({dev['board']}, emulated)", "",
                f"- {dev['frames']:,} frames in {dev['boots']} boots: {verdict}",
                (f"- HELLO states the build manifest (rule included): "
                f"{'yes' if dev['hello_states_the_manifest'] else '**no**'}")]  # fmt: skip
        if dev.get("instructions_per_inference"):
            i = dev["instructions_per_inference"]
            out.append(f"- Instructions per inference: {i['mean']:,.0f} (min {i['min']:,}, max "
                       f"{i['max']:,}); {dev['instruction_note']}")  # fmt: skip
        out += [f"- {p}" for p in dev["problems"]]
    out += ["", f"![ROC]({ROC_PNG})", ""]
    return "\n".join(out)


def write_report(report: dict, out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=1) + "\n")
    plot_roc(report, out_dir / ROC_PNG)
    (out_dir / REPORT_MD).write_text(render_markdown(report))
    return out_dir / REPORT_JSON
