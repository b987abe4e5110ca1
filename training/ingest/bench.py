"""Ingest throughput on camera-sized JPEGs: `python -m training.ingest.bench [--n 400]`.

Writes N 640x480 JPEGs (smooth scenes with detail and EXIF/ICC/comment metadata, about
the size of a COCO photo), then times (1) the scrub alone (full-size decode, content
digest, resize) on one thread, and (2) a whole folders build (scrub, verified PNG, split
arrays, manifest, card) with 1 worker and with one per core. Prints images per second
and the time per 10,000 images.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from training.ingest.build import BuildOptions
from training.ingest.folders import build_folders
from training.ingest.scrub import scrub_bytes


def _photo(rng: np.random.Generator) -> bytes:
    """A 640x480 JPEG with smooth regions, edges and noise, ~q90 like a web photo."""
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC))
    img = base.astype(np.int16) + rng.normal(0, 12, base.shape).astype(np.int16)
    img[rng.integers(0, 400) :][:, rng.integers(0, 560) :][:80, :80] = rng.integers(0, 256, 3)
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010E] = "bench"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
        buf, "JPEG", quality=90, exif=exif, comment=b"bench", icc_profile=b"\0" * 512
    )
    return buf.getvalue()


def _rate(n: int, wall: float, cpu: float) -> str:
    """Wall-clock rate, and CPU time per image: the figure other load does not distort."""
    return (
        f"{n / wall:6.0f} img/s, {wall / n * 10000 / 60:4.1f} min per 10,000 wall; "
        f"{cpu / n * 1000:5.2f} ms CPU per image"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--color", choices=("gray", "rgb"), default="rgb")
    a = p.parse_args(argv)
    channels = 1 if a.color == "gray" else 3
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        for label in ("person", "no_person"):
            (root / label).mkdir(parents=True)
        files = []
        for i in range(a.n):
            path = root / ("person" if i % 2 else "no_person") / f"{i:05d}.jpg"
            path.write_bytes(_photo(rng))
            files.append(path)
        mean_kb = sum(f.stat().st_size for f in files) / len(files) / 1024
        print(f"{a.n} JPEGs 640x480, mean {mean_kb:.0f} KiB -> {a.size}x{a.size} {a.color}, "
              f"{os.cpu_count()} cores")  # fmt: skip
        datas = [f.read_bytes() for f in files]
        t, c = time.perf_counter(), time.process_time()
        for d in datas:
            scrub_bytes(d, a.size, channels)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(f"scrub only, 1 thread                   {_rate(a.n, wall, cpu)}")
        for workers in (1, 0):
            t, c = time.perf_counter(), time.process_time()
            opts = BuildOptions(size=a.size, channels=channels, workers=workers)
            build_folders(root, Path(tmp) / f"out{workers}", "bench", "bench", opts=opts)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            who = "1 worker" if workers == 1 else f"{os.cpu_count()} workers"
            print(f"full build, {who:10s}                     {_rate(a.n, wall, cpu)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average during the run: {load:.2f} (other work on the machine slows wall time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
