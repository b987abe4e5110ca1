"""Differentially private training (DP-SGD) of the person detector.

``train_dp`` is ``training/train.py``'s ``train`` with DP-SGD (Abadi et al., 2016) in a
custom training step:

1. **Poisson sampling.** Each step includes every training example independently with
   probability ``q = batch_size / N``, so batches vary in size around ``batch_size``. This
   is the sampling that the accountant's ``PoissonSampledDpEvent`` assumes; shuffled
   fixed-size batches would need a different (weaker) analysis.
2. **Per-example gradients** with ``tf.vectorized_map`` over one ``tf.GradientTape`` per
   example: one graph, no Python loop (TensorFlow has no vectorised rule for the
   convolutions' filter gradients and loops over the examples inside the graph for those,
   with a warning). About 2 ms per 96x96 example at width 0.25 on 2 CPU cores, so a DP
   epoch costs about what an ordinary one does.
3. **Clipping.** Each example's gradient, all trainable variables together, is scaled to
   L2 norm at most ``l2_clip``; the clipped gradients are summed.
4. **Noise.** Gaussian noise of standard deviation ``noise_multiplier * l2_clip`` is added
   to every coordinate of the sum, which is then divided by the *expected* batch size
   ``q * N`` (not the drawn one, whose size is itself data-dependent), and handed to the
   optimiser. Anything the optimiser does after that (momentum, Adam, weight decay, the
   learning-rate schedule) is post-processing and costs no privacy.

The privacy loss is computed with Google's ``dp_accounting`` package: a Rényi-DP
accountant over ``steps`` compositions of the Poisson-subsampled Gaussian mechanism,
converted to (epsilon, delta). Only the *model weights* are covered: the per-epoch train
loss and accuracy that ``training_history.json`` records are computed on the training data
without noise and must not be published as if they were private.

**Normalisation.** BatchNormalization in training mode normalises each example with
statistics of the whole batch, so one example's gradient depends on the others and
per-example clipping no longer bounds its influence; its moving averages are a
non-private statistic of the training data too. GroupNormalization would be private but
does not fold into a convolution: the int8 TFLite model would gain MEAN / SUB / MUL /
RSQRT operators that ``compiler`` does not lower. So there are two DP models,
both of which fold to the same operators as ``training/model.py``'s and compile:

- from scratch (default): ``build_dp_model``, the same MobileNetV1-like network with no
  normalisation at all: a bias on every convolution (what a BatchNormalization with
  frozen statistics would fold into anyway) and ``hard_tanh`` (clip to [-1, 1]) instead of
  ReLU6. Zero-centred bounded activations train better under DP-SGD than ReLUs (Papernot
  et al., 2021, "tempered sigmoids"), and TFLite fuses the clip into the convolution as
  RELU_N1_TO_1, which the compiler lowers like RELU6.
- fine-tuning (``init_model``): a model trained on *public* data (for example
  ``training.train.train`` on synthetic scenes), BatchNormalization included. Every
  forward pass here runs it in inference mode, so its statistics stay frozen at the
  public values and each example's gradient depends on that example alone; gamma and
  beta are still trained. This is the recipe that works in practice (public
  pre-training, private fine-tuning; Tramer & Boneh, 2021; De et al., 2022): from scratch
  on a few thousand images, DP-SGD's noise is far larger than the gradient signal.

**Randomness.** The batches and the noise are the secret randomness the guarantee rests
on: anyone who can replay them can subtract the noise. They are drawn from OS entropy
unless ``dp_seed`` is given; a seeded run is reproducible (for tests and experiments) but
its guarantee holds only against someone who does not know the seed. The weight
initialisation and the augmentation follow ``seed`` as in ``train``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import secrets
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from peekless.errors import UserError
from training.ingest import load_manifest, manifest_sha256
from training.ingest.manifest import sha256_file
from training.preprocess import to_float_input
from training.run_paths import path_for_record, resolve_recorded
from training.train import GAIN_RANGE, MAX_SHIFT, augment, start_run

ACCOUNTANT = "dp-accounting RDP"
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 0.0
WEIGHT_AVERAGE = 0.99  # EMA momentum of the weights that are evaluated and saved
MODEL_FAMILY_SUFFIX = "_dp"  # build_dp_model's model name: the family without BatchNorm
DIRAC_NOISE = 0.1  # std of the noise on the depthwise kernels' Dirac initialisation
_BISECTION_RTOL = 1e-3


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def accountant_version() -> str:
    """Version of the installed ``dp-accounting`` package."""
    return metadata.version("dp-accounting")


# --------------------------------------------------------------------------- accounting


def _check_accounting(noise_multiplier: float, sampling_rate: float, steps: int, delta: float):
    if not noise_multiplier >= 0:
        raise ValueError(f"noise_multiplier must be >= 0, not {noise_multiplier}")
    if not 0.0 <= sampling_rate <= 1.0:
        raise ValueError(f"sampling_rate must be in [0, 1], not {sampling_rate}")
    if steps < 0 or int(steps) != steps:
        raise ValueError(f"steps must be a non-negative integer, not {steps}")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), not {delta}")


def compute_epsilon(
    noise_multiplier: float, sampling_rate: float, steps: int, delta: float
) -> float:
    """Epsilon of ``steps`` DP-SGD steps at (``sampling_rate``, ``noise_multiplier``),
    for the given ``delta``, from dp_accounting's RDP accountant.

    The mechanism is the Poisson-subsampled Gaussian (noise standard deviation
    ``noise_multiplier`` times the clipping norm, each example sampled with probability
    ``sampling_rate``), composed ``steps`` times. No noise gives ``inf``; no steps or an
    empty sample gives 0.
    """
    _check_accounting(noise_multiplier, sampling_rate, steps, delta)
    if steps == 0 or sampling_rate == 0.0:
        return 0.0
    if noise_multiplier == 0.0:
        return math.inf
    import dp_accounting
    from dp_accounting import rdp

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(
            sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier)
        ),
        int(steps),
    )
    # dp_accounting logs a warning for every fractional order whose series does not
    # converge and leaves that order out; leaving orders out can only raise epsilon.
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        accountant = rdp.RdpAccountant()
        accountant.compose(event)
        return float(accountant.get_epsilon(delta))
    finally:
        absl_logger.setLevel(level)


def noise_for_target_epsilon(
    target_epsilon: float, sampling_rate: float, steps: int, delta: float
) -> float:
    """The smallest noise multiplier (to a relative 1e-3) whose ``compute_epsilon`` is at
    most ``target_epsilon``, by bisection on the accountant (epsilon falls as noise rises).

    The result always satisfies ``compute_epsilon(result, ...) <= target_epsilon``.
    """
    if not target_epsilon > 0 or math.isinf(target_epsilon):
        raise ValueError(f"target_epsilon must be positive and finite, not {target_epsilon}")
    _check_accounting(1.0, sampling_rate, steps, delta)
    if compute_epsilon(0.0, sampling_rate, steps, delta) <= target_epsilon:
        return 0.0  # nothing is released about anyone (no steps, or empty samples)
    lo, hi = 0.0, 1.0
    while compute_epsilon(hi, sampling_rate, steps, delta) > target_epsilon:
        lo, hi = hi, hi * 2.0
        if hi > 1e6:
            raise ValueError(f"no noise multiplier below 1e6 reaches epsilon {target_epsilon}")
    while hi - lo > _BISECTION_RTOL * hi:
        mid = 0.5 * (lo + hi)
        if compute_epsilon(mid, sampling_rate, steps, delta) > target_epsilon:
            lo = mid
        else:
            hi = mid
    return hi


# ----------------------------------------------------------------------------- the model


def build_dp_model(
    input_shape: tuple[int, int, int] = (96, 96, 1),
    num_classes: int = 2,
    width: float = 0.25,
    seed: int = 0,
):
    """``training.model.build_model``'s network for DP-SGD from scratch: no
    BatchNormalization, a bias on every convolution, ``hard_tanh`` activations.

    Same stem, blocks, strides, pooling and logits layer. Initialisation keeps the
    signal's scale through the blocks without normalisation: LeCun-normal stem and
    pointwise kernels, near-identity (Dirac) depthwise kernels and a stem bias that centres
    the [0, 1] input; seeded by ``seed``.
    """
    import keras
    from keras import layers

    from training.model import BLOCKS, MODEL_FAMILY, STEM_FILTERS, _filters

    if width <= 0:
        raise ValueError(f"width must be > 0, not {width}")
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))

    def conv(filters: int, size: int, stride: int, name: str):
        init = keras.initializers.LecunNormal(seed=next(seeds))
        return layers.Conv2D(filters, size, strides=stride, padding="same",
                             kernel_initializer=init, name=name)  # fmt: skip

    def act(name: str):
        return layers.Activation("hard_tanh", name=name)

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = conv(_filters(STEM_FILTERS, width), 3, 2, "stem_conv")(inputs)
    x = act("stem_act")(x)
    for i, (filters, stride) in enumerate(BLOCKS, start=1):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", name=f"block{i}_dw")(x)
        x = act(f"block{i}_dw_act")(x)
        x = conv(_filters(filters, width), 1, 1, f"block{i}_pw")(x)
        x = act(f"block{i}_pw_act")(x)
    x = layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
        name="logits",
    )(x)
    model = keras.Model(inputs, logits, name=MODEL_FAMILY + MODEL_FAMILY_SUFFIX)

    # Set after building, not through custom initialisers, so that model.keras loads
    # without this module. Depthwise kernels: the centre tap 1 plus N(0, DIRAC_NOISE^2) on
    # every tap, so each starts as the identity (with its stride). With He-normal kernels
    # and nothing to restore the scale, the signal shrank about tenfold per block and the
    # per-example gradients were almost all in the logits layer.
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(0xD1AC,)))
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            kernel = rng.normal(0.0, DIRAC_NOISE, tuple(layer.kernel.shape)).astype(np.float32)
            kernel[1, 1] += 1.0
            layer.kernel.assign(kernel)
    stem = model.get_layer("stem_conv")  # conv(x - 0.5) = conv(x) - 0.5 * sum(taps)
    stem.bias.assign(-0.5 * np.sum(stem.kernel.numpy(), axis=(0, 1, 2)))
    return model


def check_public(init_model: Path, manifest_path: Path) -> str:
    """Refuse an ``init_model`` that was trained on any image of ``manifest_path``.

    Reads the ``training_history.json`` beside the model (as ``train`` and ``train_dp``
    write it): the manifest it names must not be this one, and none of its images' pixel
    hashes may occur in this one. Returns a one-line description of what was checked.
    """
    init_model, manifest_path = Path(init_model), Path(manifest_path)
    history_path = init_model.parent / "training_history.json"
    if not history_path.is_file():
        return f"not checked: no {history_path.name} beside {init_model.name}"
    dataset = json.loads(history_path.read_text()).get("dataset", {})
    if dataset.get("manifest_sha256") == manifest_sha256(manifest_path):
        raise ValueError(f"{init_model} was trained on {manifest_path} itself: not public data")
    recorded = dataset.get("manifest")  # relative to the model's folder (run_paths.py)
    public = resolve_recorded(recorded, init_model.parent)
    if public is None or not public.is_file():
        where = "not recorded" if public is None else f"{recorded} not found"
        return f"manifest hash differs; image overlap not checked (its manifest: {where})"
    private = {row["sha256"] for row in load_manifest(manifest_path)["images"]}
    shared = [row["id"] for row in load_manifest(public)["images"] if row["sha256"] in private]
    if shared:
        raise ValueError(
            f"{init_model} was trained on {public}, which shares {len(shared)} images with "
            f"{manifest_path} (e.g. {shared[0]}): not public data"
        )
    # written into the history: name the public data by its hash, not by where it lies
    return (
        f"no image of the public manifest {dataset.get('manifest_sha256', '?')[:16]}... "
        "occurs in this dataset (pixel sha256)"
    )


# ------------------------------------------------------------------------ the DP-SGD step


def per_example_gradients(model, x, y):
    """Per-example gradients of the cross-entropy loss (from logits).

    Returns (grads, losses, correct): ``grads`` is one tensor [n, *variable.shape] per
    trainable variable, ``losses`` [n] and ``correct`` [n] (1.0 where the argmax is the
    label). Computed with ``tf.vectorized_map`` over a per-example ``GradientTape``.
    """
    import tensorflow as tf  # not _tf(): this runs inside traced functions

    variables = model.trainable_variables

    def one(args):
        xi, yi = args
        with tf.GradientTape() as tape:
            logits = model(xi[None], training=False)  # BatchNorm, if any, stays frozen
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yi[None], logits=logits)
        grads = tape.gradient(loss, variables)
        correct = tf.cast(tf.equal(tf.argmax(logits[0], output_type=yi.dtype), yi), tf.float32)
        return grads, loss[0], correct

    return tf.vectorized_map(one, (x, y))


def clip_and_sum(grads, l2_clip: float):
    """Clip each example's gradient (all variables together) to L2 norm ``l2_clip`` and sum
    over examples.

    grads: one tensor [n, *variable.shape] per variable. Returns (summed, norms): the
    summed clipped gradient per variable and the unclipped per-example norms [n]. An
    example whose norm is at most ``l2_clip`` is kept as it is; a larger one is scaled
    by ``l2_clip / norm``. So the sum's norm is at most ``n * l2_clip``, and adding or
    removing one example moves it by at most ``l2_clip``.
    """
    import tensorflow as tf

    squares = [tf.reduce_sum(tf.reshape(tf.square(g), [tf.shape(g)[0], -1]), axis=1) for g in grads]
    norms = tf.sqrt(tf.add_n(squares))
    scale = tf.minimum(1.0, l2_clip / tf.maximum(norms, 1e-12))
    summed = [tf.tensordot(scale, g, axes=1) for g in grads]
    return summed, norms


def add_noise(summed, noise_multiplier: float, l2_clip: float, expected_batch_size: float, rng):
    """``(sum + N(0, (noise_multiplier * l2_clip)^2)) / expected_batch_size`` per variable.

    rng: a ``tf.random.Generator`` (the secret noise source).
    """
    import tensorflow as tf

    std = noise_multiplier * l2_clip
    return [(g + std * rng.normal(tf.shape(g))) / expected_batch_size for g in summed]


class _WeightAverage:
    """Exponential moving average of the trainable weights, with TensorFlow's warm-up
    (momentum ``min(momentum, (1 + t) / (10 + t))`` at update ``t``). Computed from the
    released noisy updates only, so it is post-processing and costs no privacy."""

    def __init__(self, variables, momentum: float):
        import tensorflow as tf

        self.variables = list(variables)
        self.momentum = float(momentum)
        self.count = tf.Variable(0.0, trainable=False)
        self.averages = [tf.Variable(v.numpy(), trainable=False) for v in self.variables]

    def update(self) -> None:
        import tensorflow as tf

        m = tf.minimum(self.momentum, (1.0 + self.count) / (10.0 + self.count))
        for a, v in zip(self.averages, self.variables):
            a.assign(m * a + (1.0 - m) * tf.convert_to_tensor(v))
        self.count.assign_add(1.0)

    def swap(self) -> None:
        """Exchange the model's weights and the averages (call twice to undo)."""
        for a, v in zip(self.averages, self.variables):
            current = v.numpy()
            v.assign(a.numpy())
            a.assign(current)


def _make_step(model, optimizer, l2_clip: float, noise_multiplier: float, expected_batch: float,
               noise_rng, average: _WeightAverage | None):  # fmt: skip
    tf = _tf()
    input_shape = tuple(model.inputs[0].shape[1:])
    variables = model.trainable_variables

    def release(summed):
        optimizer.apply(add_noise(summed, noise_multiplier, l2_clip, expected_batch, noise_rng),
                        variables)  # fmt: skip
        if average is not None:
            average.update()

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *input_shape), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ],
        reduce_retracing=True,
    )
    def step(x, y):
        grads, losses, correct = per_example_gradients(model, x, y)
        summed, norms = clip_and_sum(grads, l2_clip)
        release(summed)
        clipped = tf.reduce_sum(tf.cast(norms > l2_clip, tf.float32))
        return tf.reduce_sum(losses), tf.reduce_sum(correct), clipped, tf.reduce_sum(norms)

    @tf.function
    def noise_only_step():
        # An empty Poisson sample still releases a noisy (zero-sum) update.
        release([tf.zeros_like(v) for v in variables])

    return step, noise_only_step


def _evaluate(model, pixels: np.ndarray, labels: np.ndarray, batch_size: int = 256):
    tf = _tf()
    loss_sum = correct = 0.0
    for i in range(0, len(pixels), batch_size):
        logits = model(to_float_input(pixels[i : i + batch_size]), training=False)
        yb = labels[i : i + batch_size].astype(np.int32)
        loss_sum += float(
            tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits))
        )
        correct += float(np.sum(np.argmax(np.asarray(logits), axis=1) == yb))
    return loss_sum / len(pixels), correct / len(pixels)


def train_dp(
    manifest_path: Path,
    out_dir: Path,
    *,
    epochs: int = 30,
    batch_size: int = 32,
    seed: int = 0,
    width: float = 0.25,
    l2_clip: float = 1.0,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    delta: float | None = None,
    learning_rate: float = LEARNING_RATE,
    dp_seed: int | None = None,
    optimizer: str = "adam",
    weight_average: float | None = WEIGHT_AVERAGE,
    init_model: Path | None = None,
    init: str | None = None,
    train_only: str = "all",
    verbose: bool = True,
) -> Path:
    """Train a model on the manifest's train split with DP-SGD: ``build_dp_model`` from
    scratch, or ``init_model`` (trained on public data) fine-tuned.

    batch_size: the *expected* batch size; the sampling rate is ``batch_size / N``, and an
        epoch is ``ceil(N / batch_size)`` steps, so ``steps = epochs * ceil(N / batch_size)``.
    l2_clip: per-example gradient clipping norm. Far below the typical per-example norm
        (about 4 for these models) every example counts the same however wrong it is, and
        the update drifts towards the examples already fitted: fine-tuning at clip 1 raised
        the training loss even without noise. The noise grows with the clip, so pick it
        near the typical norm (``mean_grad_norm`` and ``clipped_fraction`` per epoch in the
        history help).
    noise_multiplier / target_epsilon: exactly one. With a target, the noise multiplier is
        the smallest one whose accountant epsilon for these steps is at most the target.
    delta: defaults to ``1 / N`` (the loosest value worth stating; a smaller one gives a
        stronger guarantee at a larger epsilon).
    learning_rate: peak of a cosine decay (to 2 %).
    optimizer: "adam" (AdamW) or "sgd" (momentum 0.9).
    weight_average: momentum of an exponential moving average of the weights, which is
        what is evaluated each epoch and saved (None: the last weights). Free of privacy
        cost: it only averages released updates.
    dp_seed: seeds the Poisson sampling and the noise. None (default) draws them from OS
        entropy: not reproducible, as a private run should be. See the module docstring.
    init_model: a .keras model trained on *public* data only, to fine-tune (its
        BatchNormalization statistics stay frozen; ``width`` is then ignored). The guarantee
        covers this dataset only; ``check_public`` refuses a model whose recorded training
        data shares images with it.
    init: instead of ``init_model``, a pretrained model to start from, as ``train``'s
        ``init`` (a registry name or a .keras / .h5 file; training/pretrained_init.py adapts
        it to the dataset and saves it as out_dir/init/init_model.keras, which is then the
        ``init_model``); the history's config records it under ``"init"``.
    train_only: "all" (every weight), or "bn_and_logits": only BatchNormalization's gamma
        and beta and the logits layer (about 2,000 of the 40,000 weights at width 0.25), for
        fine-tuning ``init_model``. The noise is added to every trained coordinate, so its
        total norm grows with the square root of their number: training fewer weights
        keeps the signal above it.

    Writes out_dir/model.keras and out_dir/training_history.json (``train``'s keys plus a
    ``"dp"`` block with the accountant's epsilon); returns the model path.
    """
    if (noise_multiplier is None) == (target_epsilon is None):
        raise UserError("--dp needs exactly one of --noise-multiplier and --target-epsilon")
    if not l2_clip > 0:
        raise UserError(f"--l2-clip must be above 0, not {l2_clip}")
    if batch_size < 1 or epochs < 1:
        raise UserError(f"--batch-size and --epochs must be 1 or more, not {batch_size}, {epochs}")
    if init is not None and init_model is not None:
        raise UserError("--init sets the starting model", "leave out --init-model")
    if init_model is not None and not Path(init_model).is_file():
        raise UserError(f"--init-model {init_model}: no such file (give a trained .keras model)")
    tf = _tf()
    import keras

    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    manifest, (x_train, y_train), (x_val, y_val) = start_run(manifest_path, out_dir, seed)
    input_shape = tuple(int(d) for d in x_train.shape[1:])
    init_record = None
    if init is not None:
        from training.pretrained_init import prepare_init

        init_model, init_record = prepare_init(init, input_shape, out_dir / "init")
    n = len(x_train)
    if batch_size > n:
        raise UserError(f"--batch-size {batch_size} is larger than the train split ({n} images)")
    q = batch_size / n
    steps_per_epoch = -(-n // batch_size)
    steps = epochs * steps_per_epoch
    delta = 1.0 / n if delta is None else float(delta)
    if noise_multiplier is None:
        noise_multiplier = noise_for_target_epsilon(target_epsilon, q, steps, delta)
    noise_multiplier = float(noise_multiplier)
    epsilon = compute_epsilon(noise_multiplier, q, steps, delta)
    if verbose:
        print(
            f"DP-SGD: N={n}, q={q:.5f}, {steps} steps, noise multiplier {noise_multiplier:.4f}, "
            f"clip {l2_clip}: epsilon {epsilon:.3f} at delta {delta:.3g}"
        )

    num_classes = 2
    if init_model is None:
        model, public_check = build_dp_model(input_shape, num_classes, width, seed), None
    else:
        public_check = check_public(init_model, manifest_path)
        model = keras.models.load_model(init_model)
        if tuple(model.input_shape[1:]) != input_shape or model.output_shape[-1] != num_classes:
            raise ValueError(
                f"{init_model} maps {model.input_shape[1:]} to {model.output_shape[-1]} classes;"
                f" this dataset needs {input_shape} to {num_classes}"
            )
    if train_only == "bn_and_logits":
        for layer in model.layers:
            layer.trainable = isinstance(layer, keras.layers.BatchNormalization) or (
                layer is model.layers[-1]
            )
        if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
            raise ValueError("train_only='bn_and_logits' needs a model with BatchNormalization")
    elif train_only != "all":
        raise ValueError(f"train_only must be 'all' or 'bn_and_logits', not {train_only!r}")
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=max(steps, 1), alpha=0.02
    )
    if optimizer == "adam":
        opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=WEIGHT_DECAY)
    elif optimizer == "sgd":
        opt = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', not {optimizer!r}")
    opt.build(model.trainable_variables)
    average = _WeightAverage(model.trainable_variables, weight_average) if weight_average else None

    secret = secrets.randbits(63) if dp_seed is None else int(dp_seed)
    sample_rng = np.random.default_rng(np.random.SeedSequence(entropy=secret, spawn_key=(0xD9,)))
    noise_rng = tf.random.Generator.from_seed(secret ^ 0x5EED_D9)
    aug_rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(0x7EA1,)))
    del secret
    step, noise_only_step = _make_step(model, opt, l2_clip, noise_multiplier, q * n, noise_rng,
                                       average)  # fmt: skip

    epochs_log: list[dict] = []
    started = time.perf_counter()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        seen = loss_sum = correct = clipped = norm_sum = 0.0
        for _ in range(steps_per_epoch):
            idx = np.flatnonzero(sample_rng.random(n) < q)
            if len(idx) == 0:
                noise_only_step()
                continue
            xb = augment(x_train[idx], aug_rng)
            out = step(tf.constant(xb), tf.constant(y_train[idx].astype(np.int32)))
            ls, cs, cl, ns = (float(v) for v in out)
            seen += len(idx)
            loss_sum, correct, clipped, norm_sum = (
                loss_sum + ls, correct + cs, clipped + cl, norm_sum + ns,
            )  # fmt: skip
        row = {
            "epoch": epoch + 1,
            "loss": loss_sum / max(seen, 1),
            "accuracy": correct / max(seen, 1),
            "clipped_fraction": clipped / max(seen, 1),
            "mean_grad_norm": norm_sum / max(seen, 1),
        }
        if len(x_val):
            if average is not None:
                average.swap()
            row["val_loss"], row["val_accuracy"] = _evaluate(model, x_val, y_val)
            if average is not None:
                average.swap()
        row["learning_rate"] = float(np.asarray(opt.learning_rate))
        row["seconds"] = round(time.perf_counter() - t0, 2)
        epochs_log.append(row)
        if verbose:
            print(
                f"epoch {epoch + 1}/{epochs}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"),
                flush=True,
            )
    seconds = time.perf_counter() - started

    if average is not None:
        average.swap()
    model_path = out_dir / "model.keras"
    model.save(model_path)
    init_model_record = None
    if init_model is not None:
        init_model_record = {
            "path": path_for_record(init_model, out_dir),
            "sha256": sha256_file(init_model),
            "public_check": public_check,
        }
    record = {
        "config": {
            "model_family": model.name,
            "recipe": "dp-sgd",
            "arch": model.name,
            "input_shape": list(input_shape),
            "num_classes": num_classes,
            "width": width,
            "epochs": epochs,
            "batch_size": batch_size,
            "steps_per_epoch": steps_per_epoch,
            "seed": seed,
            "optimizer": "AdamW" if optimizer == "adam" else "SGD, momentum 0.9",
            "learning_rate": learning_rate,
            "weight_average": weight_average,
            "schedule": "cosine, alpha 0.02",
            "weight_decay": WEIGHT_DECAY,
            "augmentation": (
                f"horizontal flip p=0.5, shift up to {MAX_SHIFT} px (edge padding), "
                f"gain {GAIN_RANGE[0]}..{GAIN_RANGE[1]}"
            ),
            "input": "pixels / 255 (training/preprocess.py to_float_input)",
            "normalisation": (
                "none (convolutions with biases, hard_tanh; see training/dp.py)"
                if init_model is None
                else "BatchNormalization frozen at the public model's statistics"
            ),
            "init_model": init_model_record,
            "params": int(model.count_params()),
            "trained": train_only,
            "trained_params": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
        },
        "dataset": {
            "manifest": path_for_record(manifest_path, out_dir),  # relative: no home folder
            "manifest_sha256": manifest_sha256(manifest_path),
            "name": manifest.get("name"),
            "generator_version": manifest.get("generator_version"),
            "train": n,
            "val": len(x_val),
        },
        "train_seconds": round(seconds, 2),
        "resumed_at_epoch": None,
        "checkpoints": None,
        "tensorboard": None,
        "epochs": epochs_log,
        "dp": {
            "epsilon": epsilon,
            "delta": delta,
            "noise_multiplier": noise_multiplier,
            "l2_clip": l2_clip,
            "sampling_rate": q,
            "expected_batch_size": batch_size,
            "steps": steps,
            "target_epsilon": target_epsilon,
            "sampling": "Poisson (each example independently with probability sampling_rate)",
            "accountant": ACCOUNTANT,
            "accountant_version": accountant_version(),
            "randomness": (
                "OS entropy (not reproducible)"
                if dp_seed is None
                else f"seeded with dp_seed={dp_seed}: reproducible, NOT private against "
                "anyone who knows the seed"
            ),
            "covers": (
                "the model weights only; the train loss/accuracy/clipping figures in "
                "'epochs' are computed on the training data without noise"
            ),
        },
    }
    if init_record is not None:
        record["config"]["init"] = init_record  # where the start came from (--init)
    (out_dir / "training_history.json").write_text(json.dumps(record, indent=1) + "\n")
    return model_path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("manifest", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--l2-clip", type=float, default=1.0)
    p.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    p.add_argument("--delta", type=float, default=None)
    p.add_argument("--dp-seed", type=int, default=None)
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--weight-average", type=float, default=WEIGHT_AVERAGE)
    p.add_argument("--init-model", type=Path, help="a .keras model trained on public data")
    p.add_argument("--train-only", choices=("all", "bn_and_logits"), default="all")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--noise-multiplier", type=float)
    g.add_argument("--target-epsilon", type=float)
    a = p.parse_args(argv)
    model_path = train_dp(
        a.manifest, a.out_dir, epochs=a.epochs, batch_size=a.batch_size, seed=a.seed,
        width=a.width, l2_clip=a.l2_clip, noise_multiplier=a.noise_multiplier,
        target_epsilon=a.target_epsilon, delta=a.delta, learning_rate=a.learning_rate,
        dp_seed=a.dp_seed, optimizer=a.optimizer, weight_average=a.weight_average or None,
        init_model=a.init_model, train_only=a.train_only,
    )  # fmt: skip
    from training.train import evaluate_keras

    print(f"model: {model_path}")
    print(f"test accuracy (float): {evaluate_keras(model_path, a.manifest):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
