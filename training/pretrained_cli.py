"""`peekless models [list | fetch NAME | card NAME]`: the pretrained models Peekless knows,
where each file is found, and their model cards (training/pretrained.py)."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models",
        help="pretrained models: list them, fetch a verified copy, write a model card",
        description="Without an action: list every known pretrained model, its licence, and "
        "where each file is found (cache, shared folder) or where it would be downloaded from.",
    )
    p.set_defaults(func=_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="the table (the default)").set_defaults(func=_list)
    f = actions.add_parser("fetch", help="put verified copies of a model's files in the cache")
    f.add_argument("name")
    f.add_argument("--kind", choices=("float", "int8"), default=None, help="default: both")
    f.add_argument("--url", default=None,
                   help="download from this URL instead (file:// works); needs --kind")  # fmt: skip
    f.set_defaults(func=_fetch)
    c = actions.add_parser("card", help="write model_card.json and MODEL_CARD.md for a model")
    c.add_argument("name")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--manifest", type=Path, default=None,
                   help="also evaluate it on this dataset's test split (val: operating points)")
    c.set_defaults(func=_card)


def _list(args) -> int:
    from training.pretrained import MODELS, cache_dir, find

    print(f"cache: {cache_dir()}")
    for model in MODELS.values():
        print(f"\n{model.name}: {model.description}")
        print(f"  licence: {model.licence}")
        print(f"  source:  {model.source}")
        print(f"  input:   {'x'.join(map(str, model.input_shape))} {model.colour}; outputs "
              f"{model.output_activation} over {', '.join(model.outputs)}")  # fmt: skip
        for a in model.artefacts:
            found = find(a)
            where = f"{found.where}: {found.path}" if found.path else f"not here (fetch: {a.url})"
            print(f"  {a.kind:5s}  {a.filename}  {a.bytes:,} B  sha256 {a.sha256}")
            print(f"         {where}")
            for bad in found.rejected:
                print(f"         refused {bad}")
    return 0


def _fetch(args) -> int:
    from peekless.errors import UserError
    from training.pretrained import fetch, get_model

    model = get_model(args.name)
    if args.url and not args.kind:
        raise UserError("--url is one file's address", "say which with --kind float|int8")
    kinds = [args.kind] if args.kind else [a.kind for a in model.artefacts]
    for kind in kinds:
        print(f"{model.name} ({kind}): {fetch(model.name, kind, args.url)} (sha256 verified)")
    return 0


def _card(args) -> int:
    from training.model_card import CARD_JSON, CARD_MD
    from training.pretrained_card import write_pretrained_card

    card = write_pretrained_card(args.name, args.out, args.manifest)
    ev = card.get("evaluation")
    if ev:
        for kind in ("float", "int8"):
            print(f"{kind}: accuracy {ev[kind]['accuracy']:.4f}, ROC AUC {ev[kind]['roc_auc']:.4f}")
    print(f"wrote {args.out / CARD_JSON} and {args.out / CARD_MD}")
    return 0
