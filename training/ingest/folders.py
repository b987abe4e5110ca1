"""A dataset from a user's own folders: ROOT/person/ and ROOT/no_person/.

Files directly in a class folder take the ``contributor`` given (or none); files in a
sub-folder, ROOT/person/<name>/..., take <name> as their contributor, so that each person
who gave pictures can later be removed with ``forget --contributor <name>``. A licence and
a statement of consent are required: an import without them is refused, not guessed.

File and folder names are not kept (they often carry names, places and dates): an image's
id and source id come from the sha256 of its original bytes, a contributor is recorded as
a digest of the name (``contributor_id``), and the report numbers the inputs it skipped
instead of naming them. Every entry under ROOT is either built or reported with a reason
(training/ingest/walk.py): stray files and unknown folders at the root (with the class
folder a name was probably meant to be), links to outside ROOT (unless
``follow_symlinks``), link loops, dangling links, unreadable folders.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

from peekless.errors import UserError
from training.ingest.build import BuildOptions, Candidate, build
from training.ingest.manifest import LABEL_NAMES
from training.ingest.report import BuildReport
from training.ingest.walk import Refused, inside, resolve_entry, walk

CLASS_FOLDERS = {name: label for label, name in LABEL_NAMES.items()}


def contributor_id(name: str) -> str:
    """What the manifest records for a contributor: a digest, so no file written holds
    the name, while ``forget --contributor NAME`` still finds their pictures. The name is
    taken in Unicode NFC and without outer spaces: macOS stores folder names decomposed
    (e + combining accent), while a name typed on a command line is composed."""
    norm = unicodedata.normalize("NFC", name.strip())
    return "c-" + hashlib.sha256(f"peekless-contributor-v1:{norm}".encode()).hexdigest()[:16]


def suggest_class(name: str) -> str | None:
    """The class folder a mistyped folder name probably meant (``Person`` -> ``person``)."""
    norm = re.sub(r"[\s\-.]+", "_", name.strip().lower())
    if norm in CLASS_FOLDERS:
        return norm
    close = difflib.get_close_matches(norm, list(CLASS_FOLDERS), n=1, cutoff=0.75)
    return close[0] if close else None


def _count_files(folder: Path) -> int:
    n = 0
    for _, _, files in os.walk(folder):  # does not follow links: a count, not a build
        n += len(files)
    return n


def find_inputs(
    root: Path, licence: str, contributor: str | None, follow_symlinks: bool = False
) -> tuple[list[Candidate], list[tuple[int, Refused]]]:
    """Every entry under ROOT, numbered in a fixed order: (files to build, refusals with
    their numbers).

    Raises UserError when ROOT is not a folder or holds no usable class folder."""
    root = Path(root)
    if not root.exists():
        raise UserError(
            f"{root}: no such folder (give the folder that holds person/ and no_person/)"
        )
    if not root.is_dir():
        raise UserError(f"{root}: not a folder (give the folder that holds person/ and no_person/)")
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as e:
        raise UserError(f"{root}: cannot list it ({e.strerror}); check its permissions") from None
    refused: list[tuple[Path, Refused]] = []  # (sort key, refusal) at the root
    classes: dict[str, Path] = {}
    for entry in top:
        path = root / entry.name
        if entry.name in CLASS_FOLDERS:
            target, reason, detail = resolve_entry(path) if entry.is_symlink() else (path, None, "")
            if target is None:
                refused.append((path, Refused(path, reason or "dangling_symlink", detail)))
            elif entry.is_symlink() and not follow_symlinks and not inside(target, root):
                refused.append((path, Refused(path, "outside_symlink")))
            elif not target.is_dir():
                refused.append(
                    (path, Refused(path, "stray_file", "a class name, but not a folder"))
                )
            else:
                classes[entry.name] = path
        elif entry.is_dir():
            guess = suggest_class(entry.name)
            hint = f"did you mean {guess}/? " if guess else ""
            n = _count_files(path)
            detail = f"{hint}not person/ or no_person/: its {n} file(s) are not built"
            refused.append((path, Refused(path, "unknown_folder", detail)))
        else:
            detail = "move it into person/ or no_person/ to build it"
            refused.append((path, Refused(path, "stray_file", detail)))
    if not classes:
        raise UserError(_no_classes_message(root, [r for _, r in refused]))

    candidates: list[Candidate] = []
    refusals: list[tuple[int, Refused]] = []
    index = 0
    for _, r in refused:
        index += 1
        refusals.append((index, r))
    for name in sorted(classes):
        for item in walk(classes[name], root, follow_symlinks):
            index += 1
            if isinstance(item, Refused):
                refusals.append((index, item))
                continue
            who = item.parts[0] if len(item.parts) > 1 else contributor
            cid = contributor_id(who) if who else None
            candidates.append(
                Candidate(item.path, CLASS_FOLDERS[name], None, licence, cid, "folders", "img",
                          index)
            )  # fmt: skip
    return candidates, refusals


def _no_classes_message(root: Path, refused: list[Refused]) -> str:
    hints = []
    for r in refused:
        if r.reason == "unknown_folder" and r.detail.startswith("did you mean"):
            guess = r.detail.split("?")[0].removeprefix("did you mean ")
            hints.append(f"rename {r.path.name}/ to {guess}")
        elif r.reason == "outside_symlink":
            hints.append(f"{r.path.name} links outside {root}: give --follow-symlinks")
    what = (
        "; ".join(hints)
        if hints
        else "make ROOT/person/ and ROOT/no_person/ and put the pictures there"
    )
    return f"{root}: no person/ or no_person/ folder ({what})"


def build_folders(
    root: Path,
    out_dir: Path,
    licence: str,
    consent: str,
    contributor: str | None = None,
    name: str = "folders",
    opts: BuildOptions | None = None,
    *,
    follow_symlinks: bool = False,
    echo: Callable[[str], None] | None = None,
) -> Path:
    """Build a dataset from ROOT/person and ROOT/no_person; returns the manifest path.

    licence: the licence the images are used under (e.g. "CC-BY-4.0", "own photos").
    consent: how the people shown agreed (e.g. "signed release forms, 2024-05").
    follow_symlinks: build files that links lead to outside ROOT (refused otherwise).
    echo: where terminal lines go (each skipped input with its path); None: nowhere.
    """
    if not licence or not licence.strip():
        raise UserError("--licence is blank: say what licence the images are used under")
    if not consent or not consent.strip():
        raise UserError("--consent is blank: say how the people shown agreed to this use")
    if contributor is not None and not contributor.strip():
        raise UserError("--contributor is blank: give a name, or leave the option out")
    root, out_dir = Path(root), Path(out_dir)
    candidates, refusals = find_inputs(root, licence.strip(), contributor, follow_symlinks)
    real_out = Path(os.path.realpath(out_dir))
    for folder in CLASS_FOLDERS:
        if inside(real_out, root / folder):
            raise UserError(
                f"--out {out_dir} is inside {root / folder}: the built images would be read "
                "as inputs next time; choose an output folder outside it"
            )
    if not candidates and not refusals:
        raise UserError(f"{root}: {' and '.join(f'{c}/' for c in sorted(CLASS_FOLDERS))} "
                        "hold no files; put the pictures there")  # fmt: skip
    report = BuildReport(echo=echo)
    report.considered = len(refusals)
    for index, r in refusals:
        report.skip(index, r.reason, r.detail, r.path)
    header = {
        "name": name,
        "rule": {
            "name": "folders",
            "description": "label given by the folder (person/ or no_person/), by the importer",
        },
        "sources": [{"kind": "folders", "licence": licence.strip(), "consent": consent.strip()}],
    }
    return build(candidates, out_dir, header, opts or BuildOptions(), report)
