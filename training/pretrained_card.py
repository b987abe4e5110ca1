"""Model cards for pretrained models (``peekless models card NAME``): ``model_card.json``
and ``MODEL_CARD.md`` in the same schema as our own models' (training/model_card.py),
with the provenance a third-party model needs: source, commit, licence, the sha256 of each
file and where it was found. Measured here: parameters, MACs, the compiled arena and
weights, and, given a dataset manifest, accuracy / ROC AUC / confusion of the float and
int8 files on its test split and the int8 operating points on its validation split."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from training.model_card import CARD_JSON, CARD_MD, SCHEMA, _fmt, _versions, keras_macs
from training.pretrained import find, get_model, locate


def build_pretrained_card(name: str, manifest_path: Path | None = None) -> dict:
    from compiler import compile_model
    from training.pretrained_load import load_keras_model

    model = get_model(name)
    files, found = {}, {}
    for a in model.artefacts:
        found[a.kind] = find(a)
        files[a.kind] = {"path": a.filename, "published_name": a.published_name, "url": a.url,
                         "bytes": a.bytes, "sha256": a.sha256, "found": found[a.kind].where,
                         "verified": found[a.kind].path is not None}  # fmt: skip
    # each file was found and hashed once, above
    float_path = locate(name, "float", found.get("float"))
    int8_path = locate(name, "int8", found.get("int8"))
    keras_model = load_keras_model(float_path)
    with tempfile.TemporaryDirectory() as tmp:
        compiled = compile_model(int8_path, Path(tmp))
    card = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "pretrained": {
            "name": model.name,
            "description": model.description,
            "licence": model.licence,
            "source": model.source,
            "notes": list(model.notes),
        },
        "model": {
            "name": model.name,
            "task": "person / no person in one camera frame (visual wake words)",
            "input": {
                "shape": list(model.input_shape),
                "colour": model.colour,
                "float": "pixels / 255",
                "int8": "pixel - 128 (scale 1/255, zero point -128)",
            },
            "outputs": list(model.outputs),
            "output_activation": model.output_activation,
            "files": files,
        },
        "size": {
            "parameters": int(keras_model.count_params()),
            "macs": compiled.macs,
            "macs_keras": keras_macs(keras_model),
            "arena_bytes": compiled.arena_bytes,
            "weight_bytes": compiled.weight_bytes,
        },
        "evaluation": None,
        "operating_points": None,
        "software": _versions(),
    }
    if manifest_path is not None:
        from training.ingest import load_manifest, manifest_sha256
        from training.model_card import evaluate_models
        from training.operating_points import split_operating_points

        manifest = load_manifest(manifest_path)
        card["dataset"] = {"name": manifest.get("name"), "manifest_sha256": manifest_sha256(manifest_path),
                           "counts": manifest.get("counts"),
                           "synthetic": str(manifest.get("name", "")).startswith("synthetic")}  # fmt: skip
        card["evaluation"] = evaluate_models(keras_model, int8_path, manifest_path, "test")
        card["operating_points"] = split_operating_points(int8_path, manifest_path, "val")
    card["limitations"] = _limitations(card)
    return card


def _limitations(card: dict) -> list[str]:
    notes = [
        "Detects whether a person is present; it does not identify anyone and must not be used to.",
        ("Trained by its publisher on COCO-derived photographs, not on doorbell footage: "
        "measure it on your own camera's frames (`peekless evaluate`) before relying on it."),
        ("Its training data is public photographs of people; no differential-privacy bound is "
        "claimed for its weights."),
    ]
    if card.get("dataset", {}).get("synthetic"):
        notes.append("The evaluation here is on synthetic, rendered scenes: it says little "
                     "about real images.")  # fmt: skip
    return notes


def write_pretrained_card(name: str, out_dir: Path, manifest_path: Path | None = None) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    card = build_pretrained_card(name, manifest_path)
    (out_dir / CARD_JSON).write_text(json.dumps(card, indent=1) + "\n")
    (out_dir / CARD_MD).write_text(render_pretrained_markdown(card))
    return card


def render_pretrained_markdown(card: dict) -> str:
    p, m, size = card["pretrained"], card["model"], card["size"]
    out = [f"# Model card: {p['name']} (pretrained)", "", p["description"], ""]
    out += [f"- Licence: {p['licence']}", f"- Source: {p['source']}",
            (f"- Input: {m['input']['shape']} {m['input']['colour']}; float {m['input']['float']}, "
            f"int8 {m['input']['int8']}"),
            f"- Outputs: {m['output_activation']} over {m['outputs']}"]  # fmt: skip
    out += ["", "## Files", "", "| kind | file | bytes | sha256 | found |", "|---|---|---|---|---|"]
    for kind, f in m["files"].items():
        out.append(f"| {kind} | `{f['path']}` ([published]({f['url']})) | {f['bytes']:,} | "
                   f"`{f['sha256']}` | {f['found']} |")  # fmt: skip
    out += ["", "## Size", "", f"- Parameters: {size['parameters']:,}",
            f"- MACs per inference: {size['macs']:,} (Peekless compiler)",
            f"- Compiled: arena {size['arena_bytes']:,} bytes, weights {size['weight_bytes']:,} bytes"]  # fmt: skip
    ev = card.get("evaluation")
    if ev:
        d = card["dataset"]
        out += ["", f"## Evaluation ({d['name']}, {ev['split']} split, {ev['images']:,} images)", ""]
        kinds = [k for k in ("float", "int8") if k in ev]
        out += ["| | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
        for key, label in (("accuracy", "accuracy"), ("roc_auc", "ROC AUC"),
                           ("person_recall", "person recall"),
                           ("false_positive_rate", "false positive rate")):  # fmt: skip
            out.append(f"| {label} | " + " | ".join(_fmt(ev[k][key]) for k in kinds) + " |")
        if "float_int8_agreement" in ev:
            out += ["", f"Float/int8 agreement: {_fmt(ev['float_int8_agreement'])}"]
    else:
        out += ["", "## Evaluation", "", ("Not evaluated here: `peekless models card NAME "
                "--manifest M` or `peekless evaluate` measure it on a dataset.")]  # fmt: skip
    if p["notes"]:
        out += ["", "## Notes", ""] + [f"- {note}" for note in p["notes"]]
    out += ["", "## Limitations", ""] + [f"- {n}" for n in card["limitations"]]
    sw = card["software"]
    out += ["", "---", f"Written {card['created']} by training/pretrained_card.py; "
            + ", ".join(f"{k} {v}" for k, v in sw.items()), ""]  # fmt: skip
    return "\n".join(out)
