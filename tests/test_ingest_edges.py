"""The folder builder's edges: every input it does not build is reported with a reason
(links, loops, unreadable folders, stray files, wrong folder names, pipes, the same picture
under both classes), the report names no file, and the terminal names each one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from ingest_fixtures import build_logged, encode, pattern

from peekless.errors import UserError
from training.ingest.folders import suggest_class
from training.ingest.manifest import load_manifest


def _img(path: Path, seed: int, fmt: str = "PNG") -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = encode(pattern(20, 20, seed), fmt)
    path.write_bytes(data)
    return data


def _two_classes(root: Path, n: int = 2, seed: int = 0) -> None:
    for i in range(n):
        _img(root / "person" / f"p{i}.png", seed + i)
        _img(root / "no_person" / f"n{i}.png", seed + 100 + i)


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _assert_report_names_no_file(out: Path, root: Path, names: list[str]) -> None:
    text = (out / "report.json").read_text() + (out / "DATASET_CARD.md").read_text()
    text += (out / "manifest.json").read_text()
    assert str(root) not in text
    for name in names:
        assert name not in text, name


def test_links_to_outside_are_refused_unless_asked_and_loops_and_dangling_are_reported(
    tmp_path,
):
    root, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    _two_classes(root)
    _img(elsewhere / "neighbours_party.png", 7)
    _img(elsewhere / "their_photos" / "kid.png", 8)
    person = root / "person"
    (person / "party.png").symlink_to(elsewhere / "neighbours_party.png")
    (person / "theirs").symlink_to(elsewhere / "their_photos", target_is_directory=True)
    (person / "loop").symlink_to(person, target_is_directory=True)  # a folder inside itself
    (person / "up").symlink_to(root, target_is_directory=True)  # the root, above it
    (person / "self.png").symlink_to(person / "self.png")  # a link to itself
    (person / "gone.png").symlink_to(tmp_path / "deleted.png")
    (person / "same.png").symlink_to(person / "p0.png")  # inside: followed, a duplicate

    manifest, shown, _lines = build_logged(root, tmp_path / "out")
    reasons = {rel: reason for rel, (_, reason) in shown.items()}
    assert reasons == {
        "person/party.png": "outside_symlink",
        "person/theirs": "outside_symlink",
        "person/loop": "symlink_loop",
        "person/up": "symlink_loop",
        "person/self.png": "symlink_loop",
        "person/gone.png": "dangling_symlink",
        "person/same.png": "duplicate",
    }
    assert len(load_manifest(manifest)["images"]) == 4
    _assert_report_names_no_file(
        tmp_path / "out", root, ["party", "theirs", "neighbours", "gone", "deleted"]
    )

    manifest, shown, _ = build_logged(root, tmp_path / "out2", follow_symlinks=True)
    assert "person/party.png" not in shown and "person/theirs" not in shown
    assert {shown[k][1] for k in ("person/loop", "person/up", "person/self.png")} == {
        "symlink_loop"
    }
    assert len(load_manifest(manifest)["images"]) == 6  # the two pictures outside, built


def test_unreadable_folder_and_a_pipe_are_reported(tmp_path, monkeypatch):
    root = tmp_path / "in"
    _two_classes(root)
    locked = root / "no_person" / "locked"
    _img(locked / "x.png", 9)
    os.mkfifo(root / "person" / "camera.pipe")  # reading it would wait forever
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads any folder: make listing this one fail as it would
        real_scandir = os.scandir

        def scandir(path):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    try:
        _, shown, _ = build_logged(root, tmp_path / "out")
    finally:
        locked.chmod(0o755)
    assert shown["no_person/locked"][1] == "unreadable_folder"
    assert shown["person/camera.pipe"][1] == "not_a_file"
    entry = next(
        s for s in _report(tmp_path / "out")["skipped"] if s["reason"] == "unreadable_folder"
    )
    assert entry["detail"] == "Permission denied"


def test_stray_files_and_unknown_folders_are_reported_with_the_right_name(tmp_path):
    root = tmp_path / "in"
    _two_classes(root)
    _img(root / "IMG_2041.png", 20)  # at the root: no class
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    _img(root / "Person" / "a.png", 21)
    _img(root / "Person" / "b.png", 22)
    _img(root / "no-persons" / "c.png", 23)
    _img(root / "holiday" / "d.png", 24)
    _, shown, _lines = build_logged(root, tmp_path / "out")
    assert {k: v[1] for k, v in shown.items()} == {
        ".DS_Store": "stray_file",
        "IMG_2041.png": "stray_file",
        "Person": "unknown_folder",
        "no-persons": "unknown_folder",
        "holiday": "unknown_folder",
    }
    details = {s["input"]: s["detail"] for s in _report(tmp_path / "out")["skipped"]}
    assert details[shown["Person"][0]].startswith("did you mean person/?")
    assert "2 file(s) are not built" in details[shown["Person"][0]]
    assert details[shown["no-persons"][0]].startswith("did you mean no_person/?")
    assert not details[shown["holiday"][0]].startswith("did you mean")
    _assert_report_names_no_file(tmp_path / "out", root, ["IMG_2041", "holiday", "Person"])


@pytest.mark.parametrize(
    "name,meant",
    [("Person", "person"), ("PEOPLE", None), ("no person", "no_person"),
     ("NoPerson", "no_person"), ("persons", "person"), ("cats", None)],
)  # fmt: skip
def test_suggested_class_folder(name, meant):
    assert suggest_class(name) == meant


def test_no_class_folder_is_refused_with_the_fix(tmp_path):
    root = tmp_path / "in"
    _img(root / "Person" / "a.png", 1)
    _img(root / "No_Person" / "b.png", 2)
    with pytest.raises(UserError) as err:
        build_logged(root, tmp_path / "out")
    assert "rename No_Person/ to no_person" in str(err.value)
    assert "rename Person/ to person" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_the_same_picture_under_both_classes_is_refused_and_both_are_named(tmp_path):
    root = tmp_path / "in"
    _two_classes(root, n=3)
    data = _img(root / "person" / "maybe_someone.jpg", 30, "JPEG")
    (root / "no_person" / "empty_porch.jpg").write_bytes(data)
    (root / "no_person" / "again.jpg").write_bytes(data)  # a third copy: refused as well
    manifest, shown, _lines = build_logged(root, tmp_path / "out")
    conflicts = {k for k, v in shown.items() if v[1] == "class_conflict"}
    assert conflicts == {
        "no_person/again.jpg",
        "no_person/empty_porch.jpg",
        "person/maybe_someone.jpg",
    }
    m = load_manifest(manifest)
    assert len(m["images"]) == 6  # every other picture is built
    assert len(list((tmp_path / "out" / "images").rglob("*.png"))) == 6  # none of the conflict
    numbers = {shown["person/maybe_someone.jpg"][0], shown["no_person/empty_porch.jpg"][0]}
    report = _report(tmp_path / "out")
    detail = next(s["detail"] for s in report["skipped"] if s["input"] in numbers)
    assert all(f"#{n}" in detail for n in numbers)  # the report ties the two by number only
    _assert_report_names_no_file(tmp_path / "out", root, ["maybe_someone", "empty_porch"])


def test_an_empty_class_warns_and_training_refuses_it(tmp_path, capsys):
    from peekless.cli import main

    root = tmp_path / "in"
    for i in range(6):
        _img(root / "person" / f"p{i}.png", 40 + i)
    (root / "no_person").mkdir()
    manifest, _, lines = build_logged(root, tmp_path / "out")
    assert any(line.startswith("warning: no no_person image was built") for line in lines)
    assert "no no_person image was built" in _report(tmp_path / "out")["warnings"][0]
    assert "**Warning:** no no_person image" in (tmp_path / "out" / "DATASET_CARD.md").read_text()
    assert main(["train", str(manifest), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "the train split has no no_person image" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_output_inside_a_class_folder_is_refused(tmp_path):
    root = tmp_path / "in"
    _two_classes(root)
    with pytest.raises(UserError, match="inside"):
        build_logged(root, root / "person" / "built")


def test_nothing_buildable_is_refused_and_an_earlier_build_is_kept(tmp_path):
    root = tmp_path / "in"
    _two_classes(root)
    manifest, _, _ = build_logged(root, tmp_path / "out")
    before = manifest.read_bytes()
    bad = tmp_path / "bad"
    (bad / "person").mkdir(parents=True)
    (bad / "person" / "x.jpg").write_bytes(b"not a picture")
    data = (root / "person" / "p0.png").read_bytes()
    (bad / "no_person").mkdir()
    (bad / "person" / "y.png").write_bytes(data)  # one picture under both labels: not built
    (bad / "no_person" / "y.png").write_bytes(data)
    with pytest.raises(UserError, match="no image could be built"):
        build_logged(bad, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    with pytest.raises(UserError, match="no image could be built"):
        build_logged(bad, tmp_path / "out")
    assert manifest.read_bytes() == before
    assert len(list((tmp_path / "out" / "images").rglob("*.png"))) == 4


def test_numbers_are_stable_between_builds(tmp_path):
    root = tmp_path / "in"
    _two_classes(root)
    _img(root / "stray.png", 50)
    (root / "person" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10))
    first = build_logged(root, tmp_path / "a")[1]
    second = build_logged(root, tmp_path / "b")[1]
    assert first == second and len(first) == 2
    assert (tmp_path / "a" / "report.json").read_bytes() == (
        tmp_path / "b" / "report.json"
    ).read_bytes()
    assert np.array_equal(
        np.load(tmp_path / "a" / "train.npz")["images"],
        np.load(tmp_path / "b" / "train.npz")["images"],
    )
