"""`peekless train | quantize | compile`: one stage each, files in, files out."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a person detector from a dataset manifest")
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for model.keras and logs")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_train)

    p = subparsers.add_parser("quantize", help="full-int8 .tflite from a trained Keras model")
    p.add_argument("model", type=Path)
    p.add_argument("manifest", type=Path, help="dataset manifest (calibration images)")
    p.add_argument("--out", type=Path, required=True, help="the .tflite to write")
    p.set_defaults(func=_quantize)

    p = subparsers.add_parser("compile", help="compile an int8 .tflite to C with a memory plan")
    p.add_argument("tflite", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for the generated C")
    p.set_defaults(func=_compile)


def _train(args) -> int:
    from training.train import train

    kw = {"seed": args.seed} | ({"epochs": args.epochs} if args.epochs else {})
    print(train(args.manifest, args.out, **kw))
    return 0


def _quantize(args) -> int:
    from training.quantize import quantize

    print(quantize(args.model, args.manifest, args.out))
    return 0


def _compile(args) -> int:
    from training.compiler import UnsupportedModelError, compile_model

    try:
        result = compile_model(args.tflite, args.out)
    except UnsupportedModelError as exc:
        print(f"peekless compile: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in result.to_json().items() if k != "layers"}))
    return 0
