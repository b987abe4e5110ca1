"""A dataset from a user's own folders: ROOT/person/ and ROOT/no_person/.

Files directly in a class folder take the ``contributor`` given (or none); files in a
sub-folder, ROOT/person/<name>/..., take <name> as their contributor, so that each person
who gave pictures can later be removed with ``forget --contributor <name>``. A licence and
a statement of consent are required: an import without them is refused, not guessed.

File names are not kept (they often carry names and places): an image's id and source id
come from the sha256 of its original bytes.
"""

from __future__ import annotations

from pathlib import Path

from training.ingest.build import BuildOptions, Candidate, build
from training.ingest.manifest import LABEL_NAMES


def find_candidates(root: Path, licence: str, contributor: str | None) -> list[Candidate]:
    """Every file under ROOT/person and ROOT/no_person, in a fixed (sorted) order."""
    root = Path(root)
    found = []
    for label, name in sorted(LABEL_NAMES.items()):
        class_dir = root / name
        if not class_dir.is_dir():
            continue
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(class_dir).parts
            who = rel[0] if len(rel) > 1 else contributor
            found.append(Candidate(path, label, None, licence, who, "folders", "img"))
    return found


def build_folders(
    root: Path,
    out_dir: Path,
    licence: str,
    consent: str,
    contributor: str | None = None,
    name: str = "folders",
    opts: BuildOptions | None = None,
) -> Path:
    """Build a dataset from ROOT/person and ROOT/no_person; returns the manifest path.

    licence: the licence the images are used under (e.g. "CC-BY-4.0", "own photos").
    consent: how the people shown agreed (e.g. "signed release forms, 2024-05").
    """
    if not licence or not licence.strip():
        raise ValueError("a licence is required for every imported image")
    if not consent or not consent.strip():
        raise ValueError("a consent statement is required for every imported image")
    root = Path(root)
    if not any((root / n).is_dir() for n in LABEL_NAMES.values()):
        raise ValueError(f"{root}: expected person/ and/or no_person/ folders")
    candidates = find_candidates(root, licence.strip(), contributor)
    header = {
        "name": name,
        "rule": {
            "name": "folders",
            "description": "label given by the folder (person/ or no_person/), by the importer",
        },
        "sources": [{"kind": "folders", "licence": licence.strip(), "consent": consent.strip()}],
    }
    return build(candidates, Path(out_dir), header, opts or BuildOptions())
