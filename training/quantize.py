"""Full-integer (int8) TFLite conversion and bit-exact reference evaluation.

``quantize`` converts any single-input float Keras model (``.keras``, or a Keras 2 ``.h5``
such as MLPerf's; training/pretrained_load.py) with a pinned calibration subset of the
train split (equal numbers per class, fixed seed; the ids are written next to the model).
The model's int8 input is exactly what ``training/preprocess.py`` produces, scale 1/255 and
zero point -128, by construction: the converter takes the input's scale from the smallest
and largest calibration pixel, so the first calibration image gets one value set to 0 and
one to 255 when the chosen images do not already reach them (ordinary downscaled photos
often never reach 255). The result is still checked.

After converting, ``quantize`` measures the float and the int8 model on the test split and
writes ``quantize_report.json`` beside the .tflite: accuracy of each, and how often they
pick the same class (agreement).

``litert_predict`` runs the int8 model with LiteRT's *reference* kernels
(``OpResolverType.BUILTIN_REF``). The default resolver uses XNNPACK, which is not bit
exact against the reference, so it is never used here: these outputs are the ones the
firmware's kernels must reproduce byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from peekless.errors import UserError
from training.ingest import load_manifest, load_split, manifest_sha256
from training.preprocess import INPUT_SCALE, INPUT_ZERO_POINT, to_float_input, to_model_input

# Builtin operators the Peekless compiler lowers (the model family uses only these).
ALLOWED_OPS = frozenset(
    {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}
)
CALIBRATION_SPLIT = "train"
REPORT_SPLIT = "test"
REPORT_FILE = "quantize_report.json"


class QuantizationError(ValueError):
    """The converted model does not have the int8 interface the pipeline relies on."""


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def calibration_indices(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Indices of ``count`` images, half from each class (class 1 gets any odd one),
    drawn without replacement with a generator seeded by ``seed``; classes alternate."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(0xCA1,)))
    want = {0: count // 2, 1: count - count // 2}
    picked = {}
    for cls, n in want.items():
        pool = np.flatnonzero(labels == cls)
        if len(pool) < n:
            raise ValueError(
                f"calibration needs {n} images of class {cls}, the split has {len(pool)}"
            )
        picked[cls] = pool[rng.permutation(len(pool))[:n]]
    order = [int(i) for pair in zip(picked[1], picked[0]) for i in pair]
    order += [int(i) for i in picked[1][len(picked[0]) :]]
    return np.array(order, dtype=np.int64)


def pin_input_range(images: np.ndarray) -> tuple[np.ndarray, dict]:
    """The calibration images with the full pixel range 0..255 present, so the converter's
    input scale is 1/255 and its zero point -128 whatever the images' own range.

    Where the images never reach 0 (or 255), one value of the first image, its darkest
    (brightest) one, is set to 0 (255): one value of one image changes, so the other
    tensors' calibration ranges move by at most what that single value does. Returns
    (images, record of what was changed)."""
    images = np.array(images, dtype=np.uint8, copy=True)
    low, high = int(images.min()), int(images.max())
    first = images[0].reshape(-1)
    changed = []
    if low > 0:
        first[int(np.argmin(first))] = 0
        changed.append("darkest value -> 0")
    if high < 255:
        first[int(np.argmax(first))] = 255
        changed.append("brightest value -> 255")
    record = {
        "calibration_pixel_range": [low, high],
        "pinned": "first image: " + ", ".join(changed) if changed else "not needed",
    }
    return images, record


def quantize(
    model_path: Path,
    manifest_path: Path,
    out_path: Path,
    calibration_count: int = 200,
    seed: int = 0,
    report: bool = True,
) -> Path:
    """Convert the Keras model (.keras or .h5, one image input, two outputs, kept as it is:
    logits or softmax) to a full-integer int8 TFLite model at ``out_path``.

    Calibration: ``calibration_count`` images of the manifest's train split (fewer when a
    class has fewer than half of them), equal numbers per class, chosen with ``seed``;
    their indices in the split go to ``out_path.with_suffix('.calibration.json')``; ``pin_input_range``
    makes the input scale 1/255 and zero point -128 whatever their range. UserError for a
    missing file, a model Keras cannot load, or a model whose input the dataset does not
    fit; QuantizationError if the result still lacks that int8 interface. With ``report`` (the default), also
    writes ``quantize_report.json`` beside it (``quantize_report``) when the dataset has a
    test split.
    """
    from training.pretrained_load import fixed_batch_model, load_keras_model, single_input_shape

    tf = _tf()
    model_path, manifest_path, out_path = Path(model_path), Path(manifest_path), Path(out_path)
    if calibration_count < 2:
        raise ValueError(f"calibration_count must be >= 2, not {calibration_count}")
    if not manifest_path.is_file():
        raise UserError(f"{manifest_path}: no such dataset manifest", "give a manifest.json")
    keras_model = load_keras_model(model_path)
    shape = single_input_shape(keras_model, str(model_path))
    images, labels = load_split(manifest_path, CALIBRATION_SPLIT)
    if tuple(images.shape[1:]) != shape:
        raise UserError(
            f"{model_path} takes {shape} images, {manifest_path} holds {tuple(images.shape[1:])}",
            "use a dataset built for the model's input (size and channels)",
        )
    # Half per class: a small dataset with fewer images of one class calibrates on fewer.
    count = min(calibration_count, 2 * min(int(np.sum(labels == 0)), int(np.sum(labels == 1))))
    chosen = calibration_indices(labels, max(count, 2), seed)
    calibration, pinning = pin_input_range(images[chosen])

    model = fixed_batch_model(keras_model)

    def representative_dataset():
        for i in range(len(calibration)):
            yield [to_float_input(calibration[i : i + 1])]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    flatbuffer = converter.convert()

    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(flatbuffer)
    try:
        check_int8_interface(out_path)
    except QuantizationError:
        out_path.unlink()
        raise

    record = {
        "model": model_path.name,
        "tflite": out_path.name,
        "tflite_sha256": hashlib.sha256(flatbuffer).hexdigest(),
        "manifest_sha256": manifest_sha256(manifest_path),
        "split": CALIBRATION_SPLIT,
        "seed": seed,
        "count": len(chosen),
        "per_class": {
            "person": int((labels[chosen] == 1).sum()),
            "no_person": int((labels[chosen] == 0).sum()),
        },
        "input_range": pinning,
        "tensorflow_version": tf.__version__,
        # Positions in the split of the manifest hashed above, never image ids: an id is a
        # prefix of the source file's hash and would outlive a removal request.
        "indices": [int(i) for i in chosen],
    }
    out_path.with_suffix(".calibration.json").write_text(json.dumps(record, indent=1) + "\n")
    test_counts = load_manifest(manifest_path)["counts"].get(REPORT_SPLIT, {})
    if report and sum(test_counts.values()):  # no report for a dataset without a test split
        quantize_report(model_path, out_path, manifest_path, keras_model=keras_model)
    return out_path


def quantize_report(
    model_path: Path,
    tflite_path: Path,
    manifest_path: Path,
    split: str = REPORT_SPLIT,
    *,
    keras_model=None,
) -> dict:
    """Float and int8 accuracy on ``split`` and their agreement (same class picked), written
    to ``quantize_report.json`` beside the .tflite and returned. The int8 figures use
    LiteRT's reference kernels, i.e. what the device computes. ``keras_model``: the model
    at ``model_path`` already loaded (not loaded again)."""
    from training.train import predict_keras

    model_path, tflite_path = Path(model_path), Path(tflite_path)
    images, labels = load_split(manifest_path, split)
    if len(images) == 0:
        raise ValueError(f"{manifest_path}: split {split!r} is empty")
    float_model = model_path if keras_model is None else keras_model
    float_class = predict_keras(float_model, images).argmax(axis=1)
    int8_class = litert_predict(tflite_path, to_model_input(images)).argmax(axis=1)
    calibration = tflite_path.with_suffix(".calibration.json")
    cal = json.loads(calibration.read_text()) if calibration.exists() else {}
    flatbuffer = tflite_path.read_bytes()
    record = {
        "model": model_path.name,
        "tflite": tflite_path.name,
        "tflite_sha256": hashlib.sha256(flatbuffer).hexdigest(),
        "tflite_bytes": len(flatbuffer),
        "manifest_sha256": manifest_sha256(manifest_path),
        "split": split,
        "images": len(labels),
        "float_accuracy": float((float_class == labels).mean()),
        "int8_accuracy": float((int8_class == labels).mean()),
        "agreement": float((float_class == int8_class).mean()),
        "disagreements": int((float_class != int8_class).sum()),
        "int8_kernels": "LiteRT BUILTIN_REF (reference kernels, bit-exact with the device)",
        "calibration": {k: cal.get(k) for k in ("split", "seed", "count", "per_class")},
        "ops": sorted(set(operator_names(tflite_path))),
    }
    (tflite_path.parent / REPORT_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return record


def _interpreter(tflite_path: Path):
    """A LiteRT interpreter with the reference (bit-exact) kernels, never XNNPACK."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.BUILTIN_REF
    except ImportError:  # older stacks: the same interpreter shipped inside TensorFlow
        tf = _tf()
        Interpreter = tf.lite.Interpreter
        resolver = tf.lite.experimental.OpResolverType.BUILTIN_REF
    interpreter = Interpreter(model_path=str(tflite_path), experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    return interpreter


def check_int8_interface(tflite_path: Path) -> tuple[int, ...]:
    """Raise QuantizationError unless input is int8 (scale 1/255, zero point -128) and the
    output is int8; returns the input shape without the batch dimension."""
    interpreter = _interpreter(tflite_path)
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    scale, zero_point = inp["quantization"]
    problems = []
    if inp["dtype"] != np.int8:
        problems.append(f"input dtype is {np.dtype(inp['dtype']).name}, not int8")
    if not np.isclose(scale, INPUT_SCALE, rtol=1e-6, atol=0.0):
        problems.append(f"input scale is {scale!r}, not 1/255")
    if zero_point != INPUT_ZERO_POINT:
        problems.append(f"input zero point is {zero_point}, not {INPUT_ZERO_POINT}")
    if out["dtype"] != np.int8:
        problems.append(f"output dtype is {np.dtype(out['dtype']).name}, not int8")
    if problems:
        raise QuantizationError(f"{tflite_path}: " + "; ".join(problems))
    return tuple(int(d) for d in inp["shape"][1:])


def operator_names(tflite_path: Path) -> list[str]:
    """Builtin operator names of every operator in the model, in execution order."""
    import tflite

    model = tflite.Model.GetRootAsModel(Path(tflite_path).read_bytes(), 0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        codes.append(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()))
    ops = []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for j in range(graph.OperatorsLength()):
            code = codes[graph.Operators(j).OpcodeIndex()]
            ops.append(names.get(code, f"BUILTIN_{code}"))
    return ops


def litert_predict(
    tflite_path: Path,
    int8_inputs: np.ndarray,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> np.ndarray:
    """int8 outputs [N, num_classes] for int8 inputs [N, H, W, C], computed one image at a
    time with LiteRT's reference kernels (BUILTIN_REF). ``progress``, if given, wraps the
    iterable of image indices (a progress bar: ``lambda rows: tqdm(rows, ...)``)."""
    int8_inputs = np.asarray(int8_inputs)
    if int8_inputs.dtype != np.int8:
        raise TypeError(f"inputs must be int8 (see to_model_input), not {int8_inputs.dtype}")
    interpreter = _interpreter(tflite_path)
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    if tuple(int8_inputs.shape[1:]) != tuple(inp["shape"][1:]):
        raise ValueError(
            f"inputs have shape {int8_inputs.shape[1:]}, the model wants {tuple(inp['shape'][1:])}"
        )
    results = np.empty((len(int8_inputs), *out["shape"][1:]), dtype=np.int8)
    rows = range(len(int8_inputs))
    for i in progress(rows) if progress is not None else rows:
        interpreter.set_tensor(inp["index"], int8_inputs[i : i + 1])
        interpreter.invoke()
        results[i] = interpreter.get_tensor(out["index"])[0]
    return results


def int8_accuracy(tflite_path: Path, manifest_path: Path, split: str = "test") -> float:
    """Accuracy of the int8 model (reference kernels) on one split."""
    images, labels = load_split(manifest_path, split)
    outputs = litert_predict(tflite_path, to_model_input(images))
    return float((outputs.argmax(axis=1) == labels).mean())


def float_int8_agreement(
    model_path: Path, tflite_path: Path, manifest_path: Path, split: str = "test"
) -> float:
    """Fraction of images of a split where the float and int8 models pick the same class."""
    from training.train import predict_keras

    images, _ = load_split(manifest_path, split)
    float_class = predict_keras(model_path, images).argmax(axis=1)
    int8_class = litert_predict(tflite_path, to_model_input(images)).argmax(axis=1)
    return float((float_class == int8_class).mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="model.keras")
    p.add_argument("manifest", type=Path, help="dataset manifest.json")
    p.add_argument("out", type=Path, help="output .tflite")
    p.add_argument("--calibration-count", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    out = quantize(a.model, a.manifest, a.out, a.calibration_count, a.seed)
    print(f"tflite: {out}")
    print(format_report(json.loads((out.parent / REPORT_FILE).read_text())))
    return 0


def format_report(report: dict) -> str:
    """Human-readable lines for a ``quantize_report`` record."""
    ops = set(report["ops"])
    extra = ops - ALLOWED_OPS
    split, n = report["split"], report["images"]
    return "\n".join(
        [
            f"ops: {sorted(ops)}"
            + (f" (outside the compiler's set: {sorted(extra)})" if extra else ""),
            f"{split} accuracy (float, {n} images): {report['float_accuracy']:.4f}",
            f"{split} accuracy (int8, reference kernels): {report['int8_accuracy']:.4f}",
            (
                f"float/int8 agreement ({split}): {report['agreement']:.4f} "
                f"({report['disagreements']} of {n} differ)"
            ),
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
