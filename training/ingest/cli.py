"""`peekless dataset ...`: thin wrappers over the public functions of training.ingest.

    peekless dataset build coco --annotations instances_train2014.json \
        --annotations instances_val2014.json --images coco/ --rule vww
    peekless dataset build folders my_photos/ --licence "own photos" --consent "..."
    peekless dataset build synthetic --n 2000 --seed 0
    peekless dataset forget datasets/build/coco-vww --sha256 <hex> | --contributor NAME
    peekless dataset card datasets/build/coco-vww
    peekless dataset verify datasets/build/coco-vww

Mistakes the user can fix raise ``peekless.errors.UserError`` (one line, exit 2). Skipped
inputs are listed on stderr with their paths; the files written never hold a path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BUILD_ROOT = Path("datasets/build")
FORGET_HELP = """Remove images on request and flag models trained on them as stale.

--image matches by picture content: the copy is decoded, rotated by its EXIF orientation
and converted the way the build does, so any lossless copy matches (the same pixels
re-saved as PNG, with other metadata or none). A lossy copy (re-compressed, resized, a
screenshot) has other pixels: nothing matches exactly, and forget lists how many images
are near it (mean difference of at most 3 levels of 255 at the dataset's size). Add
--near to remove those too: near-identical frames of one scene are that close as well,
so check the count first. The removal record keeps counts and manifest hashes only."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _nonblank(value: str) -> str:
    """An argparse type: text that is not blank (a blank licence is no licence); argparse
    names the option in its message ("argument --licence: must not be blank")."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be blank")
    return value.strip()


def _dataset_name(value: str) -> str:
    value = _nonblank(value)
    if "/" in value or "\\" in value or value in (".", ".."):
        raise argparse.ArgumentTypeError(f"{value!r}: a name, not a path (use --out for that)")
    return value


def _add_image_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=96, help="output side in pixels (default 96)")
    p.add_argument("--color", choices=("gray", "rgb"), default="gray", help="default gray")
    p.add_argument("--out", type=Path, help="output folder (default datasets/build/<name>)")


def _add_build_options(p: argparse.ArgumentParser) -> None:
    _add_image_options(p)
    p.add_argument("--val", type=float, default=0.1, help="validation fraction (default 0.1)")
    p.add_argument("--test", type=float, default=0.1, help="test fraction (default 0.1)")
    p.add_argument("--workers", type=int, default=0, help="decode threads (default: CPU cores)")


def _opts(a: argparse.Namespace):
    from training.ingest.build import BuildOptions

    channels = 1 if a.color == "gray" else 3
    return BuildOptions(a.size, channels, a.val, a.test, a.workers)


def _finish(manifest: Path) -> int:
    from training.ingest.manifest import manifest_sha256
    from training.ingest.report import load_report

    report = load_report(manifest.parent / "report.json")
    if report:
        print(f"built {report['built']} of {report['considered']} inputs")
        for reason, n in report["skipped_by_reason"].items():
            print(f"  skipped {n:6d} {reason}")
    print(f"manifest {manifest}  sha256 {manifest_sha256(manifest)}")
    print(f"card     {manifest.parent / 'DATASET_CARD.md'}")
    return 0


def _build_coco(a: argparse.Namespace) -> int:
    from training.ingest.coco import build_coco

    out = a.out or BUILD_ROOT / f"coco-{a.rule}"
    return _finish(
        build_coco(a.annotations, a.images, out, a.rule, _opts(a), a.limit, echo=_stderr)
    )


def _build_folders(a: argparse.Namespace) -> int:
    from training.ingest.folders import build_folders

    out = a.out or BUILD_ROOT / a.name
    manifest = build_folders(
        a.root, out, a.licence, a.consent, a.contributor, a.name, _opts(a),
        follow_symlinks=a.follow_symlinks, echo=_stderr,
    )  # fmt: skip
    return _finish(manifest)


def _build_synthetic(a: argparse.Namespace) -> int:
    from peekless.errors import UserError
    from training.ingest.card import write_card
    from training.synthetic import build_dataset

    if a.size < 32 or a.n < 2:
        raise UserError(f"--size {a.size} --n {a.n}: synthetic scenes need --size 32 or more "
                        "and --n 2 or more")  # fmt: skip
    out = a.out or BUILD_ROOT / "synthetic-doorbell"
    manifest = build_dataset(out, a.n, a.seed, a.size, 1 if a.color == "gray" else 3)
    write_card(out)
    return _finish(manifest)


def _forget(a: argparse.Namespace) -> int:
    from training.ingest.forget import forget, read_copy

    copies = []
    for path in a.image or ():
        copy = read_copy(path, a.dataset)
        if copy.problem:
            _stderr(f"{path}: {copy.problem}; matching its file bytes only")
        copies.append(copy)
    result = forget(
        a.dataset, contributor=a.contributor, sha256=set(a.sha256 or ()),
        source_id=a.source_id, copies=copies, near=a.near,
    )  # fmt: skip
    if result.near and not a.near:
        _stderr(
            f"{result.near} image(s) are near the --image copy (mean difference from "
            f"{result.nearest:.2f} levels): a lossy copy? add --near to remove them too"
        )
    if result.removed == 0:
        _stderr("nothing matched; the dataset is unchanged")
        return 1
    print(f"removed {result.removed} image(s)")
    print(f"manifest sha256 {result.old_manifest_sha256} -> {result.new_manifest_sha256}")
    print("models trained on the old manifest are now listed in stale_models.json")
    return 0


def _card(a: argparse.Namespace) -> int:
    from training.ingest.card import write_card

    print(write_card(a.dataset))
    return 0


def _verify(a: argparse.Namespace) -> int:
    from training.ingest.verify import verify_dataset

    problems = verify_dataset(a.dataset)
    for p in problems:
        print(p, file=sys.stderr)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dataset` command and its subcommands to the `peekless` parser."""
    ds = subparsers.add_parser("dataset", help="build, inspect and prune training datasets")
    sub = ds.add_subparsers(dest="dataset_command", required=True)

    build = sub.add_parser("build", help="build a dataset").add_subparsers(
        dest="source", required=True
    )
    p = build.add_parser("coco", help="Visual Wake Words from COCO instances annotations")
    p.add_argument(
        "--annotations",
        type=Path,
        action="append",
        required=True,
        help="instances_*.json (repeat for train and val)",
    )
    p.add_argument(
        "--images",
        type=Path,
        action="append",
        required=True,
        help="folder with the images, or with train2014/ and val2014/ (repeatable)",
    )
    p.add_argument("--rule", choices=("vww", "mlperf", "vww-tfslim"), default="vww")
    p.add_argument("--limit", type=int, help="only the first N images, for a trial build")
    _add_build_options(p)
    p.set_defaults(func=_build_coco)

    p = build.add_parser("folders", help="your own ROOT/person and ROOT/no_person folders")
    p.add_argument("root", type=Path)
    p.add_argument(
        "--licence",
        required=True,
        type=_nonblank,
        help="licence the images are used under",
    )
    p.add_argument(
        "--consent",
        required=True,
        type=_nonblank,
        help="how the people shown gave consent",
    )
    p.add_argument(
        "--contributor",
        type=_nonblank,
        help="contributor of files directly in person/, no_person/",
    )
    p.add_argument(
        "--name", default="folders", type=_dataset_name, help="dataset name (default folders)"
    )
    p.add_argument(
        "--follow-symlinks", action="store_true",
        help="build files that links lead to outside ROOT (refused and listed otherwise)",
    )  # fmt: skip
    _add_build_options(p)
    p.set_defaults(func=_build_folders)

    p = build.add_parser("synthetic", help="synthetic doorbell scenes (tests and demo only)")
    p.add_argument("--n", type=int, default=2000, help="number of scenes (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    _add_image_options(p)
    p.set_defaults(func=_build_synthetic)

    p = sub.add_parser(
        "forget", help="remove images on request; flags models as stale",
        description=FORGET_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("dataset", type=Path, help="built dataset folder (holds manifest.json)")
    p.add_argument("--contributor", type=_nonblank, help="every image of this contributor")
    p.add_argument(
        "--sha256", action="append",
        help="image by sha256 of its content, scrubbed pixels or file (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--image", type=Path, action="append",
        help="image by a copy of it: any lossless copy matches (repeatable; see above)",
    )  # fmt: skip
    p.add_argument(
        "--near", action="store_true",
        help="also remove images near an --image copy (for a lossy copy; see above)",
    )  # fmt: skip
    p.add_argument("--source-id", help="image by its source id (e.g. a COCO image id)")
    p.set_defaults(func=_forget)

    for name, func, text in (
        ("card", _card, "regenerate DATASET_CARD.md"),
        ("verify", _verify, "re-check arrays and PNGs"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("dataset", type=Path, help="built dataset folder (holds manifest.json)")
        p.set_defaults(func=func)


def main(argv: list[str] | None = None) -> int:
    """`python -m training.ingest.cli dataset ...`: the `peekless` command itself, so user
    mistakes end the same way (one line, exit 2)."""
    from peekless.cli import main as peekless_main

    return peekless_main(argv)


if __name__ == "__main__":
    sys.exit(main())
