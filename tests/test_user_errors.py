"""Every ordinary mistake with datasets and training ends in one line that says what is wrong
and what to do, exit status 2, and no traceback (``--debug`` shows it)."""

from __future__ import annotations

import json

import pytest
from ingest_fixtures import encode, pattern

from peekless.cli import main
from peekless.errors import UserError


def _fails(capsys, argv: list[str], *expected: str) -> str:
    """Run `peekless ARGV`: exit 2, one line on stderr holding every expected text."""
    try:
        status = main(argv)
    except SystemExit as exc:  # a command-line mistake: argparse exits by itself
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def photos(tmp_path):
    """A small valid ROOT/person, ROOT/no_person folder."""
    root = tmp_path / "photos"
    for i in range(3):
        for cls in ("person", "no_person"):
            (root / cls).mkdir(parents=True, exist_ok=True)
            data = encode(pattern(20, 20, i + (10 if cls == "person" else 0)), "PNG")
            (root / cls / f"{i}.png").write_bytes(data)
    return root


def _folders(root, out, *extra: str) -> list[str]:
    return ["dataset", "build", "folders", str(root), "--out", str(out),
            "--licence", "CC0", "--consent", "own photos", "--size", "16", *extra]  # fmt: skip


@pytest.fixture()
def dataset(photos, tmp_path):
    assert main(_folders(photos, tmp_path / "ds")) == 0
    return tmp_path / "ds"


def test_folder_build_mistakes(capsys, tmp_path, photos):
    out = tmp_path / "out"
    _fails(capsys, _folders(tmp_path / "no_such", out), "no_such: no such folder", "person/")
    (tmp_path / "a_file").write_text("x")
    _fails(capsys, _folders(tmp_path / "a_file", out), "not a folder")
    (tmp_path / "empty").mkdir()
    _fails(capsys, _folders(tmp_path / "empty", out), "no person/ or no_person/ folder", "make")
    (tmp_path / "empty" / "person").mkdir()
    _fails(capsys, _folders(tmp_path / "empty", out), "hold no files", "put the pictures")
    (tmp_path / "cased" / "Person").mkdir(parents=True)
    _fails(capsys, _folders(tmp_path / "cased", out), "rename Person/ to person")
    for option in ("--licence", "--consent", "--contributor", "--name"):
        argv = _folders(photos, out)
        argv += [option, "  "]
        _fails(capsys, argv, f"argument {option}: must not be blank")
    _fails(capsys, _folders(photos, out, "--name", "../x"), "a name, not a path")
    _fails(capsys, _folders(photos, out, "--size", "0"), "--size 0")
    _fails(capsys, _folders(photos, out, "--val", "0.6", "--test", "0.5"), "--val 0.6")
    _fails(capsys, _folders(photos, out, "--workers", "-1"), "--workers -1")
    _fails(capsys, _folders(photos, photos / "person" / "out"), "inside", "outside it")
    (tmp_path / "blocker").write_text("a file where a folder should be")
    _fails(capsys, _folders(photos, tmp_path / "blocker" / "ds"), "blocker", "Not a directory")
    _fails(capsys, ["dataset", "build", "folders", str(photos)], "required", "--licence")
    _fails(capsys, ["dataset", "build", "folders", str(photos), "--licnce", "x"], "--help")
    assert not out.exists()  # no mistake left a half-built folder behind


def test_forget_mistakes(capsys, tmp_path, dataset):
    _fails(capsys, ["dataset", "forget", str(tmp_path / "gone"), "--contributor", "a"],
           "no dataset here", "datasets/build")  # fmt: skip
    _fails(capsys, ["dataset", "forget", str(dataset), "--image", str(tmp_path / "x.jpg")],
           "x.jpg", "does not exist")  # fmt: skip
    _fails(capsys, ["dataset", "forget", str(dataset), "--image", str(tmp_path)], "a folder")
    _fails(capsys, ["dataset", "forget", str(dataset)], "needs --contributor")
    _fails(capsys, ["dataset", "forget", str(dataset), "--sha256", "abc"], "not a sha256")
    _fails(capsys, ["dataset", "forget", str(dataset), "--contributor", " "], "blank")
    for command in ("card", "verify"):
        _fails(capsys, ["dataset", command, str(tmp_path / "gone")], "no such file")


def test_coco_and_synthetic_mistakes(capsys, tmp_path):
    out = ["--out", str(tmp_path / "out")]
    coco = ["dataset", "build", "coco", "--images", str(tmp_path)]
    _fails(capsys, [*coco, "--annotations", str(tmp_path / "instances.json"), *out],
           "no such file", "instances_")  # fmt: skip
    captions = tmp_path / "captions_train2014.json"
    captions.write_text(json.dumps({"images": [], "annotations": []}))
    _fails(capsys, [*coco, "--annotations", str(captions), *out], "not a COCO instances file")
    (tmp_path / "broken.json").write_text("{")
    _fails(capsys, [*coco, "--annotations", str(tmp_path / "broken.json"), *out], "not JSON")
    _fails(capsys, ["dataset", "build", "coco", "--annotations", str(captions),
                    "--images", str(tmp_path / "nope"), *out], "--images", "no such folder")  # fmt: skip
    _fails(capsys, ["dataset", "build", "synthetic", "--size", "16", *out], "--size 32 or more")


def test_training_mistakes(capsys, tmp_path, dataset):
    run = ["--out", str(tmp_path / "run")]
    _fails(capsys, ["train", str(tmp_path / "nope.json"), *run], "no such file", "dataset build")
    _fails(capsys, ["train", str(dataset), *run], "a folder; give", "manifest.json")
    picture = tmp_path / "p.png"
    picture.write_bytes(encode(pattern(8, 8), "PNG"))
    _fails(capsys, ["train", str(picture), *run], "not a dataset manifest")
    (tmp_path / "other.json").write_text('{"name": "x"}')
    _fails(capsys, ["train", str(tmp_path / "other.json"), *run], "no counts, files, images")
    _fails(capsys, ["train", str(dataset / "manifest.json"), *run, "--epochs", "0"], "--epochs")
    assert not (tmp_path / "run").exists()


def test_debug_shows_the_traceback(tmp_path, photos):
    with pytest.raises(UserError, match="no such folder"):
        main(["--debug", *_folders(tmp_path / "no_such", tmp_path / "out")])
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(NotADirectoryError):
        main(["--debug", *_folders(photos, tmp_path / "blocker" / "ds")])


def test_model_card_mistakes(capsys, tmp_path, dataset):
    manifest = str(dataset / "manifest.json")
    _fails(capsys, ["model-card", str(tmp_path), "--manifest", manifest], "no model.keras here")


def test_a_test_split_with_one_class_is_a_user_error(tmp_path):
    import numpy as np

    from training.ingest.manifest import write_dataset
    from training.model_card import evaluate_models

    rows = [{"id": f"x{i}", "label": i % 2, "split": "train", "sha256": str(i)} for i in range(4)]
    rows += [{"id": f"t{i}", "label": 1, "split": "test", "sha256": f"t{i}"} for i in range(2)]
    pixels = {r["id"]: np.zeros((8, 8, 1), np.uint8) for r in rows}
    manifest = write_dataset(tmp_path, {"name": "tiny", "size": 8, "channels": 1}, rows, pixels)
    with pytest.raises(UserError, match="test split has no no_person image"):
        evaluate_models(tmp_path / "model.keras", None, manifest)


def test_forget_help_says_what_a_lossy_copy_does(capsys):
    with pytest.raises(SystemExit):
        main(["dataset", "forget", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "any lossless copy matches" in text and "A lossy copy" in text and "--near" in text
