"""`peekless train | quantize | compile | model-card | membership-audit`: one stage each,
files in, files out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from training.model import ARCHITECTURES
from training.recipes import RECIPES

DP_DEFAULT_L2_CLIP = 1.0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a person detector from a dataset manifest, export int8, write a model card",
        description="Train on the manifest's train split (validating on val), then quantize "
        "to OUT/model_int8.tflite (with quantize_report.json) and write OUT/model_card.json and "
        "OUT/MODEL_CARD.md, unless --no-export. Checkpoints go to OUT/checkpoints every "
        "epoch, TensorBoard logs to OUT/tensorboard.",
    )
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for model.keras and logs")
    p.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default=None,
        help="training recipe (default doorbell; mlperf: MLPerf Tiny VWW)",
    )
    p.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        default=None,
        help="architecture (default: the recipe's)",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="NAME|MODEL",
        help="fine-tune from a pretrained model: a name from `peekless models` (mlperf-vww) "
        "or a .keras / .h5 file; gray datasets get its first layer summed over RGB; default "
        "recipe finetune; with --dp, DP fine-tuning from the same start",
    )
    p.add_argument("--width", type=float, default=0.25, help="channel multiplier")
    p.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="default: the recipe's (global batch size when multi-worker)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--resume", action="store_true", help="continue from OUT/checkpoints (same configuration)"
    )
    p.add_argument(
        "--no-export", action="store_true", help="only train: no int8 export, no model card"
    )
    p.add_argument(
        "--no-membership",
        action="store_true",
        help="leave the membership-inference audit out of the model card",
    )
    p.add_argument(
        "--workers-config",
        type=Path,
        default=None,
        help="TF_CONFIG JSON file of a multi-worker run (default: the TF_CONFIG variable, if set)",
    )
    dp = p.add_argument_group("differential privacy (DP-SGD, training/dp.py)")
    dp.add_argument("--dp", action="store_true", help="train with DP-SGD")
    dp.add_argument("--noise-multiplier", type=float, default=None)
    dp.add_argument(
        "--target-epsilon",
        type=float,
        default=None,
        help="pick the noise multiplier that reaches this epsilon",
    )
    dp.add_argument(
        "--l2-clip",
        type=float,
        default=DP_DEFAULT_L2_CLIP,
        help="per-example gradient clipping norm",
    )
    dp.add_argument("--delta", type=float, default=None, help="default: training/dp.py's")
    dp.add_argument(
        "--init-model",
        type=Path,
        default=None,
        help="fine-tune this .keras model, trained on public data only (refused if it saw "
        "any image of MANIFEST); BatchNormalization statistics stay frozen",
    )
    dp.add_argument(
        "--train-only",
        choices=("all", "bn_and_logits"),
        default="all",
        help="with --init-model: train every weight, or only BatchNorm gamma/beta and logits",
    )
    dp.add_argument("--learning-rate", type=float, default=None, help="DP-SGD peak learning rate")
    p.set_defaults(func=_train)  # fmt: skip

    p = subparsers.add_parser("quantize", help="full-int8 .tflite from a trained Keras model")
    p.add_argument("model", type=Path)
    p.add_argument("manifest", type=Path, help="dataset manifest (calibration images)")
    p.add_argument("--out", type=Path, required=True, help="the .tflite to write")
    p.add_argument("--seed", type=int, default=0, help="calibration subset seed")
    p.set_defaults(func=_quantize)

    p = subparsers.add_parser("compile", help="compile an int8 .tflite to C with a memory plan")
    p.add_argument("tflite", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for the generated C")
    p.add_argument("--no-fuse", action="store_true",
                   help="run every layer whole, no fused row bands (more memory)")
    p.set_defaults(func=_compile)

    p = subparsers.add_parser(
        "model-card", help="write model_card.json and MODEL_CARD.md for a trained model"
    )
    p.add_argument("model_dir", type=Path, help="folder with model.keras (and its history)")
    p.add_argument("--manifest", type=Path, required=True, help="dataset manifest (test split)")
    p.add_argument(
        "--tflite",
        type=Path,
        default=None,
        help="int8 model (default MODEL_DIR/model_int8.tflite if present)",
    )
    p.add_argument("--no-membership", action="store_true", help="skip the membership audit")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_model_card)  # fmt: skip

    p = subparsers.add_parser(
        "membership-audit",
        help="membership-inference attacks on a trained model (train vs test images)",
    )
    p.add_argument("model", type=Path, help="model.keras, or the folder holding it")
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--members", default="train", help="split the model was trained on")
    p.add_argument("--nonmembers", default="test", help="split it never saw")
    p.add_argument("--max-examples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write the full result as JSON")
    p.set_defaults(func=_membership_audit)


def _train(args) -> int:
    from peekless.errors import UserError

    if args.init and (args.init_model or args.arch):
        raise UserError("--init sets the starting model", "leave out --init-model and --arch")
    tf_config_source = args.workers_config or (os.environ.get("TF_CONFIG") or None)
    if not args.dp and (args.init_model or args.learning_rate is not None):
        print("peekless train: --init-model and --learning-rate belong to --dp "
              "(the recipe sets the ordinary run's schedule)", file=sys.stderr)  # fmt: skip
        return 2
    if args.dp:
        clash = [
            flag
            for flag, on in (
                ("--recipe", args.recipe),
                ("--arch", args.arch),
                ("--resume", args.resume),
                ("--workers-config/TF_CONFIG", tf_config_source),
            )
            if on
        ]
        if clash:
            print(f"peekless train: --dp trains with training/dp.py's own loop; "
                  f"{', '.join(clash)} do not apply", file=sys.stderr)  # fmt: skip
            return 2
        model_path = _train_dp(args)
        chief = True
    elif tf_config_source:
        from training.distributed import is_chief, load_tf_config, train_distributed

        config = load_tf_config(args.workers_config)  # None: read the TF_CONFIG variable
        chief = is_chief(config)
        model_path = train_distributed(
            args.manifest, args.out, tf_config=config, resume=args.resume,
            **_train_kwargs(args),
        )  # fmt: skip
    else:
        from training.train import train

        model_path = train(args.manifest, args.out, resume=args.resume, **_train_kwargs(args))
        chief = True
    if not chief:
        print("worker done (the chief writes the model and the card)")
        return 0
    print(f"model: {model_path}")
    if args.no_export:
        return 0
    from training.model_card import CARD_MD, export_and_card
    from training.quantize import format_report

    result = export_and_card(
        args.out, args.manifest, seed=args.seed, membership=not args.no_membership
    )
    print(f"tflite: {result['tflite']}")
    print(format_report(result["quantize_report"]))
    print(f"model card: {Path(args.out) / CARD_MD}")
    return 0


def _train_kwargs(args) -> dict:
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "width": args.width,
        "recipe": args.recipe or ("finetune" if args.init else "doorbell"),
        "arch": args.arch,
        **({"init": args.init} if args.init else {}),
    }


def _train_dp(args) -> Path:
    from training.dp import train_dp  # training/dp.py: DP-SGD with a privacy accountant

    given = {  # None: train_dp's defaults
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
    }
    return train_dp(
        args.manifest,
        args.out,
        **{k: v for k, v in given.items() if v is not None},
        seed=args.seed,
        width=args.width,
        l2_clip=args.l2_clip,
        noise_multiplier=args.noise_multiplier,
        target_epsilon=args.target_epsilon,
        delta=args.delta,
        init_model=args.init_model,
        train_only=args.train_only,
        **({"init": args.init} if args.init else {}),  # as _train_kwargs
    )


def _quantize(args) -> int:
    from training.quantize import REPORT_FILE, format_report, quantize

    out = quantize(args.model, args.manifest, args.out, seed=args.seed)
    print(out)
    print(format_report(json.loads((out.parent / REPORT_FILE).read_text())))
    return 0


def _compile(args) -> int:
    from compiler import compile_model

    # A model the compiler cannot take raises UnsupportedModelError, a UserError: one line.
    result = compile_model(args.tflite, args.out, fuse=not args.no_fuse)
    print(json.dumps({k: v for k, v in result.to_json().items() if k != "layers"}))
    return 0


def _model_card(args) -> int:
    from training.model_card import CARD_JSON, CARD_MD, write_model_card

    card = write_model_card(
        args.model_dir, args.manifest, args.tflite, membership=not args.no_membership,
        seed=args.seed,
    )  # fmt: skip
    ev = card["evaluation"]
    for kind in ("float", "int8"):
        if kind in ev:
            print(f"{kind}: accuracy {ev[kind]['accuracy']:.4f}, ROC AUC {ev[kind]['roc_auc']:.4f}")
    if "float_int8_agreement" in ev:
        print(f"float/int8 agreement: {ev['float_int8_agreement']:.4f}")
    print(f"membership audit: {card['privacy']['membership_inference']['status']}")
    print(f"wrote {args.model_dir / CARD_JSON} and {args.model_dir / CARD_MD}")
    return 0


def _membership_audit(args) -> int:
    from training.membership import audit_membership

    model = args.model / "model.keras" if args.model.is_dir() else args.model
    result = audit_membership(
        model, args.manifest, members=args.members, nonmembers=args.nonmembers,
        max_examples=args.max_examples, seed=args.seed,
    )  # fmt: skip
    for name, attack in result.get("attacks", {}).items():
        print(
            f"{name}: AUC {attack['auc']:.4f}  advantage {attack['advantage']:.4f}  "
            f"TPR at 1% FPR {attack['tpr_at_1pct_fpr']:.4f}"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one of this room's subcommands without the rest of `peekless`."""
    parser = argparse.ArgumentParser(prog="python -m training.cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
