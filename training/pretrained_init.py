"""The starting model of a fine-tune: ``peekless train MANIFEST --init NAME|path.keras|.h5``.

``prepare_init`` turns a pretrained model into a Peekless training start for the dataset:

- a registry name (``mlperf-vww``; training/pretrained.py) is located and its sha256
  checked; a file path is loaded as it is (.keras, or a Keras 2 .h5);
- a final softmax is removed: Peekless models output logits (training/model.py);
- for a gray dataset (1 channel) and an RGB model, the first convolution's kernel is
  summed over its three input channels (``training.pretrained_load.gray_model``): exact
  for a gray image replicated to R = G = B, which is what an RGB network sees of a gray
  photograph, so the start model scores a gray frame as the RGB model scores its gray copy;
- the input height and width must already match (no resizing of a pretrained network).

The start model is saved as ``OUT/init/init_model.keras`` and described by a record that the
training history and the model card carry: where it came from (registry name or file
name, never a path), its sha256 and licence, and what was adapted.

``apply_freeze`` sets what a recipe's ``freeze`` trains: "none" (every weight), "bn"
(BatchNormalization statistics and scales frozen: the layers run in inference mode), or
"backbone" (only the final Dense layer).
"""

from __future__ import annotations

import re
from pathlib import Path

from peekless.errors import UserError

INIT_FILE = "init_model.keras"
FREEZE = ("none", "bn", "backbone")


def prepare_init(spec: str, input_shape: tuple[int, int, int], out_dir: Path) -> tuple[Path, dict]:
    """(path of the saved start model, record) for ``spec`` and a dataset of ``input_shape``."""
    from training.file_hash import sha256_file
    from training.pretrained import MODELS, get_model, locate
    from training.pretrained_load import (
        gray_model,
        load_keras_model,
        logits_model,
        single_input_shape,
    )

    if spec in MODELS:
        model_info = get_model(spec)
        path = locate(spec, "float")  # verified: its sha256 is the pinned one
        record = {"pretrained": spec, "licence": model_info.licence, "source": model_info.source,
                  "sha256": model_info.artefact("float").sha256}  # fmt: skip
    else:
        path = Path(spec)
        if not path.is_file():
            raise UserError(f"--init {spec}: neither a known pretrained model nor a file",
                            "give a name from `peekless models` or a .keras / .h5 file")  # fmt: skip
        record = {"file": path.name, "sha256": sha256_file(path)}
    model = load_keras_model(path)
    shape = single_input_shape(model, str(spec))
    adapted = []
    if shape[:2] != tuple(input_shape[:2]):
        raise UserError(f"--init {spec} takes {shape[0]}x{shape[1]} images, the dataset has "
                        f"{input_shape[0]}x{input_shape[1]}",
                        "build the dataset at the model's size")  # fmt: skip
    start = logits_model(model)
    if start is not model:
        adapted.append("final softmax removed: the model outputs logits")
    if shape[2] == 3 and input_shape[2] == 1:
        start = gray_model(start)
        adapted.append("first convolution summed over its RGB input channels for gray input "
                       "(exact for a gray image replicated to R = G = B)")  # fmt: skip
    elif shape[2] != input_shape[2]:
        raise UserError(f"--init {spec} takes {shape[2]}-channel images, the dataset has "
                        f"{input_shape[2]}", "an RGB dataset needs an RGB model")  # fmt: skip
    import keras

    # Named after where it came from (the history's model_family), same layers and weights.
    stem = re.sub(r"\W+", "_", record.get("pretrained") or path.stem).strip("_") or "pretrained"
    start = keras.Model(start.inputs, start.outputs, name=f"{stem}_start")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / INIT_FILE
    start.save(target)
    record.update(input_shape=list(input_shape), adapted=adapted, params=int(start.count_params()))
    return target, record


def apply_freeze(model, freeze: str) -> None:
    """Set ``trainable`` per layer for a recipe's ``freeze`` (training_history.json's
    ``trainable_params`` then counts what trains)."""
    import keras

    if freeze not in FREEZE:
        raise ValueError(f"freeze must be one of {FREEZE}, not {freeze!r}")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer in model.layers:
        if freeze == "bn" and isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        elif freeze == "backbone":
            layer.trainable = bool(dense) and layer is dense[-1]
