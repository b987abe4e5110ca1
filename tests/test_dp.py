"""DP-SGD: the accountant, per-example clipping and noise, and a tiny private training run
whose model still quantises and compiles."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from training.dp import compute_epsilon, noise_for_target_epsilon


def test_more_noise_fewer_steps_or_rarer_sampling_give_a_smaller_epsilon():
    q, steps, delta = 0.05, 500, 1e-5
    eps = [compute_epsilon(s, q, steps, delta) for s in (0.8, 1.0, 2.0, 4.0)]
    assert all(a > b for a, b in itertools.pairwise(eps)), eps
    assert compute_epsilon(1.0, q, 100, delta) < compute_epsilon(1.0, q, 1000, delta)
    assert compute_epsilon(1.0, 0.01, steps, delta) < compute_epsilon(1.0, 0.1, steps, delta)
    assert compute_epsilon(1.0, q, steps, 1e-3) < compute_epsilon(1.0, q, steps, 1e-7)
    assert compute_epsilon(0.0, q, steps, delta) == math.inf
    assert compute_epsilon(1.0, q, 0, delta) == 0.0


def _exact_gaussian_epsilon(sigma: float, delta: float) -> float:
    """The exact epsilon of one Gaussian release of sensitivity 1 (Balle & Wang 2018):
    delta(eps) = Phi(1/(2 sigma) - eps sigma) - e^eps Phi(-1/(2 sigma) - eps sigma)."""

    def phi(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    def delta_of(eps: float) -> float:
        return phi(0.5 / sigma - eps * sigma) - math.exp(eps) * phi(-0.5 / sigma - eps * sigma)

    lo, hi = 0.0, 50.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if delta_of(mid) > delta else (lo, mid)
    return hi


@pytest.mark.parametrize("sigma", [0.8, 1.0, 2.0, 4.0])
def test_one_unsampled_step_is_bounded_close_to_the_exact_gaussian_epsilon(sigma):
    # q = 1, one step: the plain Gaussian mechanism, whose privacy curve is known exactly.
    # RDP is an upper bound, and a close one; this pins the units (noise multiplier =
    # noise std / sensitivity) that train_dp passes to the accountant.
    exact = _exact_gaussian_epsilon(sigma, 1e-5)
    rdp = compute_epsilon(sigma, 1.0, 1, 1e-5)
    assert exact <= rdp <= 1.15 * exact, (exact, rdp)


@pytest.mark.parametrize("target", [1.0, 8.0])
def test_noise_for_target_epsilon_round_trips(target):
    q, steps, delta = 512 / 2250, 150, 1 / 2250
    sigma = noise_for_target_epsilon(target, q, steps, delta)
    eps = compute_epsilon(sigma, q, steps, delta)
    assert eps <= target and eps > 0.97 * target, (sigma, eps)
    assert compute_epsilon(sigma * 0.995, q, steps, delta) > target  # (nearly) the least noise


def test_bad_accounting_arguments_are_refused():
    with pytest.raises(ValueError):
        compute_epsilon(1.0, 1.5, 10, 1e-5)
    with pytest.raises(ValueError):
        compute_epsilon(1.0, 0.1, 10, 0.0)
    with pytest.raises(ValueError):
        compute_epsilon(-1.0, 0.1, 10, 1e-5)
    with pytest.raises(ValueError):
        noise_for_target_epsilon(0.0, 0.1, 10, 1e-5)


def _dense_model():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                             keras.layers.Dense(2)])  # fmt: skip


def _loop_gradients(model, x, y):
    """Per-example gradients the slow, obvious way: one GradientTape per example."""
    import tensorflow as tf

    out = []
    for i in range(len(x)):
        with tf.GradientTape() as tape:
            logits = model(x[i : i + 1], training=True)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y[i : i + 1],
                                                                  logits=logits)  # fmt: skip
        out.append([g.numpy() for g in tape.gradient(loss, model.trainable_variables)])
    return out


def test_per_example_gradients_equal_one_tape_per_example():
    from training.dp import build_dp_model, per_example_gradients

    rng = np.random.default_rng(0)
    for model, x in (
        (_dense_model(), rng.normal(size=(5, 4)).astype(np.float32)),
        (build_dp_model((16, 16, 1), width=0.125), rng.random((3, 16, 16, 1), np.float32)),
    ):
        y = np.array([0, 1, 1, 0, 1][: len(x)], dtype=np.int32)
        grads, losses, correct = per_example_gradients(model, x, y)
        expected = _loop_gradients(model, x, y)
        assert losses.shape == correct.shape == (len(x),)
        for i in range(len(x)):
            for g, e in zip(grads, expected[i]):
                np.testing.assert_allclose(g[i].numpy(), e, rtol=1e-4, atol=1e-6)


def test_clipping_bounds_each_examples_contribution():
    from training.dp import clip_and_sum, per_example_gradients

    model = _dense_model()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    x[2] *= 1e4  # an outlier: its first-layer gradient scales with its input...
    y = np.array([1, 0, 0, 1, 0, 1], dtype=np.int32)
    y[2] = 1 - int(np.argmax(model(x[2:3]).numpy()))  # ...when it is misclassified
    grads, _, _ = per_example_gradients(model, x, y)
    flat = np.concatenate([g.numpy().reshape(len(x), -1) for g in grads], axis=1)
    norms = np.linalg.norm(flat, axis=1)
    low = np.sort(norms)
    clip = float(low[0] + low[1]) / 2  # one example under the norm, the rest over it
    assert norms[2] > 100 * clip and (norms > clip).any() and (norms < clip).any()

    summed, reported = clip_and_sum(grads, clip)
    np.testing.assert_allclose(reported.numpy(), norms, rtol=1e-5)
    total = np.concatenate([s.numpy().ravel() for s in summed])
    expected = (flat * np.minimum(1.0, clip / norms)[:, None]).sum(axis=0)
    np.testing.assert_allclose(total, expected, rtol=1e-4, atol=1e-7)
    assert np.linalg.norm(total) <= len(x) * clip * (1 + 1e-6)

    # The huge example alone contributes exactly the clipping norm, in its own direction;
    # an example under the norm is passed through unchanged.
    alone, _ = clip_and_sum([g[2:3] for g in grads], clip)
    alone = np.concatenate([s.numpy().ravel() for s in alone])
    assert np.linalg.norm(alone) == pytest.approx(clip, rel=1e-5)
    np.testing.assert_allclose(alone, flat[2] * clip / norms[2], rtol=1e-4, atol=1e-9)
    small = int(np.argmin(norms))
    kept, _ = clip_and_sum([g[small : small + 1] for g in grads], clip)
    np.testing.assert_allclose(np.concatenate([s.numpy().ravel() for s in kept]), flat[small],
                               rtol=1e-5)  # fmt: skip


def test_noise_has_std_noise_multiplier_times_clip_over_the_expected_batch():
    import tensorflow as tf

    from training.dp import add_noise

    rng = tf.random.Generator.from_seed(0)
    zeros = [tf.zeros((200, 250)), tf.zeros((50_000,))]
    noisy = add_noise(zeros, noise_multiplier=2.0, l2_clip=0.5, expected_batch_size=4.0, rng=rng)
    values = np.concatenate([n.numpy().ravel() for n in noisy])
    assert abs(values.mean()) < 0.005
    assert values.std() == pytest.approx(2.0 * 0.5 / 4.0, rel=0.02)
    ones = add_noise([tf.ones((3,))], 0.0, 1.0, 4.0, rng)[0].numpy()
    np.testing.assert_allclose(ones, [0.25] * 3)  # no noise: the sum over the expected batch


def test_exactly_one_of_noise_and_target_epsilon(tmp_path):
    from peekless.errors import UserError
    from training.dp import train_dp

    with pytest.raises(UserError, match="exactly one"):
        train_dp(tmp_path / "m.json", tmp_path, noise_multiplier=1.0, target_epsilon=8.0)
    with pytest.raises(UserError, match="exactly one"):
        train_dp(tmp_path / "m.json", tmp_path)
    with pytest.raises(UserError, match="--init-model"):
        train_dp(tmp_path / "m.json", tmp_path, noise_multiplier=1.0, init_model=tmp_path / "x")


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    from training.dp import train_dp
    from training.synthetic import build_dataset

    root = tmp_path_factory.mktemp("dp")
    manifest = build_dataset(root / "data", n=200, seed=1, size=48)
    model = train_dp(manifest, root / "run", epochs=2, batch_size=32, target_epsilon=4.0,
                     l2_clip=1.0, dp_seed=0, verbose=False)  # fmt: skip
    return manifest, model


@pytest.mark.slow
def test_a_dp_run_records_the_accountants_epsilon(dp_run):
    from training.dp import ACCOUNTANT

    _, model = dp_run
    history = json.loads((model.parent / "training_history.json").read_text())
    n = history["dataset"]["train"]
    dp = history["dp"]
    assert dp["accountant"] == ACCOUNTANT == "dp-accounting RDP"
    assert dp["accountant_version"]
    assert dp["delta"] == pytest.approx(1 / n)
    assert dp["sampling_rate"] == pytest.approx(32 / n)
    assert dp["steps"] == 2 * math.ceil(n / 32)
    assert dp["l2_clip"] == 1.0 and dp["target_epsilon"] == 4.0
    assert dp["epsilon"] <= 4.0
    assert dp["epsilon"] == pytest.approx(
        compute_epsilon(dp["noise_multiplier"], dp["sampling_rate"], dp["steps"], dp["delta"])
    )
    # the keys train() writes
    assert {"config", "dataset", "train_seconds", "epochs"} <= set(history)
    assert history["dataset"]["manifest_sha256"] and len(history["epochs"]) == 2
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert np.isfinite(history["epochs"][-1][key])


@pytest.mark.slow
def test_the_dp_model_has_no_batchnorm_and_quantises_and_compiles(dp_run, tmp_path):
    import keras

    from compiler import compile_model
    from training.quantize import ALLOWED_OPS, int8_accuracy, operator_names, quantize

    manifest, model = dp_run
    kinds = {type(layer).__name__ for layer in keras.models.load_model(model).layers}
    assert "BatchNormalization" not in kinds and "GroupNormalization" not in kinds
    tflite = quantize(model, manifest, tmp_path / "dp_int8.tflite", calibration_count=40)
    assert set(operator_names(tflite)) <= ALLOWED_OPS
    result = compile_model(tflite, tmp_path / "generated")
    assert result.arena_bytes > 0 and (tmp_path / "generated" / "peekless_model.c").is_file()
    assert 0.0 <= int8_accuracy(tflite, manifest, "test") <= 1.0


def _history(model_dir, manifest):
    from training.ingest import manifest_sha256
    from training.run_paths import path_for_record

    recorded = path_for_record(manifest, model_dir)  # as train and train_dp record it
    (model_dir / "training_history.json").write_text(json.dumps(
        {"dataset": {"manifest": recorded, "manifest_sha256": manifest_sha256(manifest)}}
    ))  # fmt: skip


def test_check_public_refuses_a_model_trained_on_the_private_images(dp_run, tmp_path):
    from training.dp import check_public
    from training.synthetic import build_dataset

    manifest, _ = dp_run
    model = tmp_path / "m" / "model.keras"
    model.parent.mkdir()
    model.write_bytes(b"")
    assert check_public(model, manifest).startswith("not checked")
    _history(model.parent, manifest)
    with pytest.raises(ValueError, match="itself"):
        check_public(model, manifest)
    # another build that renders some of the same scenes (same seed, more images)
    overlapping = build_dataset(tmp_path / "overlap", n=20, seed=1, size=48)
    _history(model.parent, overlapping)
    with pytest.raises(ValueError, match="shares"):
        check_public(model, manifest)
    disjoint = build_dataset(tmp_path / "disjoint", n=20, seed=2, size=48)
    _history(model.parent, disjoint)
    assert check_public(model, manifest).startswith("no image")


@pytest.mark.slow
def test_fine_tuning_keeps_batchnorm_statistics_and_frozen_kernels(dp_run, tmp_path):
    import keras

    from training.dp import train_dp
    from training.model import build_model

    manifest, _ = dp_run
    public = build_model(input_shape=(48, 48, 1), width=0.125, seed=3)  # stands in for one
    public.save(tmp_path / "public.keras")  # trained on public data
    out = train_dp(manifest, tmp_path / "ft", epochs=1, batch_size=32, noise_multiplier=1.0,
                   init_model=tmp_path / "public.keras", train_only="bn_and_logits",
                   dp_seed=0, verbose=False)  # fmt: skip
    tuned = keras.models.load_model(out)
    changed = set()  # (layer class, variable name) of every weight that moved
    for before in public.layers:
        after = tuned.get_layer(before.name)
        for wb, wa in zip(before.weights, after.weights, strict=True):
            if not np.array_equal(wb.numpy(), wa.numpy()):
                changed.add((type(before).__name__, wb.path.split("/")[-1]))
    assert {("BatchNormalization", "gamma"), ("BatchNormalization", "beta")} <= changed
    assert ("Dense", "kernel") in changed
    # the statistics stay frozen at the public values, and so do the convolutions
    assert {cls for cls, _ in changed} == {"BatchNormalization", "Dense"}, changed
    assert not {name for _, name in changed} & {"moving_mean", "moving_variance"}
    history = json.loads((out.parent / "training_history.json").read_text())
    assert history["config"]["trained"] == "bn_and_logits"
    assert history["config"]["init_model"]["public_check"].startswith("not checked")
