"""Pretrained models as named, verified artefacts (training/pretrained.py): where each file
is found, a download kept only when its sha256 is the pinned one (tested with file://
URLs; nothing here reaches the internet), the `peekless models` command and the card."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest
from conftest import SHARED

from peekless.errors import UserError
from training import pretrained
from training.pretrained import Artefact, fetch, find, locate

PAYLOAD = b"pretend weights " * 64


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An empty cache and an empty shared folder, and a registry entry "toy" whose int8 file
    is PAYLOAD, published at a file:// URL."""
    cache, shared, published = tmp_path / "cache", tmp_path / "shared", tmp_path / "web"
    (shared / "models").mkdir(parents=True)
    published.mkdir()
    (published / "toy_published.tflite").write_bytes(PAYLOAD)
    monkeypatch.setenv("PEEKLESS_MODEL_CACHE", str(cache))
    monkeypatch.setenv("PEEKLESS_SHARED", str(shared))
    monkeypatch.setattr(pretrained, "shared_dirs", lambda: [shared / "models"])
    art = Artefact("int8", "toy.tflite", "toy_published.tflite",
                   (published / "toy_published.tflite").as_uri(),
                   hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD))  # fmt: skip
    toy = replace(pretrained.MODELS["mlperf-vww"], name="toy", artefacts=(art,))
    monkeypatch.setitem(pretrained.MODELS, "toy", toy)
    return cache, shared / "models", published, art


def test_a_missing_model_says_how_to_fetch_it(places):
    with pytest.raises(UserError, match="peekless models fetch toy"):
        locate("toy", "int8")
    with pytest.raises(UserError, match="unknown pretrained model 'nope'"):
        locate("nope", "int8")


def test_fetch_downloads_verifies_and_caches(places):
    cache, _, _, art = places
    path = fetch("toy", "int8")  # the published file:// URL
    assert path == cache / "toy.tflite" and path.read_bytes() == PAYLOAD
    assert locate("toy", "int8") == path and find(art).where == "cache"


def test_a_download_with_the_wrong_sha256_is_not_kept(places):
    cache, _, published, _ = places
    bad = published / "tampered.tflite"
    bad.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(UserError, match="not the pinned"):
        fetch("toy", "int8", url=bad.as_uri())
    assert not any(cache.iterdir())  # no partial or wrong file left behind
    with pytest.raises(UserError, match="cannot download"):
        fetch("toy", "int8", url=(published / "missing.tflite").as_uri())


def test_shared_copies_count_under_either_name_and_wrong_ones_are_refused(places):
    cache, shared, _, art = places
    (shared / "toy_published.tflite").write_bytes(PAYLOAD)
    assert find(art).where == "shared" and locate("toy", "int8").parent == shared
    cache.mkdir()
    (cache / "toy.tflite").write_bytes(b"not it")  # right name, wrong content
    found = find(art)
    assert found.where == "shared" and "sha256 differs" in found.rejected[0]
    assert fetch("toy", "int8").read_bytes() == PAYLOAD  # replaced by the verified copy


def test_models_command_lists_licence_hash_and_place(places, capsys):
    from peekless.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "Apache-2.0" in out and hashlib.sha256(PAYLOAD).hexdigest() in out
    assert "not here (fetch: file://" in out
    assert main(["models", "fetch", "toy"]) == 0
    assert "sha256 verified" in capsys.readouterr().out
    assert main(["models"]) == 0
    assert "cache: " in capsys.readouterr().out
    assert main(["models", "fetch", "nope"]) == 2


@pytest.fixture
def shared_mlperf(monkeypatch, tmp_path):
    if not (SHARED / "models" / "mlperf_vww_96.h5").exists():
        pytest.skip(f"reference models missing in {SHARED / 'models'}")
    monkeypatch.setenv("PEEKLESS_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PEEKLESS_SHARED", str(SHARED))


def test_the_pinned_hashes_are_those_of_the_shared_mlperf_files(shared_mlperf):
    for art in pretrained.MODELS["mlperf-vww"].artefacts:
        found = find(art)
        assert found.where == "shared", (art.filename, found)


@pytest.mark.slow
def test_the_mlperf_card_states_provenance_and_size(shared_mlperf, tmp_path, capsys):
    from peekless.cli import main

    assert main(["models", "card", "mlperf-vww", "--out", str(tmp_path / "card")]) == 0
    card = json.loads((tmp_path / "card" / "model_card.json").read_text())
    assert card["pretrained"]["licence"].startswith("Apache-2.0")
    assert card["model"]["files"]["int8"]["verified"] and card["model"]["files"]["float"]["found"] == "shared"
    assert card["size"]["parameters"] == 221_794 and card["size"]["macs"] > 7_000_000
    text = (tmp_path / "card" / "MODEL_CARD.md").read_text()
    assert "mlcommons/tiny" in text and card["model"]["files"]["float"]["sha256"] in text
