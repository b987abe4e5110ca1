"""`peekless evaluate MODEL DATASET [--board B]`: how an int8 model decides on labelled
frames, on LiteRT's reference kernels and, with ``--board``, on the emulated device with
every decision compared to the host.

MODEL: an int8 ``.tflite`` or a pretrained model's name (``mlperf-vww``, its int8 file).
DATASET: a dataset manifest (``--split``, default test) or a folder with ``person/`` and
``no_person/`` (scrubbed in memory, peekless/evaluate_data.py). The decision rule is the
firmware's (default argmax; ``--threshold``, ``--target-fpr --card``, ``--k-of-n``,
``--hysteresis-low`` as for `peekless firmware`). Writes OUT/report.json, OUT/REPORT.md and
OUT/roc.png (peekless/evaluate_report.py) and nothing else; the report names no input file.
"""

from __future__ import annotations

import sys
from pathlib import Path

BOARDS = ("an386", "an500", "an547")


def register(subparsers) -> None:
    from host_tools.rule_choice import add_rule_options

    p = subparsers.add_parser(
        "evaluate",
        help="accuracy, recall, false positives, ROC of an int8 model on labelled frames "
        "(LiteRT, and the emulated device with --board)",
        description=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("model", help="int8 .tflite, or a name from `peekless models`")
    p.add_argument("dataset", type=Path, help="manifest.json, or a folder with person/ and no_person/")
    p.add_argument("--out", type=Path, required=True, help="folder for the report")
    p.add_argument("--split", default="test", help="manifest split (default test)")
    p.add_argument("--limit", type=int, default=None, help="only the first N frames")
    p.add_argument("--board", choices=BOARDS, default=None,
                   help="also run every frame on this emulated board and compare")  # fmt: skip
    p.add_argument("--boot-frames", type=int, default=None,
                   help="frames per device boot (default 250, or what the bank window holds)")
    add_rule_options(p)
    p.set_defaults(func=_evaluate)


def resolve_model(spec: str) -> tuple[Path, str | None]:
    """(the .tflite path, the registry name or None)."""
    from peekless.errors import UserError
    from training.pretrained import MODELS, locate

    if spec in MODELS:
        return locate(spec, "int8"), spec
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"{spec}: neither a .tflite file nor a known model",
                        "give an int8 .tflite or a name from `peekless models`")  # fmt: skip
    return path, None


def _evaluate(args) -> int:
    from tqdm import tqdm

    from host_tools.rule_choice import choose_rule
    from peekless.errors import UserError
    from peekless.evaluate_data import load_eval_data
    from peekless.evaluate_report import REPORT_MD, _f, build_report, write_report
    from training.operating_points import int8_output_facts
    from training.preprocess import to_model_input
    from training.quantize import check_int8_interface, litert_predict

    tflite, name = resolve_model(args.model)
    try:
        input_shape = check_int8_interface(tflite)
    except ValueError as exc:  # QuantizationError is one, and so is LiteRT's "not a model"
        raise UserError(f"{tflite.name}: not a Peekless int8 model ({exc})") from None
    facts = int8_output_facts(tflite)
    if args.tflite is None:
        args.tflite = tflite  # --threshold P reads the output quantization from the model
    rule = choose_rule(args, model_sha256=facts["tflite_sha256"])
    data = load_eval_data(args.dataset, input_shape, args.split, args.limit)

    outputs = litert_predict(tflite, to_model_input(data.images),
                             lambda rows: tqdm(rows, desc="LiteRT (reference kernels)",
                                               unit="frame", file=sys.stderr))  # fmt: skip

    device = None
    if args.board:
        from host_tools.device_eval import DEFAULT_BOOT_FRAMES, device_decisions

        result = device_decisions(tflite, data.images, outputs, rule, args.board,
                                  args.boot_frames or DEFAULT_BOOT_FRAMES)  # fmt: skip
        device = result.to_json()
    model = {"name": name, "tflite_sha256": facts["tflite_sha256"],
             "input_shape": list(input_shape), "output_scale": facts["output_scale"],
             "softmax": facts["softmax"]}  # fmt: skip
    report = build_report(labels=data.labels, outputs=outputs, rule=rule, facts=facts,
                          data=data.description, model=model, device=device)  # fmt: skip
    path = write_report(report, args.out)
    m = report["metrics"]
    print(f"{len(data.labels)} frames: accuracy {m['accuracy']:.4f}, person recall "
          f"{_f(m['person_recall'])}, false-positive rate {_f(m['false_positive_rate'])}, "
          f"ROC AUC {_f(report['roc_auc'])} ({rule.describe()})")  # fmt: skip
    if device:
        print(f"device {args.board}: {device['frames'] - device['mismatches']} of "
              f"{device['frames']} decisions equal the host reference")  # fmt: skip
    print(f"wrote {path} and {args.out / REPORT_MD}")
    ok = device is None or (device["mismatches"] == 0 and not device["problems"])
    return 0 if ok else 1
