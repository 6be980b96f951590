"""The model contract, checked for every public model class from one table.

A new family is a new row of `ROWS`: a tiny config and the data it trains
on. Each row is checked for: shapes, the `get_config` round trip, one `fit`
step in float32 and in mixed_bfloat16, a 2-replica step equal to a
1-replica step, identical outputs after save/load, the `seed` rule, and bad
input refused with a message that says what was expected.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen
from tfgen import training, zoo


@dataclasses.dataclass
class Row:
    cls: str
    config: dict
    image_shape: tuple
    data: str  # "unit": floats in [0, 1]; "binary"; "pairs": CycleGAN's (a, b)
    optimizers: tuple
    num_classes: int | None = None
    atol: float = 1e-6  # of the 2-replica weights

    def build(self):
        config = dict(self.config)
        if self.num_classes is not None:
            config["num_classes"] = self.num_classes
        return tfgen.models.get(self.cls)(image_shape=self.image_shape, **config)

    def batch(self, n=8, seed=0):
        rng = np.random.default_rng(seed)
        shape = (n, *self.image_shape)
        if self.data == "pairs":
            return (
                rng.random(shape).astype("float32"),
                rng.random(shape).astype("float32"),
            )
        x = rng.random(shape).astype("float32")
        if self.data == "binary":
            x = (x > 0.5).astype("float32")
        if self.num_classes is not None:
            return x, np.arange(n) % self.num_classes
        return x


_GAN = ("d_optimizer", "g_optimizer")
_ONE = ("optimizer",)
_RNN = dict(num_levels=2, units=6, num_layers=2, head_filters=12, seed=0)
_TABLE = [
    Row(
        "GAN",
        dict(latent_dim=8, hidden_units=(16, 32), dropout=0.0, seed=0),
        (8, 8, 1),
        "unit",
        _GAN,
    ),
    Row("DCGAN", dict(latent_dim=8, base_filters=4, seed=0), (8, 8, 1), "unit", _GAN),
    Row(
        "ConditionalDCGAN",
        dict(latent_dim=8, base_filters=4, seed=0),
        (8, 8, 1),
        "unit",
        _GAN,
        num_classes=3,
    ),
    Row(
        "WGANGP",
        dict(latent_dim=8, base_filters=4, n_critic=2, seed=0),
        (8, 8, 3),
        "unit",
        _GAN,
    ),
    # SNGAN's row also runs the shared GAN tools (DiffAugment, R1) through
    # every contract check; in the 2-replica step R1 is on GAN's row.
    Row(
        "SNGAN",
        dict(
            latent_dim=8,
            base_filters=4,
            d_steps=1,
            diff_augment="color,translation,cutout",
            r1_weight=1.0,
            seed=0,
        ),
        (8, 8, 3),
        "unit",
        _GAN,
    ),
    Row(
        "CycleGAN",
        dict(
            base_filters=4, num_blocks=1, discriminator_layers=2, pool_size=50, seed=0
        ),
        (8, 8, 3),
        "pairs",
        ("g_ab_optimizer", "g_ba_optimizer", "d_a_optimizer", "d_b_optimizer"),
        atol=1e-5,
    ),
    Row(
        "VAE",
        dict(
            latent_dim=4, hidden_units=(32,), base_filters=4, kl_warmup_steps=10, seed=0
        ),
        (28, 28, 1),
        "binary",
        _ONE,
    ),
    Row(
        "CVAE",
        dict(
            latent_dim=4, hidden_units=(32,), base_filters=4, kl_warmup_steps=10, seed=0
        ),
        (28, 28, 1),
        "binary",
        _ONE,
        num_classes=3,
    ),
    Row(
        "PixelCNN",
        dict(num_levels=2, filters=4, num_blocks=1, head_filters=8, seed=0),
        (6, 6, 1),
        "binary",
        _ONE,
    ),
    Row(
        "GatedPixelCNN",
        dict(num_levels=2, filters=4, num_layers=2, head_filters=8, seed=0),
        (6, 6, 1),
        "binary",
        _ONE,
        num_classes=3,
    ),
    Row(
        "PixelCNNPlusPlus",
        dict(
            num_levels=2,
            filters=4,
            num_blocks=1,
            num_mixtures=2,
            dropout=0.0,
            # One resolution keeps the row's traced graphs small; the
            # strided stages are tested in test_pixel_cnn_pp.py.
            num_downsamplings=0,
            seed=0,
        ),
        (2, 2, 3),
        "binary",
        _ONE,
        num_classes=3,
    ),
    Row("RowLSTMPixelRNN", _RNN, (4, 4, 1), "binary", _ONE),
    Row("DiagonalBiLSTMPixelRNN", _RNN, (4, 4, 1), "binary", _ONE),
]
ROWS = {row.cls: row for row in _TABLE}
NAMES = sorted(ROWS)
SAMPLERS = [n for n in NAMES if ROWS[n].data != "pairs"]


def _conditioning(row, n):
    return {} if row.num_classes is None else {"labels": np.arange(n) % row.num_classes}


def _outputs(model, row, seed=0):
    """What a user gets from the model: samples, or translations."""
    if row.data == "pairs":
        return model.translate(row.batch(2, seed=5)[0])
    return model.sample(2, seed=seed, **_conditioning(row, 2))


def test_every_public_model_class_has_a_row():
    public = {
        name
        for name in tfgen.models.__all__
        if isinstance(getattr(tfgen.models, name), type)
        and issubclass(getattr(tfgen.models, name), keras.Model)
    }
    # Abstract bases: subclassed, never trained as they are.
    abstract = {
        "GenerativeModel",
        "AdversarialModel",
        "AutoregressiveModel",
        "PixelRNN",
    }
    assert public - abstract == set(ROWS)


@pytest.fixture(scope="module")
def built():
    """`built(name)`: the row's model and its `_outputs`, made once for the
    tests that only read them (an autoregressive model's sampler trace is
    most of such a test's time)."""
    cache = {}

    def get(name):
        if name not in cache:
            model = ROWS[name].build()
            cache[name] = model, _outputs(model, ROWS[name])
        return cache[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_config_round_trip(name, built):
    row = ROWS[name]
    model, out = built(name)
    assert out.shape == (2, *row.image_shape) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    config = model.get_config()
    assert type(model).from_config(config).get_config() == config


def _fit_case(name, precision):
    # CycleGAN's steps (~18 s each, the trace of its four optimizers' step)
    # are checked in the default run by test_cycle_gan's mirrored
    # mixed-precision step (finite losses, every optimizer's name and
    # iterations).
    slow = name == "CycleGAN"
    return pytest.param(name, precision, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize(
    "name, precision",
    [_fit_case(n, p) for n in NAMES for p in ("float32", "mixed_bfloat16")],
)
def test_one_fit_step(name, precision):
    row = ROWS[name]
    model, history = training.train(
        row.build,
        tf.data.Dataset.from_tensor_slices(row.batch(8)).batch(4),
        1,
        precision=precision,
        seed=0,
        verbose=0,
    )
    logs = {k: v[-1] for k, v in history.history.items()}
    assert logs and all(np.isfinite(v) for v in logs.values()), logs
    # Every named optimizer was built in compile and stepped twice.
    for optimizer in row.optimizers:
        assert getattr(model, optimizer).name == optimizer
    assert int(getattr(model, row.optimizers[-1]).iterations.numpy()) >= 2


# CycleGAN's two-replica step takes ~45 s on one core; its distributed path
# stays in the default run through test_cycle_gan's mirrored pool test.
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n == "CycleGAN" else n for n in NAMES],
)
def test_two_replica_step_equals_one_replica_step(name):
    row = ROWS[name]
    # R1's double backward through spectral norm is a third of SNGAN's
    # 2-replica step (~6 of ~17 s); there R1 runs on the MLP GAN's row, at no
    # cost, and SNGAN's keeps DiffAugment's per-replica noise.
    moved = {"SNGAN": dict(r1_weight=0.0), "GAN": dict(r1_weight=1.0)}
    if name in moved:
        row = dataclasses.replace(row, config={**row.config, **moved[name]})

    def sgd():
        # SGD keeps the update linear in the gradient, so float reordering
        # across replicas stays at float tolerance (Adam's first step is
        # about sign(grad)).
        return {o: keras.optimizers.SGD(0.1, name=o) for o in row.optimizers}

    def run(strategy):
        model, _ = training.train(
            row.build,
            tf.data.Dataset.from_tensor_slices(row.batch(8)).batch(8),
            1,
            strategy=strategy,
            precision="float32",
            compile_kwargs=sgd,
            seed=1,
            verbose=0,
        )
        return model

    single = run("default")
    mirrored = training.get_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2
    double = run(mirrored)
    assert int(getattr(double, row.optimizers[-1]).iterations.numpy()) >= 1
    # CycleGAN's image pools hold each replica's share of the fakes, so only
    # the trainable weights are compared there.
    pools = row.data == "pairs"
    for a, b in zip(
        single.trainable_weights if pools else single.weights,
        double.trainable_weights if pools else double.weights,
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=row.atol)
    keras.utils.set_random_seed(1)
    fresh = row.build()
    assert any(
        not np.allclose(a, b) for a, b in zip(fresh.get_weights(), single.get_weights())
    ), "the step did not move the weights"


@pytest.mark.parametrize("name", NAMES)
def test_save_load_gives_identical_outputs(name, tmp_path, built):
    row = ROWS[name]
    model, outputs = built(name)
    zoo.save(model, str(tmp_path / "saved"))
    loaded = zoo.load(str(tmp_path / "saved"))
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(_outputs(loaded, row), outputs)
    if hasattr(model, "log_prob"):
        x = row.batch(2, seed=3)
        x = x[0] if isinstance(x, tuple) else x
        kwargs = {} if row.num_classes is None else {"labels": [0, 1]}
        if name in ("VAE", "CVAE"):  # an IWAE bound: a few fixed draws
            kwargs.update(num_samples=4, seed=0)
        np.testing.assert_allclose(
            loaded.log_prob(x, **kwargs), model.log_prob(x, **kwargs), rtol=1e-6
        )


@pytest.mark.parametrize("name", SAMPLERS)
def test_seed_rule(name):
    """An int seed gives the same images on every call; None draws fresh
    ones from the model's own SeedGenerator (reproducible from its seed)."""
    row = ROWS[name]
    keras.utils.set_random_seed(0)  # the same initial weights for `again`
    model = row.build()
    first = _outputs(model, row, seed=7)
    np.testing.assert_array_equal(_outputs(model, row, seed=7), first)
    fresh = [_outputs(model, row, seed=None) for _ in range(2)]
    assert not np.array_equal(fresh[0], fresh[1])
    # A model built with the same seed draws the same None-seeded sequence.
    keras.utils.set_random_seed(0)
    again = row.build()
    np.testing.assert_array_equal(_outputs(again, row, seed=None), fresh[0])
    with pytest.raises(TypeError, match="seed"):
        _outputs(model, row, seed=1.5)


def test_cycle_gan_does_not_pretend_to_sample():
    assert not hasattr(ROWS["CycleGAN"].build(), "sample")


@pytest.mark.parametrize("name", NAMES)
def test_bad_batches_are_refused(name):
    row = ROWS[name]
    model = row.build()
    model.compile()
    h, w, c = row.image_shape

    def batch(images):
        if row.data == "pairs":
            return images, images
        if row.num_classes is not None:
            return images, np.zeros(len(images), "int32")
        return (images,)

    with pytest.raises(ValueError, match=r"Expected .*shape"):
        model.train_on_batch(*batch(np.zeros((2, h + 2, w, c), "float32")))
    with pytest.raises(TypeError, match="float images"):
        model.train_on_batch(*batch(np.zeros((2, h, w, c), "uint8")))
    with pytest.raises(tf.errors.InvalidArgumentError, match="above 1"):
        model.train_on_batch(*batch(np.full((2, h, w, c), 255.0, "float32")))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
        model.train_on_batch(*batch(np.full((2, h, w, c), np.nan, "float32")))


@pytest.mark.parametrize("name", SAMPLERS)
def test_sizes_below_one_are_refused(name):
    row = ROWS[name]
    model = row.build()
    for kwargs in (dict(n=0), dict(n=2, batch_size=0), dict(n=2, batch_size=-1)):
        n = kwargs.pop("n")
        with pytest.raises(ValueError, match="positive integer"):
            model.sample(n, seed=0, **kwargs)
