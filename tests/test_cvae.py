"""The conditional VAE: labels in both networks, transfer changes only the
decoder's label input, its IWAE/ELBO by class, save/load, the seed rule and
refused input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen
from tfgen import zoo

SHAPE = (8, 8, 1)
TINY = dict(num_classes=3, latent_dim=2, hidden_units=(16,), seed=0)


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, *SHAPE)) < 0.4).astype("float32")
    return x, (np.arange(n) % 3).astype("int32")


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = tfgen.CVAE(SHAPE, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(3e-3, name="optimizer"))
    history = model.fit(x, y, epochs=10, batch_size=len(x), verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    return model


def test_exported_registered_and_config_round_trip():
    assert tfgen.CVAE is tfgen.models.CVAE is tfgen.models.get("CVAE")
    assert issubclass(tfgen.CVAE, tfgen.VAE)
    model = tfgen.CVAE(SHAPE, encoder="conv", decoder="conv", base_filters=4, **TINY)
    config = model.get_config()
    assert config["num_classes"] == 3 and config["encoder"] == "conv"
    assert tfgen.CVAE.from_config(config).get_config() == config
    # Both networks take the one-hot label as their second input.
    assert [tuple(t.shape) for t in model.encoder.inputs] == [(None, *SHAPE), (None, 3)]
    assert [tuple(t.shape) for t in model.decoder.inputs] == [(None, 2), (None, 3)]
    # The unconditional VAE keeps one input per network.
    assert len(tfgen.VAE(SHAPE, latent_dim=2, hidden_units=(16,)).decoder.inputs) == 1


def test_save_load_gives_identical_samples_and_bounds(trained, tmp_path):
    zoo.save(trained, str(tmp_path / "cvae"))
    loaded = zoo.load(str(tmp_path / "cvae"))
    assert type(loaded) is tfgen.CVAE
    for kwargs in ({}, {"labels": 2}, {"labels": [0, 1, 2, 0]}):
        np.testing.assert_array_equal(
            loaded.sample(4, seed=5, **kwargs), trained.sample(4, seed=5, **kwargs)
        )
    x, y = _data(4, seed=1)
    np.testing.assert_array_equal(loaded.transfer(x, y, 1), trained.transfer(x, y, 1))
    np.testing.assert_allclose(
        loaded.log_prob(x, y, num_samples=8), trained.log_prob(x, y, num_samples=8)
    )


def test_seed_rule_and_labels_of_samples(trained):
    first = trained.sample(3, seed=7, labels=1)
    np.testing.assert_array_equal(trained.sample(3, seed=7, labels=1), first)
    assert not np.array_equal(
        trained.sample(3, seed=None), trained.sample(3, seed=None)
    )
    # The same codes in another class: the label input changes the images.
    assert not np.allclose(trained.sample(3, seed=7, labels=2), first)
    # By default the classes cycle, as in ConditionalDCGAN.
    np.testing.assert_array_equal(
        trained.sample(4, seed=3), trained.sample(4, seed=3, labels=[0, 1, 2, 0])
    )
    with pytest.raises(TypeError, match="seed"):
        trained.sample(2, seed=1.5)
    keras.utils.set_random_seed(0)
    a = tfgen.CVAE(SHAPE, **TINY)
    keras.utils.set_random_seed(0)
    b = tfgen.CVAE(SHAPE, **TINY)
    np.testing.assert_array_equal(a.sample(2, seed=None), b.sample(2, seed=None))


def test_transfer_changes_only_the_decoder_label_input(trained, monkeypatch):
    x, y = _data(6, seed=2)
    target = (y + 1) % 3
    calls = {"encoder": [], "decoder": []}
    for name in calls:
        network = getattr(trained, name)

        def spy(inputs, training=False, _network=network, _name=name):
            calls[_name].append([np.asarray(t) for t in inputs])
            return _network(inputs, training=training)

        monkeypatch.setattr(trained, name, spy)
    same = trained.transfer(x, y, y)
    moved = trained.transfer(x, y, target)
    (enc_same, enc_moved), (dec_same, dec_moved) = calls["encoder"], calls["decoder"]
    eye = np.eye(3, dtype="float32")
    # The encoder sees the same image and source label both times ...
    for a, b in zip(enc_same, enc_moved):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(enc_same[1], eye[y])
    # ... the decoder the same code; only its label input differs.
    np.testing.assert_array_equal(dec_same[0], dec_moved[0])
    np.testing.assert_array_equal(dec_same[1], eye[y])
    np.testing.assert_array_equal(dec_moved[1], eye[target])
    monkeypatch.undo()
    # transfer(x, y, y) is the reconstruction; transfer(x, y, t) decodes
    # the source-label code with t.
    np.testing.assert_array_equal(same, trained.reconstruct(x, y))
    np.testing.assert_array_equal(moved, trained.decode(trained.encode(x, y), target))
    assert not np.allclose(moved, same)


def test_iwae_bound_by_class_is_above_the_elbo(trained):
    x, y = _data(6, seed=3)
    elbo = trained.elbo(x, y, num_samples=50, seed=4)
    iwae = trained.log_prob(x, y, num_samples=50, seed=4)
    # Same draws per image: a mean of log weights <= their log-mean-exp.
    assert np.all(elbo <= iwae + 1e-6)
    np.testing.assert_allclose(
        trained.log_prob(x, y, num_samples=1, seed=4),
        trained.elbo(x, y, num_samples=1, seed=4),
        rtol=1e-6,
    )
    # Each class is estimated on its own with that class's label: the same
    # numbers as calls with one class at a time.
    for label in range(3):
        rows = y == label
        np.testing.assert_array_equal(
            trained.log_prob(x[rows], label, num_samples=50, seed=4), iwae[rows]
        )
    # Without labels: the bound on log p(x) with p(y) uniform, the
    # logsumexp of every class's bound (each class's seed as above).
    per_class = [trained.log_prob(x, c, num_samples=50, seed=4) for c in range(3)]
    marginal = trained.log_prob(x, num_samples=50, seed=4)
    np.testing.assert_allclose(
        marginal, np.logaddexp.reduce(per_class, axis=0) - np.log(3), rtol=1e-12
    )
    assert np.all(marginal >= iwae - np.log(3) - 1e-9)
    # The label matters: another class gives another bound.
    assert not np.allclose(
        trained.log_prob(x, (y + 1) % 3, num_samples=50, seed=4), iwae
    )
    bits = trained.bits_per_dim(x, y, num_samples=50, seed=4)
    np.testing.assert_allclose(bits, -iwae / (np.log(2) * np.prod(SHAPE)), rtol=1e-6)


def test_interpolation_and_preview(trained):
    x, y = _data(2, seed=5)
    path = trained.interpolate(x[0], x[1], steps=4, labels=2, image_labels=y[:2])
    assert path.shape == (4, *SHAPE)
    np.testing.assert_allclose(path[0], trained.transfer(x[:1], y[:1], 2)[0], atol=1e-6)
    images, nrow = trained.preview(6, seed=0)
    assert images.shape == (6, *SHAPE) and nrow == 3


def test_bad_labels_are_refused(trained):
    x, y = _data(4, seed=6)
    with pytest.raises(ValueError, match=r"needs `labels`.*Received: labels=None"):
        trained.encode(x)
    with pytest.raises(ValueError, match=r"needs `labels`.*Received: labels=None"):
        trained.elbo(x)
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)\. Received values"):
        trained.transfer(x, y, 3)
    with pytest.raises(ValueError, match=r"`source_labels` must be an int or 4"):
        trained.transfer(x, np.eye(3, dtype="int32")[y], 0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        trained.log_prob(x, [0, 1, 2, -1], num_samples=2)
    with pytest.raises(ValueError, match=r"`labels` must be an int or 3"):
        trained.sample(3, seed=0, labels=[0, 1])
    with pytest.raises(TypeError, match="transfer"):
        trained.attribute_vector(x, y, 0, 1)
    with pytest.raises(ValueError, match="without labels"):
        trained.train_on_batch(x)
    with pytest.raises(
        ValueError, match=r"shape \(n,\).*Received labels of shape \(4, 3\)"
    ):
        trained.train_on_batch(x, np.eye(3, dtype="int32")[y])
    with pytest.raises(TypeError, match="integer class ids.*float32"):
        trained.train_on_batch(x, y.astype("float32"))
    with pytest.raises(ValueError, match="one label per image: 4 labels. Received 3"):
        trained.train_on_batch(x, y[:3])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"class ids in \[0, 3\)"):
        trained.train_on_batch(x, np.array([0, 1, 2, 3], "int32"))
