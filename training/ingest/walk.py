"""Walk a folder tree the way an import should: every entry is either a file to build or
an entry refused with a reason, never silently passed over.

- A symbolic link is followed only while its target stays inside the input folder; a
  link to outside is refused (``outside_symlink``) unless ``follow_symlinks``: a link can
  pull in someone else's files without the importer noticing.
- A link to a folder that contains it, directly or through other links, is refused
  (``symlink_loop``) instead of being walked forever; a link to nothing is
  ``dangling_symlink``.
- A folder that cannot be listed is ``unreadable_folder``; a pipe, socket or device is
  ``not_a_file`` (reading a pipe would wait forever).

Entries come in a fixed order (sorted by name at each level), so a build numbers its
inputs the same way every time.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Found:
    """A regular file to build (reached directly or through links inside the folder)."""

    path: Path  # as reached from the root the user gave: shown on the terminal only
    parts: tuple[str, ...]  # names below the walked folder


@dataclass(frozen=True)
class Refused:
    """An entry the walk does not build, with a reason of ``scrub.REASONS``."""

    path: Path
    reason: str
    detail: str = ""


def inside(target: Path, root: Path) -> bool:
    """True if the real path ``target`` is ``root`` or below it (``root`` resolved here)."""
    real_root = Path(os.path.realpath(root))
    return target == real_root or real_root in target.parents


def resolve_entry(path: Path) -> tuple[Path | None, str | None, str]:
    """Where a symlink finally points: (resolved path, None, "") or (None, reason, detail)."""
    try:
        os.stat(path)  # follows every link in the chain
    except FileNotFoundError:
        return None, "dangling_symlink", ""
    except OSError as e:
        if e.errno == errno.ELOOP:
            return None, "symlink_loop", "links that point at each other"
        return None, "dangling_symlink", os.strerror(e.errno or 0)
    return Path(os.path.realpath(path)), None, ""


def walk(top: Path, root: Path, follow_symlinks: bool = False) -> Iterator[Found | Refused]:
    """Files under ``top`` (a folder inside ``root``), links resolved against ``root``.

    root: the input folder; links whose target is outside it are refused unless
    ``follow_symlinks``.
    """
    real_root = Path(os.path.realpath(root))
    yield from _walk(Path(top), (), real_root, follow_symlinks, (Path(os.path.realpath(top)),))


def _walk(
    folder: Path,
    parts: tuple[str, ...],
    root: Path,
    follow: bool,
    stack: tuple[Path, ...],  # real paths of the folders being walked, outermost first
) -> Iterator[Found | Refused]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        yield Refused(folder, "unreadable_folder", e.strerror or type(e).__name__)
        return
    for entry in entries:
        path = folder / entry.name
        here = (*parts, entry.name)
        try:
            is_link = entry.is_symlink()
            if is_link:
                target, reason, detail = resolve_entry(path)
                if target is None:
                    yield Refused(path, reason or "dangling_symlink", detail)
                    continue
                if not follow and not inside(target, root):
                    yield Refused(path, "outside_symlink")
                    continue
                is_dir, is_file = target.is_dir(), target.is_file()
            else:
                target = None
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)
        except OSError as e:
            yield Refused(path, "unreadable_folder", e.strerror or type(e).__name__)
            continue
        if is_dir:
            real = target or Path(os.path.realpath(path))
            if any(real == s or real in s.parents for s in stack):
                yield Refused(path, "symlink_loop", "a link to a folder that contains it")
                continue
            yield from _walk(path, here, root, follow, (*stack, real))
        elif is_file:
            yield Found(path, here)
        else:
            yield Refused(path, "not_a_file")
