"""How a training run's records (training_history.json, model_card.json, MODEL_CARD.md)
name files outside the run folder: relative to the run folder, or not at all.

A path is metadata: an absolute one carries the home folder and whatever the user named
the folders above the data. What identifies the data is the manifest's sha256, which
every record keeps; the path is a convenience for finding the manifest again (e.g. the
public-data check of ``train --dp --init-model``), so it is kept only in a form that
names nothing above the run folder's nearest common folder with the file.
"""

from __future__ import annotations

import os
from pathlib import Path


def path_for_record(path: Path, run_dir: Path) -> str | None:
    """``path`` relative to ``run_dir`` (posix form), or None when the only relative form
    climbs to the filesystem root (it would spell out an absolute path)."""
    target = Path(os.path.abspath(path))
    base = Path(os.path.abspath(run_dir))
    common = Path(os.path.commonpath([target, base]))
    if common == Path(common.anchor):
        return None
    return Path(os.path.relpath(target, base)).as_posix()


def resolve_recorded(recorded: str | None, run_dir: Path) -> Path | None:
    """The file a record names (relative to its run folder), or None if none is named.
    Records written before paths were relative hold absolute paths: those still resolve."""
    if not recorded:
        return None
    return Path(run_dir) / recorded
