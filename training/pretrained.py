"""Pretrained models as named, verified artefacts.

``MODELS`` names what Peekless knows: each model has a float Keras file (to fine-tune from,
``peekless train --init NAME``) and an int8 ``.tflite`` (to evaluate or build as it is),
with the published URL pinned to a commit, the sha256 and size of each file, and the
licence. ``locate`` finds an artefact, in this order, and checks its sha256 wherever it
comes from:

1. the cache folder (``$PEEKLESS_MODEL_CACHE``, else ``$XDG_CACHE_HOME/peekless/models``,
   else ``~/.cache/peekless/models``);
2. a shared models folder: ``$PEEKLESS_SHARED/models``, or ``../shared/models/`` beside the
   checkout or the working directory (under the file's published name or our own);
3. only when asked (``fetch`` / ``peekless models fetch``): a download from the published
   URL (or any URL given, ``file://`` included) into the cache, kept only if its sha256 is
   the pinned one.

A file with the right name and the wrong sha256 is never used: ``locate`` says so.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from peekless.errors import UserError
from training.file_hash import sha256_file

REPO = Path(__file__).resolve().parents[1]
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Artefact:
    kind: str  # "float" (Keras) or "int8" (TFLite)
    filename: str  # our name for it (the one in ../shared/models)
    published_name: str  # its name where it is published
    url: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class PretrainedModel:
    name: str
    description: str
    licence: str
    source: str  # repository, path and commit
    input_shape: tuple[int, int, int]
    colour: str
    outputs: tuple[str, str]
    output_activation: str
    artefacts: tuple[Artefact, ...]
    notes: tuple[str, ...] = ()

    def artefact(self, kind: str) -> Artefact:
        for a in self.artefacts:
            if a.kind == kind:
                return a
        raise UserError(f"model {self.name} has no {kind} file",
                        f"it has: {', '.join(a.kind for a in self.artefacts)}")  # fmt: skip


_MLPERF_COMMIT = "1afd2c9820f795965a6134facd0b4dfae41ef23f"
_MLPERF_BASE = (
    f"https://github.com/mlcommons/tiny/raw/{_MLPERF_COMMIT}/"
    "benchmark/training/visual_wake_words/trained_models/"
)


def _mlperf_artefact(kind: str, filename: str, published: str, sha256: str, size: int) -> Artefact:
    """An MLPerf Tiny file, published at the pinned commit under ``published``."""
    return Artefact(kind=kind, filename=filename, published_name=published,
                    url=_MLPERF_BASE + published, sha256=sha256, bytes=size)  # fmt: skip


MODELS: dict[str, PretrainedModel] = {
    "mlperf-vww": PretrainedModel(
        name="mlperf-vww",
        description="MLPerf Tiny Visual Wake Words reference: MobileNetV1 width 0.25, trained "
        "on COCO-derived Visual Wake Words (person box > 0.5 % of the image), about 85 % "
        "top-1 on the benchmark's evaluation set",
        licence="Apache-2.0 (mlcommons/tiny LICENSE.md; keep the notice with any copy)",
        source=f"github.com/mlcommons/tiny, benchmark/training/visual_wake_words/"
        f"trained_models/, commit {_MLPERF_COMMIT}",
        input_shape=(96, 96, 3),
        colour="RGB",
        outputs=("no_person", "person"),
        output_activation="softmax",
        artefacts=(
            _mlperf_artefact(
                "float",
                "mlperf_vww_96.h5",
                "vww_96.h5",
                "af9111d50e6e85b2f2123345e0316ef1c384865ebf6b06340ddac7e66017450f",
                3_124_024,
            ),
            _mlperf_artefact(
                "int8",
                "mlperf_vww_96_int8.tflite",
                "vww_96_int8.tflite",
                "597a384c8c2c8a1276f04702f25013b7838f2f814f1ca7c174d295b73e3d6b7b",
                333_288,
            ),
        ),
        notes=(
            ("The float file is Keras 2 HDF5; Keras 3 loads it through "
            "training/pretrained_load.py (DepthwiseConv2D without `groups`)."),
            "int8 input: pixel - 128 (scale 1/255, zero point -128), as every Peekless model.",
        ),
    ),
}


def get_model(name: str) -> PretrainedModel:
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(f"unknown pretrained model {name!r}",
                        f"known: {', '.join(sorted(MODELS))} (`peekless models`)") from None  # fmt: skip


def cache_dir() -> Path:
    if os.environ.get("PEEKLESS_MODEL_CACHE"):
        return Path(os.environ["PEEKLESS_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "peekless" / "models"


def shared_dirs() -> list[Path]:
    """Shared model folders to look in, first match wins."""
    dirs = []
    if os.environ.get("PEEKLESS_SHARED"):
        dirs.append(Path(os.environ["PEEKLESS_SHARED"]) / "models")
    dirs += [REPO.parent / "shared" / "models", Path.cwd().parent / "shared" / "models"]
    return list(dict.fromkeys(d.resolve() for d in dirs))


@dataclass(frozen=True)
class Found:
    path: Path | None  # a verified copy, or None
    where: str  # "cache", "shared", or why nothing was found
    rejected: tuple[str, ...] = ()  # files with the right name and the wrong sha256


def find(artefact: Artefact) -> Found:
    """A verified local copy of ``artefact`` (cache first, then the shared folders)."""
    rejected = []
    places = [("cache", cache_dir())] + [("shared", d) for d in shared_dirs()]
    for where, folder in places:
        for name in dict.fromkeys((artefact.filename, artefact.published_name)):
            path = folder / name
            if not path.is_file():
                continue
            if path.stat().st_size == artefact.bytes and sha256_file(path) == artefact.sha256:
                return Found(path, where, tuple(rejected))
            rejected.append(f"{path} (sha256 differs from the pinned one)")
    return Found(None, "not here", tuple(rejected))


def locate(name: str, kind: str, found: Found | None = None) -> Path:
    """The verified local file of model ``name``'s ``kind`` artefact, or a UserError that
    says how to fetch it. ``found``: what ``find`` already gave for that artefact (then
    nothing is looked for, or hashed, again)."""
    artefact = get_model(name).artefact(kind)
    if found is None:
        found = find(artefact)
    if found.path is None:
        bad = f"; refused {', '.join(found.rejected)}" if found.rejected else ""
        raise UserError(f"{name} ({kind}): {artefact.filename} is not in the cache or a shared "
                        f"models folder{bad}",
                        f"run `peekless models fetch {name}` (downloads {artefact.url})")  # fmt: skip
    return found.path


def fetch(name: str, kind: str, url: str | None = None) -> Path:
    """Make sure the cache holds a verified copy of the artefact: from a shared folder if
    one is there, else downloaded from ``url`` (default: the published URL). The download
    goes to a temporary name and is kept only if its size and sha256 are the pinned ones."""
    artefact = get_model(name).artefact(kind)
    target = cache_dir() / artefact.filename
    found = find(artefact)
    if found.path is not None and found.where == "cache":
        return found.path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        if found.path is not None and url is None:
            shutil.copyfile(found.path, tmp)
        else:
            _download(url or artefact.url, tmp)
        size, sha = tmp.stat().st_size, sha256_file(tmp)
        if (size, sha) != (artefact.bytes, artefact.sha256):
            raise UserError(f"{name} ({kind}): {url or artefact.url} gave {size:,} bytes with "
                            f"sha256 {sha}, not the pinned {artefact.bytes:,} bytes, "
                            f"{artefact.sha256}", "nothing was kept; check the URL")  # fmt: skip
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _download(url: str, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
    except OSError as exc:
        raise UserError(f"cannot download {url}: {exc}", "check the URL or the network") from None
