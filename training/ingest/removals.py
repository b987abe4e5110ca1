"""Records kept beside a dataset after removals: what a removal left behind, by design.

``removals.json``: one record per request (date, kind of request, counts per split and
class, manifest hashes before and after) and a blocklist, so that a rebuild into the same
folder does not bring removed images back. Nothing in it identifies what was removed: no
pixels, names, contributors, file names, image ids or plain digests. (An image id is a
prefix of its file's sha256, so a plain digest would name the image to anyone who saw
the id.) The blocklist holds keyed digests, HMAC-SHA256 under a random key made for this
dataset folder, of each removed image's content, pixel and file sha256: they match a
copy of the very picture during a rebuild, and nothing else can be read from them.

``stale_models.json``: the manifest hashes that removals made obsolete; a model whose
recorded manifest hash is listed was trained on data that is no longer there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

REMOVALS_FILE = "removals.json"
STALE_FILE = "stale_models.json"
BLOCKLIST_FORMAT = "hmac-sha256 of sha256 digests, key: blocklist_key"
_HEX = set("0123456789abcdef")


def _read(path: Path, empty: dict) -> dict:
    return json.loads(path.read_text()) if path.exists() else empty


def load_removals(dataset_dir: Path) -> dict:
    """{"removals": [records], "blocklist": [keyed digests], "blocklist_key": hex}.

    A file from before keyed digests (plain sha256 in "blocklist") is read as keyed
    under a fresh key; the next ``append_removal`` writes it back that way."""
    data = _read(Path(dataset_dir) / REMOVALS_FILE, {"removals": [], "blocklist": []})
    if "blocklist_key" not in data:
        key = secrets.token_hex(32)
        data["blocklist"] = sorted(_keyed(key, d) for d in data["blocklist"])
        data["blocklist_key"] = key
        data["blocklist_format"] = BLOCKLIST_FORMAT
    return data


def _keyed(key: str, digest: str) -> str:
    return hmac.new(bytes.fromhex(key), digest.lower().encode(), hashlib.sha256).hexdigest()


class Blocklist:
    """Removed images of one dataset folder; ``in`` takes plain sha256 hex digests."""

    def __init__(self, key: str, keyed: Iterable[str]) -> None:
        self._key = key
        self._keyed = frozenset(keyed)

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and _keyed(self._key, digest) in self._keyed

    def __bool__(self) -> bool:
        return bool(self._keyed)

    def __len__(self) -> int:
        return len(self._keyed)


def blocklist(dataset_dir: Path) -> Blocklist:
    """Removed images (matched by content, pixel or file sha256)."""
    data = load_removals(dataset_dir)
    return Blocklist(data["blocklist_key"], data["blocklist"])


def source_blocked(data: bytes, blocked: Blocklist) -> bool:
    """True if these exact file bytes were removed before."""
    return bool(blocked) and hashlib.sha256(data).hexdigest() in blocked


def append_removal(dataset_dir: Path, record: dict, digests: set[str]) -> None:
    """Add a removal record and the removed images' digests (stored keyed, never plain)."""
    path = Path(dataset_dir) / REMOVALS_FILE
    data = load_removals(dataset_dir)
    data["removals"].append(record)
    keyed = {_keyed(data["blocklist_key"], d) for d in digests}
    data["blocklist"] = sorted(set(data["blocklist"]) | keyed)
    path.write_text(json.dumps(data, indent=1) + "\n")


def mark_stale(dataset_dir: Path, manifest_sha256: str) -> None:
    """Record that models trained on this manifest hash are stale."""
    path = Path(dataset_dir) / STALE_FILE
    data = _read(path, {"stale_manifest_sha256": []})
    if manifest_sha256 not in data["stale_manifest_sha256"]:
        data["stale_manifest_sha256"].append(manifest_sha256)
    path.write_text(json.dumps(data, indent=1) + "\n")


def stale_hashes(dataset_dir: Path) -> frozenset[str]:
    return frozenset(
        _read(Path(dataset_dir) / STALE_FILE, {"stale_manifest_sha256": []})[
            "stale_manifest_sha256"
        ]
    )


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def _find_manifest_hash(obj: object) -> str | None:
    """The first "manifest_sha256" value anywhere in a model card / training history."""
    if isinstance(obj, Mapping):
        if _is_sha256(obj.get("manifest_sha256")):
            return obj["manifest_sha256"]
        for value in obj.values():
            found = _find_manifest_hash(value)
            if found:
                return found
    elif isinstance(obj, list):
        for value in obj:
            found = _find_manifest_hash(value)
            if found:
                return found
    return None


def is_model_stale(model: str | Path | Mapping, dataset_dir: Path) -> bool:
    """True if ``model`` was trained on a manifest that a removal has since replaced.

    model: a manifest sha256 (hex), a model card or training history as a dict, or the
    path of such a JSON file; the hash is read from its "manifest_sha256" field.
    """
    if isinstance(model, str) and _is_sha256(model.lower()):
        digest = model.lower()
    else:
        obj = json.loads(Path(model).read_text()) if isinstance(model, (str, Path)) else model
        digest = _find_manifest_hash(obj)
        if digest is None:
            raise ValueError(
                f"{model if isinstance(model, (str, Path)) else 'model card'}: "
                "no manifest_sha256 recorded"
            )
    return digest in stale_hashes(dataset_dir)
