"""A file name is metadata: after a folder build, a training run and two removals, no file
that Peekless wrote holds an input's file name, folder name or absolute path.

The inputs live in a home-like folder under a folder named after a street address, with
names, dates and times in the file names, a contributor folder named after a person, and
inputs that are skipped for every reason the folder builder has. Every written file is
searched as bytes, and so is every member of every zip inside it (.keras, .npz), for each
name as written, lower-cased and URL-quoted. The search itself is shown to find a planted
leak, and the terminal, where the user typed the paths, is shown to still name the files.
"""

from __future__ import annotations

import io
import json
import unicodedata
import urllib.parse
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ingest_fixtures import encode, pattern
from PIL import Image

from peekless.cli import main

FLAT = "Flat 4, 22 Harbour Road"
CONTRIBUTOR = "José Álvarez"  # the folder is written decomposed, as macOS stores names


def _picture(seed: int, person: bool) -> np.ndarray:
    img = pattern(48, 40, seed)
    img[:8, :8] = 255  # white reaches the scrubbed pixels (quantisation calibrates on it)
    if person:  # a bright upright blob, so one epoch has something to learn
        img[8:44, 14:26] = 230
    return img


def _inputs(home: Path) -> tuple[Path, list[str]]:
    """The photo folder; returns (root, every name that must not be written anywhere)."""
    root = home / FLAT
    person, no_person = root / "person", root / "no_person"
    for d in (
        person / unicodedata.normalize("NFD", CONTRIBUTOR),
        no_person,
        root / "Persons of Flat 4",
        home / "Private Photos",
    ):
        d.mkdir(parents=True)
    for i in range(14):
        (person / f"maria_garcia_2026-10-01_18{i:02d}.jpg").write_bytes(
            encode(_picture(i, True), "JPEG", quality=92)
        )
        (no_person / f"porch_empty_2026-10-01_19{i:02d}.png").write_bytes(
            encode(_picture(100 + i, False), "PNG")
        )
    (
        person / unicodedata.normalize("NFD", CONTRIBUTOR) / "jose_alvarez_2026-10-02_0712.png"
    ).write_bytes(encode(_picture(50, True), "PNG"))
    first = person / "maria_garcia_2026-10-01_1800.jpg"
    (person / "maria_garcia_copy_2026-10-01_1800.jpg").write_bytes(first.read_bytes())  # duplicate
    jpeg = encode(_picture(60, True), "JPEG")
    (person / "maria_garcia_broken_2026-10-03_0930.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    both = encode(_picture(70, True), "PNG")
    (person / "maria_and_jose_2026-10-04_2000.png").write_bytes(both)  # under both classes
    (no_person / "maria_and_jose_2026-10-04_2000_b.png").write_bytes(both)
    (root / "maria_notes_2026-10-05.txt").write_text("door code 4711\n")  # stray file
    (root / "Persons of Flat 4" / "guest_lena_2026-10-06.jpg").write_bytes(jpeg)  # unknown folder
    secret = home / "Private Photos" / "maria_passport_scan.jpg"
    secret.write_bytes(encode(_picture(80, True), "JPEG"))
    (person / "passport_link.jpg").symlink_to(secret)  # outside the root: refused
    (person / "maria_old_link_2025.jpg").symlink_to(home / "deleted_2025.jpg")  # dangling

    names = {FLAT, CONTRIBUTOR, "Álvarez", "Persons of Flat 4", "Private Photos", home.name}
    for path in [*root.rglob("*"), secret, home / "deleted_2025.jpg"]:
        names |= {path.name, path.stem}
    names -= {"person", "no_person"}  # the class folders' names are the builder's own
    return root, sorted(names)


def _needles(names: list[str], paths: list[Path]) -> dict[bytes, str]:
    """Byte strings to search for (as written and lower-cased; composed and decomposed
    Unicode; URL-quoted, JSON-escaped, spaces as underscores), each with its name."""
    found = {}
    for text in [*names, *(str(p) for p in paths)]:
        for nf in ("NFC", "NFD"):
            norm = unicodedata.normalize(nf, text)
            forms = (norm, urllib.parse.quote(norm), norm.replace(" ", "_"), json.dumps(norm)[1:-1])
            for form in forms:
                found[form.encode()] = found[form.lower().encode()] = text
    return found


def leaks(folder: Path, needles: dict[bytes, str], skip: set[Path] = frozenset()) -> list[str]:
    """'file[: zip member]: name' for every needle found in a file under ``folder``."""
    found = []

    def search(where: str, data: bytes) -> None:
        low = data.lower()  # ASCII letters only: non-ASCII needles are searched as written too
        hits = {name for needle, name in needles.items() if needle in data or needle in low}
        found.extend(f"{where}: {name}" for name in sorted(hits))
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for member in z.namelist():
                    search(f"{where}:{member}", z.read(member))

    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and path not in skip:
            search(str(path.relative_to(folder)), path.read_bytes())
    return found


def test_the_search_finds_a_planted_leak(tmp_path):
    needles = _needles(["maria_garcia_2026-10-01_1800.jpg", FLAT, CONTRIBUTOR], [tmp_path / "home"])
    (tmp_path / "history.json").write_text(json.dumps({"who": CONTRIBUTOR}))  # as \u00e9
    (tmp_path / "card.json").write_text('{"manifest": "/x/flat 4, 22 harbour road/m.json"}')
    with zipfile.ZipFile(tmp_path / "model.keras", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", '{"source": "maria_garcia_2026-10-01_1800.jpg"}')
    (tmp_path / "events.v2").write_bytes(
        b"\0\1" + urllib.parse.quote(str(tmp_path / "home")).encode()
    )
    assert sorted(leaks(tmp_path, needles)) == [
        f"card.json: {FLAT}",
        f"events.v2: {tmp_path / 'home'}",
        f"history.json: {CONTRIBUTOR}",
        "model.keras:config.json: maria_garcia_2026-10-01_1800.jpg",
    ]


@pytest.mark.slow
def test_no_written_file_names_an_input(tmp_path, capsys):
    home = tmp_path / "home" / "maria_garcia"
    root, names = _inputs(home)
    inputs = {p for p in tmp_path.rglob("*")}
    work = home / "peekless"
    data, run = work / "datasets" / "porch", work / "runs" / "porch"

    build = ["dataset", "build", "folders", str(root), "--out", str(data), "--name", "porch",
             "--licence", "own photos", "--consent", "household agreed, 2026-09",
             "--size", "32", "--val", "0.2", "--test", "0.3"]  # fmt: skip
    assert main(build) == 0
    terminal = capsys.readouterr().err
    for reason in ("duplicate", "truncated", "class_conflict", "stray_file", "unknown_folder",
                   "outside_symlink", "dangling_symlink"):  # fmt: skip
        assert f" {reason} " in terminal, reason
    assert "maria_garcia_broken_2026-10-03_0930.jpg" in terminal  # the user still sees which
    assert "maria_and_jose_2026-10-04_2000_b.png" in terminal

    manifest = data / "manifest.json"
    assert main(["train", str(manifest), "--out", str(run), "--epochs", "1",
                 "--batch-size", "8", "--no-membership"]) == 0  # fmt: skip
    assert (run / "model_card.json").is_file() and (run / "model_int8.tflite").is_file()
    rows_before = {r["id"]: r for r in json.loads(manifest.read_text())["images"]}

    copy = tmp_path / "copy_she_sent.png"  # a lossless copy, not the file that was built
    with Image.open(root / "person" / "maria_garcia_2026-10-01_1801.jpg") as im:
        copy.write_bytes(encode(np.asarray(im.convert("RGB")), "PNG"))
    assert main(["dataset", "forget", str(data), "--image", str(copy)]) == 0
    assert main(["dataset", "forget", str(data), "--contributor", CONTRIBUTOR]) == 0
    capsys.readouterr()

    written = {p for p in tmp_path.rglob("*") if p.is_file()} - inputs - {copy}
    assert all(work in p.parents for p in written)  # nothing written beside the inputs
    needles = _needles(names, [root, home, tmp_path])
    assert leaks(tmp_path, needles, skip=inputs | {copy}) == []

    # and what was removed cannot be read back from the dataset's files
    rows_after = json.loads(manifest.read_text())["images"]
    gone = [r for i, r in rows_before.items() if i not in {r2["id"] for r2 in rows_after}]
    assert len(gone) == 2
    removed = {
        v.split("-")[-1][:16].encode(): r["id"]
        for r in gone
        for v in (r["id"], r["sha256"], r["content_sha256"], r["source_sha256"])
    }
    assert leaks(data, removed) == []
