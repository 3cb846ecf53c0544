"""The ``denoising``, ``sparse``, ``variational`` and ``conv`` architectures: dense stays
bit-identical, the noise (and a VAE's eps) is a pure function of (seed, epoch, step) so
resuming equals training afresh, features come from clean inputs (a VAE's posterior
means), the L1 penalty (the KL term) enters the training loss, and conv reconstructs
rows of dataset.image_shape, odd sizes included."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from aesweep import AutoencoderFeatures
from aesweep.checkpoints import Checkpoints
from aesweep.config.validation import config_hash
from aesweep.conv import build_conv_autoencoder
from aesweep.errors import ConfigError
from aesweep.job import code_sparsity, prepare_job
from aesweep.model import build_autoencoder, crop_encoder
from aesweep.names import (
    CODE_MEAN_ABS,
    CODE_NEAR_ZERO,
    ENCODED,
    NEAR_ZERO,
    RECON_MSE_TEST,
    TRAIN_KL_LOSS,
    TRAIN_LOSS,
    TRAIN_RECON_LOSS,
    metric_key,
)
from aesweep.pipelines import autoencoder_from_config, check_autoencoder
from aesweep.runtime import has_gpu
from aesweep.task import JobContext, run_task
from aesweep.training import Trainer, use_xla

from helpers import TINY, compose_config

pytestmark = pytest.mark.xdist_group("keras")

# Computed by the dense code before denoising and sparse existed (tests/dense_reference.json).
REFERENCE = json.loads((Path(__file__).parent / "dense_reference.json").read_text())
NOISES = [("gaussian", 0.3), ("masking", 0.25), ("swap", 0.2)]


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((203, 12)).astype(np.float32)


def small(**params) -> AutoencoderFeatures:
    return AutoencoderFeatures(**{"bottleneck": 4, "hidden_units": [16, 8], "epochs": 3,
                                  "batch_size": 32, "random_state": 7, "jit_compile": False,
                                  **params})


def fresh_and_resumed(X, tmp_path, make=None, **params):
    """Fit 4 epochs afresh, and 2 then 2 more through a checkpoint; check that the
    resumed run's weights equal the fresh one's (to 1e-5); return (fresh, resumed)."""
    make = make or small
    fresh = make(epochs=4, **params).fit(X, validation_data=X[:50])
    make(epochs=2, checkpoint_dir=tmp_path, **params).fit(X, validation_data=X[:50])
    resumed = make(epochs=4, checkpoint_dir=tmp_path, **params).fit(X, validation_data=X[:50])
    assert resumed.resumed_from_epochs_ == 2
    for a, b in zip(resumed.autoencoder_.get_weights(), fresh.autoencoder_.get_weights(),
                    strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    return fresh, resumed


@pytest.mark.parametrize("jit", [False, True])
def test_dense_matches_the_recorded_reference(X, jit) -> None:
    """The plain dense model trains as it did when the reference was recorded, and as
    itself from one fit to the next, bit for bit.

    Across CPUs, TensorFlow's kernels sum in another order (AVX2 against AVX-512), so
    the reference holds to tolerances. Measured on an AVX-512 machine against a reference
    recorded elsewhere: losses within 3e-9, val_loss 1e-5 (relative), first kernel weights
    3e-8, weight sums 2.4e-4 (the biases before batch norm, whose gradients are ~0). A 1%
    change of the learning rate moves them 1.7e-3, 2e-4, 2e-4 and 2.9e-3."""
    ae = small(jit_compile=jit).fit(X, validation_data=X[:50])
    again = small(jit_compile=jit).fit(X, validation_data=X[:50])
    assert again.history_ == ae.history_
    for a, b in zip(again.autoencoder_.get_weights(), ae.autoencoder_.get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)

    reference = REFERENCE[str(jit)]
    np.testing.assert_allclose(ae.history_["loss"], reference["loss"], rtol=1e-7)
    np.testing.assert_allclose(ae.history_["val_loss"], reference["val_loss"], rtol=5e-5)
    weights = ae.autoencoder_.get_weights()
    np.testing.assert_allclose(np.asarray(weights[0]).ravel()[:5], reference["first"],
                               atol=1e-6)
    np.testing.assert_allclose([float(np.asarray(w, np.float64).sum()) for w in weights],
                               reference["weight_sums"], rtol=1e-5, atol=5e-4)


@pytest.mark.parametrize(("kind", "level"), NOISES)
def test_a_resumed_denoising_run_equals_a_fresh_one(X, tmp_path, kind, level) -> None:
    fresh, resumed = fresh_and_resumed(X, tmp_path, noise_kind=kind, noise_level=level)
    np.testing.assert_allclose(resumed.history_["loss"], fresh.history_["loss"], atol=1e-5)


@pytest.mark.parametrize(("kind", "level"), NOISES)
def test_noise_changes_training_but_not_validation_inputs(X, kind, level) -> None:
    dense = small().fit(X, validation_data=X[:50])
    noisy = small(noise_kind=kind, noise_level=level).fit(X, validation_data=X[:50])
    assert noisy.history_["loss"] != dense.history_["loss"]
    # Validation loss is the clean reconstruction error, as reconstruction_error measures it.
    np.testing.assert_allclose(noisy.history_["val_loss"][-1],
                               noisy.reconstruction_error(X[:50]), rtol=1e-5)
    # transform is deterministic: clean inputs, inference mode.
    np.testing.assert_array_equal(noisy.transform(X[:20]), noisy.transform(X[:20]))


def test_zero_noise_is_dense(X) -> None:
    dense = small().fit(X)
    zero = small(noise_kind="gaussian", noise_level=0.0).fit(X)
    assert zero.history_["loss"] == dense.history_["loss"]


@pytest.mark.parametrize(("params", "name"), [
    ({"noise_kind": "salt"}, "noise_kind"),
    ({"noise_kind": "masking", "noise_level": 1.5}, "noise_level"),
    ({"noise_level": -0.1}, "noise_level"),
    ({"l1": -1.0}, "l1"),
    ({"variational": True, "beta": -1.0}, "beta"),
    ({"variational": 1}, "variational"),
])
def test_bad_noise_and_l1_params_are_named(X, params, name) -> None:
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        small(**params).fit(X)


def test_the_l1_penalty_enters_the_training_loss_and_shrinks_the_code(X) -> None:
    dense = small(epochs=5).fit(X)
    sparse = small(epochs=5, l1=0.5).fit(X)
    assert sparse.history_["loss"][0] > dense.history_["loss"][0]
    assert np.abs(sparse.transform(X)).mean() < np.abs(dense.transform(X)).mean()


def test_a_resumed_sparse_run_equals_a_fresh_one(X, tmp_path) -> None:
    """The checkpoint keeps the penalty (a registered serializable regularizer)."""
    fresh = small(epochs=4, l1=0.1).fit(X)
    small(epochs=2, l1=0.1, checkpoint_dir=tmp_path).fit(X)
    resumed = small(epochs=4, l1=0.1, checkpoint_dir=tmp_path).fit(X)
    assert resumed.resumed_from_epochs_ == 2
    np.testing.assert_allclose(resumed.history_["loss"], fresh.history_["loss"], atol=1e-5)
    regularizer = resumed.autoencoder_.get_layer("bottleneck").activity_regularizer
    assert regularizer.get_config() == {"l1": 0.1}


def test_dense_checkpoints_keep_their_key(X) -> None:
    """Parameters at their defaults stay out of the key: older dense checkpoints match."""
    ae = small()
    key = ae._checkpoint_key(X, None)
    assert key == small(noise_kind=None, noise_level=0.0, l1=0.0)._checkpoint_key(X, None)
    assert key != small(l1=0.1)._checkpoint_key(X, None)
    assert key != small(noise_kind="swap", noise_level=0.1)._checkpoint_key(X, None)
    assert key == small(image_shape=None, filters=(16, 32))._checkpoint_key(X, None)
    assert key != small(image_shape=(4, 3, 1))._checkpoint_key(X, None)


def test_code_sparsity() -> None:
    codes = np.array([[0.0, 2.0], [NEAR_ZERO / 2, -1.0]])
    assert code_sparsity(codes) == {CODE_MEAN_ABS: pytest.approx((2 + NEAR_ZERO / 2 + 1) / 4),
                                    CODE_NEAR_ZERO: 0.5}


# --- the config group -----------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["denoising", "sparse", "variational", "conv"])
def test_members_share_the_dense_defaults(arch) -> None:
    dense = compose_config(["architecture.bottleneck=5"]).architecture
    other = compose_config([f"architecture={arch}", "architecture.bottleneck=5"]).architecture
    assert other.name == arch
    for key in ("bottleneck", "hidden_units", "activation", "batch_norm", "dropout"):
        assert other[key] == dense[key], key


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (["architecture=denoising", "architecture.noise.level=-1"], "architecture.noise.level",
     ">= 0"),
    (["architecture=denoising", "architecture.noise.kind=masking",
      "architecture.noise.level=1.5"], "architecture.noise.level", "in [0, 1]"),
    (["architecture=sparse", "architecture.l1=-0.5"], "architecture.l1", ">= 0"),
    (["architecture=variational", "architecture.beta=-1"], "architecture.beta", ">= 0"),
    (["architecture=conv", "architecture.filters=[16,0]"], "architecture.filters", ">= 1"),
])
def test_bad_values_name_the_config_key(overrides, key, message) -> None:
    cfg = compose_config(overrides)
    with pytest.raises(ConfigError) as error:
        check_autoencoder(cfg)
    assert error.value.key == key and message in str(error.value)


def test_each_member_sets_the_estimator_and_the_hash() -> None:
    cfgs = {arch: compose_config([f"architecture={arch}"])
            for arch in ("dense", "denoising", "sparse", "variational")}
    params = {arch: autoencoder_from_config(cfg).get_params() for arch, cfg in cfgs.items()}
    assert (params["dense"]["noise_kind"], params["dense"]["l1"]) == (None, 0.0)
    assert (params["denoising"]["noise_kind"], params["denoising"]["noise_level"]) == (
        "gaussian", 0.1)
    assert params["sparse"]["l1"] == 0.001
    assert (params["variational"]["variational"], params["variational"]["beta"]) == (True, 1.0)
    assert not any(params[arch]["variational"] for arch in ("dense", "denoising", "sparse"))
    assert len({config_hash(cfg) for cfg in cfgs.values()}) == 4


@pytest.mark.parametrize(("kind", "level"), NOISES)
def test_xla_trains_on_the_same_noise(X, kind, level) -> None:
    """The noise is drawn on the host: XLA changes results by round-off only."""
    graph = small(noise_kind=kind, noise_level=level).fit(X)
    xla = small(noise_kind=kind, noise_level=level, jit_compile=True).fit(X)
    np.testing.assert_allclose(xla.history_["loss"], graph.history_["loss"], rtol=1e-4)


@pytest.mark.parametrize(("kind", "level"), NOISES)
def test_chunking_does_not_change_the_noise(X, kind, level) -> None:
    """Each step draws its noise in step order, whatever the steps per compiled call."""
    losses = []
    for steps_per_call in (1, 4, None):
        keras.utils.set_random_seed(3)
        model, _ = build_autoencoder(12, 4, hidden_units=[16, 8])
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        trainer = Trainer(model, X, None, batch_size=32, seed=5, jit_compile=False,
                          steps_per_call=steps_per_call, noise=(kind, level))
        losses.append([trainer.epoch(e)["loss"] for e in range(2)])
    np.testing.assert_allclose(losses[0], losses[1], atol=1e-5)
    np.testing.assert_allclose(losses[0], losses[2], atol=1e-5)


# --- variational ----------------------------------------------------------------------------


def vae(**params) -> AutoencoderFeatures:
    return small(variational=True, **params)


def test_a_member_with_its_beta() -> None:
    cfg = compose_config(["architecture=variational", "architecture.beta=0.25"])
    assert (cfg.architecture.name, cfg.architecture.beta) == ("variational", 0.25)
    params = autoencoder_from_config(cfg).get_params()
    assert (params["variational"], params["beta"]) == (True, 0.25)


def test_transform_gives_the_posterior_means(X) -> None:
    ae = vae().fit(X)
    features = ae.transform(X[:30])
    np.testing.assert_array_equal(features, ae.transform(X[:30]))  # no sampling
    model = ae.autoencoder_
    means = keras.Model(model.input, model.get_layer("bottleneck").output)(X[:30])
    np.testing.assert_allclose(features, np.asarray(means), atol=1e-6)
    np.testing.assert_array_equal(ae.reconstruct(X[:30]), ae.reconstruct(X[:30]))


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_the_loss_is_recon_plus_beta_kl_per_epoch(X, beta) -> None:
    history = vae(beta=beta).fit(X, validation_data=X[:50]).history_
    assert {len(history[key]) for key in ("loss", "recon_loss", "kl_loss", "val_loss")} == {3}
    expected = np.add(history["recon_loss"], beta * np.asarray(history["kl_loss"]))
    np.testing.assert_allclose(history["loss"], expected, rtol=1e-6)
    assert min(history["kl_loss"]) > 0


def test_beta_changes_training(X) -> None:
    free, weighed = vae(beta=0.0).fit(X), vae(beta=1.0).fit(X)
    assert free.history_["loss"] != weighed.history_["loss"]
    # Without the KL weight nothing pulls the posterior towards the prior.
    assert free.history_["kl_loss"][-1] > weighed.history_["kl_loss"][-1]


def test_variational_checkpoints_keep_the_dense_key(X) -> None:
    key = small()._checkpoint_key(X, None)
    assert key == small(variational=False, beta=1.0)._checkpoint_key(X, None)
    assert key != vae()._checkpoint_key(X, None)
    assert vae(beta=0.5)._checkpoint_key(X, None) != vae()._checkpoint_key(X, None)


@pytest.mark.parametrize("noise", [{}, {"noise_kind": "swap", "noise_level": 0.2}])
def test_a_resumed_variational_run_equals_a_fresh_one(X, tmp_path, noise) -> None:
    fresh, resumed = fresh_and_resumed(X, tmp_path, make=vae, **noise)
    for key in ("loss", "recon_loss", "kl_loss", "val_loss"):
        np.testing.assert_allclose(resumed.history_[key], fresh.history_[key], atol=1e-5)


def test_a_variational_checkpoint_round_trip(X, tmp_path) -> None:
    """Every weight is saved, the log-variance head's included, and the model loads."""
    ae = vae().fit(X)
    checkpoints = Checkpoints(tmp_path, "key")
    checkpoints.save(ae.autoencoder_, 3, ae.history_)
    loaded, history = checkpoints.load(3)
    assert history == ae.history_
    saved = {v.path: np.asarray(v) for v in ae.autoencoder_.weights}
    assert any(path.startswith("z_log_var/") for path in saved)
    assert {v.path for v in loaded.weights} == set(saved)
    for variable in loaded.weights:
        np.testing.assert_array_equal(np.asarray(variable), saved[variable.path])
    np.testing.assert_array_equal(np.asarray(loaded(X[:20])),
                                  np.asarray(ae.autoencoder_(X[:20])))
    np.testing.assert_array_equal(np.asarray(crop_encoder(loaded)(X[:20])), ae.transform(X[:20]))


def test_chunking_and_xla_do_not_change_the_eps(X) -> None:
    """Each step draws its eps on the host in step order, whatever the steps per compiled
    call or XLA."""
    losses = []
    for steps_per_call, jit in ((1, False), (4, False), (None, False), (None, True)):
        keras.utils.set_random_seed(3)
        model, _ = build_autoencoder(12, 4, hidden_units=[16, 8], variational=True)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        trainer = Trainer(model, X, None, batch_size=32, seed=5, jit_compile=jit,
                          steps_per_call=steps_per_call, beta=0.5)
        losses.append([list(trainer.epoch(e).values()) for e in range(2)])
    for other in losses[1:]:
        np.testing.assert_allclose(other, losses[0], rtol=1e-4, atol=1e-5)


def test_beta_is_for_variational_models_only(X) -> None:
    dense, _ = build_autoencoder(12, 4, hidden_units=[8])
    dense.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="beta is for variational models"):
        Trainer(dense, X, None, batch_size=32, seed=0, jit_compile=False, beta=1.0)


def test_the_mixed_loss_is_the_reconstruction_term(X) -> None:
    """compute_loss: the compiled loss, here MSE plus cross-entropy on a one-hot block."""
    onehot = np.eye(3, dtype=np.float32)[np.arange(len(X)) % 3]
    mixed = np.hstack([X[:, :9], onehot])
    history = vae(categorical_blocks=(3,), beta=0.5).fit(mixed).history_
    np.testing.assert_allclose(history["loss"], np.add(history["recon_loss"],
                                                       0.5 * np.asarray(history["kl_loss"])),
                               rtol=1e-6)


def test_a_variational_job_logs_its_loss_terms_per_epoch(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    from aesweep.task import JobContext, run_task

    cfg = compose_config([*TINY, f"paths.root={tmp_path}", "architecture=variational",
                          "architecture.bottleneck=4", "trainer.epochs=2",
                          "tracking.log_model=false", "evaluation.bootstrap_resamples=0",
                          "evaluation.controls=[]"])
    outcome = run_task(cfg, JobContext())
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in (TRAIN_LOSS, TRAIN_RECON_LOSS, TRAIN_KL_LOSS):
        points = client.get_metric_history(outcome.run_id, name)
        assert sorted(point.step for point in points) == [1, 2], name
    loss, recon, kl = ({p.step: p.value for p in client.get_metric_history(outcome.run_id, n)}
                       for n in (TRAIN_LOSS, TRAIN_RECON_LOSS, TRAIN_KL_LOSS))
    for epoch in (1, 2):
        assert loss[epoch] == pytest.approx(recon[epoch] + kl[epoch], rel=1e-6)
# --- conv -------------------------------------------------------------------------------------

# X's 12 features as 4x3 one-channel images.
IMAGE = {"image_shape": (4, 3, 1), "filters": [4, 8]}


@pytest.mark.parametrize("image_shape", [(8, 8, 1), (7, 7, 1), (5, 3, 2)])
def test_conv_reconstructs_the_input_shape(image_shape) -> None:
    """Stride 2 rounds odd sizes up (7 -> 4 -> 2 -> 4 -> 8): the output is cropped back."""
    n = int(np.prod(image_shape))
    autoencoder, encoder = build_conv_autoencoder(n, 5, image_shape)
    assert autoencoder.input_shape == autoencoder.output_shape == (None, n)
    assert encoder.output_shape == (None, 5)
    image = autoencoder.get_layer("image").output.shape
    assert tuple(image[1:]) == image_shape
    names = [layer.name for layer in autoencoder.layers]
    assert ("crop" in names) == (image_shape != (8, 8, 1))
    X = np.random.default_rng(0).standard_normal((3, n)).astype(np.float32)
    assert autoencoder.predict(X, verbose=0).shape == (3, n)


def test_conv_transforms_to_the_bottleneck(X) -> None:
    ae = small(**IMAGE).fit(X, validation_data=X[:50])
    assert ae.transform(X).shape == (len(X), 4)
    assert ae.reconstruct(X[:7]).shape == (7, 12)
    assert ae.autoencoder_.get_layer("enc0_conv").__class__.__name__ == "Conv2D"
    assert ae.history_["val_loss"][-1] < ae.history_["val_loss"][0]


def test_a_resumed_conv_run_equals_a_fresh_one(X, tmp_path) -> None:
    fresh, resumed = fresh_and_resumed(X, tmp_path, **IMAGE)
    np.testing.assert_allclose(resumed.history_["loss"], fresh.history_["loss"], atol=1e-5)
    np.testing.assert_allclose(resumed.transform(X), fresh.transform(X), atol=1e-5)


@pytest.mark.parametrize(("params", "message"), [
    ({"image_shape": (4, 4, 1)}, "must hold the 12 features"),
    ({"image_shape": (-1, 5, 1)}, "must hold the 12 features"),
    ({"image_shape": (4, 3)}, "3 integers"),
    ({"image_shape": (4, 0, 3)}, "3 integers"),
    ({"image_shape": (4, 3, 1), "filters": [8, 0]}, "'filters' parameter"),
])
def test_bad_conv_params_are_named(X, params, message) -> None:
    with pytest.raises(ValueError, match=message):
        small(**params).fit(X)


def test_auto_keeps_conv_off_xla_on_a_cpu(X) -> None:
    """XLA's CPU convolutions are slower (bench/conv_step.py); forced, it trains the same."""
    if has_gpu():
        pytest.skip("on a GPU, XLA is always on")
    model, _ = build_conv_autoencoder(12, 4, (4, 3, 1))
    assert not use_xla(None, model, rows=10_000, epochs=100, batch_size=16)
    graph = small(**IMAGE).fit(X)
    xla = small(**IMAGE, jit_compile=True).fit(X)
    assert (graph.jit_compile_, xla.jit_compile_) == (False, True)
    np.testing.assert_allclose(xla.history_["loss"], graph.history_["loss"], rtol=1e-4)


def test_an_inferred_size_fills_the_row(X) -> None:
    ae = small(image_shape=(-1, 1, 1), filters=[4]).fit(X)
    assert tuple(ae.autoencoder_.get_layer("image").output.shape[1:]) == (12, 1, 1)


def test_conv_reads_the_dataset_image_shape_and_only_conv_hashes_it() -> None:
    digits = ["dataset=digits"]
    conv = compose_config([*digits, "architecture=conv"])
    assert conv.architecture.filters == [16, 32]
    params = autoencoder_from_config(conv).get_params()
    assert (params["image_shape"], params["filters"]) == ([8, 8, 1], [16, 32])
    assert autoencoder_from_config(compose_config(digits)).image_shape is None
    # Dense ignores the image shape: its hash (and earlier runs' hashes) stay as they were.
    assert config_hash(compose_config(digits)) == config_hash(
        compose_config([*digits, "dataset.image_shape=[64,1,1]"]))
    assert config_hash(conv) != config_hash(
        compose_config([*digits, "architecture=conv", "dataset.image_shape=[64,1,1]"]))


@pytest.mark.parametrize(("overrides", "message"), [
    (["dataset=digits", "dataset.image_shape=null"],
     r"needs the \[height, width, channels\] of a row's 64 features, e.g. "
     r"dataset.image_shape=\[8,8,1\]"),
    (["dataset=digits", "dataset.image_shape=[7,7,1]"], r"64 features of a row; got \[7, 7, 1\]"),
    (["dataset=digits", "dataset.image_shape=[8,0,1]"], r"each >= 1, holding the 64 features"),
    (["dataset=digits", "dataset.image_shape=[8,8]"], r"\[height, width, channels\]"),
    ([*TINY], r"a row's 20 features, e.g. dataset.image_shape=\[20,1,1\]"),
])
def test_a_missing_or_wrong_image_shape_names_the_key(overrides, message) -> None:
    with pytest.raises(ConfigError, match=rf"^dataset\.image_shape: .*{message}"):
        prepare_job(compose_config([*overrides, "architecture=conv"]))


def test_a_wrong_image_shape_fails_dense_too() -> None:
    """The shape describes the data: wrong for any architecture, though only conv reads it."""
    with pytest.raises(ConfigError, match=r"^dataset\.image_shape: .*64 features"):
        prepare_job(compose_config(["dataset=digits", "dataset.image_shape=[8,4,1]"]))


def test_a_conv_digits_job_logs_its_metrics(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    cfg = compose_config(["dataset=digits", "architecture=conv", "architecture.bottleneck=8",
                          "trainer.epochs=2", "evaluation.bootstrap_resamples=0",
                          "evaluation.controls=[pca]", f"paths.root={tmp_path}"])
    outcome = run_task(cfg, JobContext(overrides=["architecture=conv"]))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["architecture.name"] == "conv"
    assert run.data.params["architecture.filters"] == "[16, 32]"
    assert run.data.params["dataset.image_shape"] == "[8, 8, 1]"
    assert np.isfinite(run.data.metrics[RECON_MSE_TEST])
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 2
    assert run.data.metrics[metric_key(ENCODED, "accuracy")] > 0.5
