"""The engine's objects, compiled once and kept in the temporary folder.

The engine (and a board's port) does not depend on the model or the main it is linked
with: the generated code picks kernel variants through pk_kernels.h in its own translation
unit. So compiler/host_runner.py (host builds) and compiler/bench/device.py (emulator
images) compile it once per compiler, flags and sources, and reuse the objects.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
ENGINE = FIRMWARE / "engine"


def engine_sources() -> list[Path]:
    return sorted(ENGINE.glob("*/*.c"))


def cached_objects(prefix: str, key: str, sources: list[Path], headers: list[Path],
                   obj_name: Callable[[Path], str],
                   compile_one: Callable[[Path, Path], object], workers: int = 1) -> list[Path]:
    """Objects of sources, in a folder of the temporary folder named prefix and a hash of
    key (the compiler and its flags) and of every source's and header's path and content.
    If any is missing, compile_one(src, obj) compiles every source (workers at a time) into
    a fresh folder, which then takes the cache's name at once (a concurrent build may have
    won the race: its objects are the same); a failed compilation's exception propagates
    and its folder is removed."""
    h = hashlib.sha256(key.encode())
    for f in [*sources, *headers]:
        h.update(str(f).encode() + f.read_bytes())
    cache = Path(tempfile.gettempdir()) / f"{prefix}-{h.hexdigest()[:16]}"
    objs = [cache / obj_name(src) for src in sources]
    if all(o.exists() for o in objs):
        return objs
    tmp = Path(tempfile.mkdtemp(prefix=cache.name + ".", dir=cache.parent))
    try:
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda src: compile_one(src, tmp / obj_name(src)), sources))
        else:
            for src in sources:
                compile_one(src, tmp / obj_name(src))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(cache)  # atomic; a concurrent build may have won the race
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return objs
