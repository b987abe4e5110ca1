"""Import from a user's folders: bad files skipped with reasons, every good file built."""

from __future__ import annotations

import json

import pytest
from ingest_fixtures import build, build_logged, make_folders

from peekless.errors import UserError
from training.ingest.folders import build_folders, contributor_id
from training.ingest.manifest import load_manifest
from training.ingest.verify import verify_dataset


def test_bad_files_skipped_with_reasons_and_every_good_file_built(tmp_path):
    good, bad = make_folders(tmp_path / "in")
    manifest_path, shown, _ = build_logged(tmp_path / "in", tmp_path / "out")
    m = load_manifest(manifest_path)
    assert len(m["images"]) == len(good)
    assert {rel: reason for rel, (_, reason) in shown.items()} == bad  # the terminal names them
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    # the report numbers them: the same number and reason as on the terminal, and no name
    assert {(s["input"], s["reason"]) for s in report["skipped"]} == set(shown.values())
    assert all(set(s) == {"input", "reason", "detail"} for s in report["skipped"])
    assert report["built"] == len(good) and report["considered"] == len(good) + len(bad)
    assert verify_dataset(tmp_path / "out") == []
    by_contributor = sorted(r["contributor"] for r in m["images"])
    assert by_contributor == sorted(contributor_id(who) for who in good.values())
    labels = sorted(r["label"] for r in m["images"])
    assert labels == sorted(1 if rel.startswith("person/") else 0 for rel in good)


def test_provenance_without_file_names(tmp_path):
    make_folders(tmp_path / "in")
    m = load_manifest(build(tmp_path / "in", tmp_path / "out"))
    text = (tmp_path / "out" / "manifest.json").read_text()
    assert "alice_at_home" not in text and str(tmp_path) not in text
    assert "alice" not in text and "awkward" not in text  # contributor folders: digests only
    assert all(r["licence"] == "CC-BY-4.0" and r["source"] == "folders" for r in m["images"])
    assert m["name"] == "folders"
    assert m["sources"][0]["consent"] == "signed release forms, 2024-05"
    card = (tmp_path / "out" / "DATASET_CARD.md").read_text()
    assert "alice" not in card and "CC-BY-4.0" in card and "decompression_bomb: 2" in card


@pytest.mark.parametrize("licence,consent", [("", "yes"), ("  ", "yes"), ("CC0", ""), ("CC0", " ")])
def test_licence_and_consent_are_required(tmp_path, licence, consent):
    (tmp_path / "person").mkdir()
    with pytest.raises(UserError, match="licence|consent"):
        build_folders(tmp_path, tmp_path / "out", licence, consent)


def test_needs_class_folders(tmp_path):
    with pytest.raises(UserError, match="person"):
        build_folders(tmp_path, tmp_path / "out", "CC0", "own photos")


def test_build_is_deterministic_whatever_the_threads(tmp_path, monkeypatch, capsys):
    make_folders(tmp_path / "in")
    a = build(tmp_path / "in", tmp_path / "a", workers=1)
    monkeypatch.setattr("training.ingest.build._PROGRESS_THRESHOLD", 1)
    b = build(tmp_path / "in", tmp_path / "b", workers=4)
    assert a.read_bytes() == b.read_bytes()
    assert "img" in capsys.readouterr().err  # the progress bar of a long build
