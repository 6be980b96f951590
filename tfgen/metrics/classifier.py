"""Domain classifiers for 28x28 grayscale data, and the metrics built on them.

ImageNet features say little about digits and clothes, so for MNIST and
Fashion-MNIST tfgen also measures samples with a small CNN trained on the
data itself, as TF-GAN's `mnist_frechet_distance` and `mnist_score` do:

- `classifier_frechet_distance`: the Fréchet distance between Gaussians
  fitted to the classifier's penultimate-layer features (`frechet_distance`);
- `classifier_score`: exp E_x[KL(p(y|x) || p(y))] of its class
  probabilities (the Inception Score's formula, at most `num_classes`).

The classifiers ship like zoo models, in `<zoo>/classifiers/<name>/`
(`config.json`, `model.weights.h5`, `metadata.json` with the weights'
sha256 and the measured test accuracy), and load with the sha256 checked.
Train one with `tfgen classifier train mnist --export` (or
`train_classifier` and `export_classifier`): it goes to your zoo folder
(`tfgen.zoo.user_dir()`), never into the installed package.

```python
net = tfgen.metrics.load_classifier("mnist")
model = tfgen.zoo.load("dcgan_mnist")
real = tfgen.data.load_arrays("mnist", "test")[0]
tfgen.metrics.classifier_frechet_distance(model, real, net, num_samples=10000)
tfgen.metrics.classifier_score(model, net, num_samples=10000)
```
"""

import collections
import datetime
import hashlib
import json
import os
import time

import keras
import numpy as np
from keras import layers

from tfgen import __version__, data, training, zoo
from tfgen.metrics.features import INPUT_DTYPE, FeatureExtractor, features_of
from tfgen.metrics.fid import frechet_distance, statistics_from_features
from tfgen.metrics.inception_score import inception_score_from_logits
from tfgen.reporting import hardware_summary
from tfgen.validation import check_image_shape, check_positive_int

__all__ = [
    "CLASSIFIER_RECIPES",
    "ClassifierFeatureExtractor",
    "ClassifierFrechetDistance",
    "ClassifierScore",
    "DomainClassifier",
    "check_dataset",
    "classifier_dir",
    "classifier_export_dir",
    "classifier_extractor",
    "classifier_frechet_distance",
    "classifier_score",
    "evaluate_classifier",
    "export_classifier",
    "load_classifier",
    "train_classifier",
]

#: The shipped classifiers' training runs, and the test accuracy each must
#: reach: Adam with cosine decay; minutes on a 2-core CPU. `config` holds
#: `DomainClassifier` arguments, `augment` is None or "flip".
CLASSIFIER_RECIPES = {
    "mnist": {
        "epochs": 3,
        "batch_size": 128,
        "learning_rate": 2e-3,
        "precision": "mixed_bfloat16",
        "target_accuracy": 0.99,
    },
    "fashion_mnist": {
        "epochs": 3,
        "batch_size": 128,
        "learning_rate": 2e-3,
        "precision": "mixed_bfloat16",
        "target_accuracy": 0.90,
    },
    # Judges CycleGAN's cat <-> dog translations (its success rate): three
    # stages and random horizontal flips; about 15 minutes here.
    "cifar10": {
        "epochs": 12,
        "batch_size": 128,
        "learning_rate": 2e-3,
        "precision": "mixed_bfloat16",
        "config": {"filters": [32, 64, 128], "feature_dim": 256},
        "augment": "flip",
        "target_accuracy": 0.80,
    },
}
_CLASSIFIERS_DIR = "classifiers"

ClassifierFrechetDistance = collections.namedtuple(
    "ClassifierFrechetDistance", ["value", "features"]
)
ClassifierFrechetDistance.__doc__ = """Fréchet distance of classifier features;
`features` names the classifier, its layer and its weights' sha256."""
ClassifierScore = collections.namedtuple("ClassifierScore", ["mean", "std", "features"])
ClassifierScore.__doc__ = """exp E[KL(p(y|x) || p(y))] of a classifier's outputs:
mean and standard deviation over the splits; `features` names the classifier."""


@keras.saving.register_keras_serializable(package="tfgen")
class DomainClassifier(keras.Model):
    """A small CNN image classifier, for domain metrics.

    Images in [0, 1] go through `len(filters)` stages of two 3x3
    convolutions (batch norm, ReLU) and a 2x2 max pool, then a dense ReLU
    layer of `feature_dim` units, the penultimate layer whose activations
    are the features of `classifier_frechet_distance`, then dropout and a
    linear layer to `num_classes` logits:

        x (H, W, C) -> [conv3x3-BN-ReLU x 2, maxpool] x len(filters)
          -> flatten -> dense(feature_dim), ReLU      = features(x)
          -> dropout -> dense(num_classes)            = call(x), logits

    With the default sizes (28x28x1) it has 0.47M parameters. Its recipes
    (`CLASSIFIER_RECIPES`) target at least 99% test accuracy on MNIST, 90%
    on Fashion-MNIST and 80% on CIFAR-10 (which judges CycleGAN's cat <->
    dog translations); a shipped classifier's metadata records the accuracy
    measured on it.

    Args:
        image_shape: (height, width, channels) of the images.
        num_classes: number of classes.
        filters: convolution filters of each stage.
        feature_dim: units of the penultimate (feature) layer.
        dropout: dropout rate before the logits layer.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    net = tfgen.metrics.DomainClassifier()
    net.compile(optimizer="adam", metrics=["accuracy"],
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    net.fit(tfgen.data.load("mnist", labels=True, batch_size=128), epochs=3)
    features = net.features(images)  # (n, 128)
    ```

    References:
        Salimans et al., Improved Techniques for Training GANs, arXiv
        1606.03498 (the score's formula); Heusel et al., GANs Trained by a
        Two Time-Scale Update Rule Converge to a Local Nash Equilibrium,
        arXiv 1706.08500 (the Fréchet distance); TF-GAN's `mnist_score` and
        `mnist_frechet_distance` apply both to an MNIST classifier.
    """

    def __init__(
        self,
        image_shape=(28, 28, 1),
        num_classes=10,
        filters=(32, 64),
        feature_dim=128,
        dropout=0.3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = check_image_shape(image_shape)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.filters = tuple(check_positive_int(f, "filters") for f in filters)
        self.feature_dim = check_positive_int(feature_dim, "feature_dim")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(
                f"`dropout` must be in [0, 1). Received: dropout={dropout}"
            )
        self.dropout = float(dropout)
        self.backbone = self._build_backbone()
        self.dropout_layer = layers.Dropout(self.dropout, name="dropout")
        # Float32 logits keep the loss exact under mixed precision.
        self.head = layers.Dense(self.num_classes, name="logits", dtype="float32")
        self.head.build((None, self.feature_dim))
        self.build((None, *self.image_shape))

    def _build_backbone(self):
        inputs = keras.Input(self.image_shape)
        h = inputs
        for stage, filters in enumerate(self.filters):
            for i in range(2):
                h = layers.Conv2D(
                    filters, 3, padding="same", use_bias=False, name=f"conv{stage}_{i}"
                )(h)
                h = layers.BatchNormalization(momentum=0.9, name=f"bn{stage}_{i}")(h)
                h = layers.ReLU()(h)
            h = layers.MaxPooling2D(2, name=f"pool{stage}")(h)
        h = layers.Flatten()(h)
        features = layers.Dense(self.feature_dim, activation="relu", name="features")(h)
        return keras.Model(inputs, features, name="backbone")

    def build(self, input_shape):
        # The backbone and the head are built in __init__, so the model
        # holds its weights (and loads them) before it is first called.
        self.built = True

    def features(self, images, training=False):
        """Penultimate-layer activations (n, feature_dim) of images in [0, 1]."""
        return self.backbone(images, training=training)

    def call(self, images, training=False):
        h = self.features(images, training=training)
        return self.head(self.dropout_layer(h, training=training))

    def get_config(self):
        config = super().get_config()
        config.update(
            image_shape=list(self.image_shape),
            num_classes=self.num_classes,
            filters=list(self.filters),
            feature_dim=self.feature_dim,
            dropout=self.dropout,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# ------------------------------------------------------------- training
def check_dataset(dataset):
    """The image shape of `dataset`, a labelled dataset of `tfgen.data` a
    classifier can train on; `ValueError` naming them otherwise."""
    if dataset not in data.DATASETS or not data.DATASETS[dataset][2]:
        labelled = sorted(n for n, spec in data.DATASETS.items() if spec[2])
        raise ValueError(
            f"A domain classifier trains on a labelled dataset. Expected one of "
            f"{labelled}. Received: dataset={dataset!r}"
        )
    return data.DATASETS[dataset][3]


def evaluate_classifier(classifier, dataset="mnist", split="test", data_dir=None):
    """`(accuracy, loss)` of a classifier on a labelled split."""
    ds = data.load(dataset, split, data_dir=data_dir, labels=True, batch_size=500)
    correct, total, loss = 0, 0, 0.0
    for images, labels in ds:
        logits = np.asarray(classifier(images, training=False), "float64")
        labels = np.asarray(labels).astype("int64")
        correct += int((logits.argmax(axis=1) == labels).sum())
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss -= float(log_p[np.arange(len(labels)), labels].sum())
        total += len(labels)
    return correct / total, loss / total


def train_classifier(
    dataset="mnist",
    *,
    epochs=None,
    batch_size=None,
    learning_rate=None,
    precision=None,
    seed=0,
    data_dir=None,
    steps_per_epoch=None,
    config=None,
    verbose="auto",
):
    """Trains a `DomainClassifier` on a train split and measures it on test.

    Adam with a cosine decay of the learning rate to 0 over the run, batch
    norm, dropout, random horizontal flips if the recipe says so; the defaults are
    `CLASSIFIER_RECIPES[dataset]`. The test accuracy is measured on the
    float32 copy that `export_classifier` ships.

    Args:
        dataset: `"mnist"`, `"fashion_mnist"` or `"cifar10"` (any labelled
            dataset of `tfgen.data`).
        epochs, batch_size, learning_rate, precision: override the recipe.
        seed: seeds the initialization, dropout and the data order.
        data_dir: folder of `<dataset>.npz`; default `$TFGEN_DATA_DIR`.
        steps_per_epoch: cut epochs short (smoke tests).
        config: `DomainClassifier` arguments (e.g. smaller `filters`).
        verbose: passed to `fit`.

    Returns:
        `(classifier, info)`: the float32 model, and a dict with
        `test_accuracy`, `test_loss`, the recipe, hardware and wall time.

    Example:

    ```python
    net, info = tfgen.metrics.train_classifier("mnist")
    print(info["test_accuracy"])                     # the target is 0.99
    tfgen.metrics.export_classifier(net, info, "mnist")
    ```
    """
    image_shape = check_dataset(dataset)
    if isinstance(verbose, str) and verbose.isdigit():
        verbose = int(verbose)
    recipe = dict(CLASSIFIER_RECIPES.get(dataset, CLASSIFIER_RECIPES["mnist"]))
    recipe.pop("target_accuracy")
    base_config = recipe.pop("config", {})
    augment = recipe.pop("augment", None)
    overrides = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "precision": precision,
    }
    recipe.update({k: v for k, v in overrides.items() if v is not None})
    config = {"image_shape": list(image_shape), **base_config, **(config or {})}
    keras.utils.set_random_seed(seed)
    train = data.load(
        dataset,
        "train",
        data_dir=data_dir,
        labels=True,
        batch_size=recipe["batch_size"],
        shuffle=True,
        seed=seed,
    )
    if augment == "flip":
        flip = keras.layers.RandomFlip("horizontal", seed=seed)
        train = train.map(lambda x, y: (flip(x, training=True), y))
    elif augment is not None:
        raise ValueError(f"`augment` must be None or 'flip'. Received: {augment!r}")
    steps = steps_per_epoch or int(train.cardinality())
    start = time.time()
    with training.precision_policy(recipe["precision"]):
        model = DomainClassifier(**config)
        model.compile(
            optimizer=keras.optimizers.Adam(
                keras.optimizers.schedules.CosineDecay(
                    recipe["learning_rate"],
                    decay_steps=max(1, recipe["epochs"] * steps),
                )
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = model.fit(
            train,
            epochs=recipe["epochs"],
            steps_per_epoch=steps_per_epoch,
            shuffle=False,  # the pipeline shuffles, seeded
            verbose=verbose,
        )
    train_seconds = time.time() - start
    clean = DomainClassifier.from_config(_saved_config(model))
    clean.set_weights(model.get_weights())
    accuracy, loss = evaluate_classifier(clean, dataset, "test", data_dir)
    info = {
        "dataset": dataset,
        "test_accuracy": round(accuracy, 6),
        "test_loss": round(loss, 6),
        "train_accuracy_last_epoch": round(float(history.history["accuracy"][-1]), 6),
        "recipe": {
            **recipe,
            "config": config,
            "augment": augment,
            "seed": seed,
            "steps_per_epoch": steps_per_epoch,
        },
        "hardware": hardware_summary(),
        "train_seconds": round(train_seconds, 1),
        "tfgen_version": __version__,
        "keras_version": keras.__version__,
        "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return clean, info


def _saved_config(model):
    config = model.get_config()
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    return config


# -------------------------------------------------------------- shipping
def classifier_dir(name, zoo_dir=None):
    """The folder `load_classifier(name)` reads: `<zoo_dir>/classifiers/<name>/`
    when `zoo_dir` is given; else the shipped one (in
    `tfgen.zoo.artifacts_dir()`) when it exists, else yours (in
    `tfgen.zoo.user_dir()`, where `export_classifier` writes). As for zoo
    entries, a classifier of your own never replaces a shipped one."""
    if zoo_dir:
        return os.path.join(zoo_dir, _CLASSIFIERS_DIR, zoo.check_name(name))
    shipped = classifier_dir(name, zoo.artifacts_dir())
    return shipped if os.path.isdir(shipped) else classifier_export_dir(name)


def classifier_export_dir(name, zoo_dir=None):
    """Where `export_classifier` writes by default:
    `<zoo_dir>/classifiers/<name>/`, `zoo_dir` defaulting to your zoo folder
    (`tfgen.zoo.user_dir()`: `$TFGEN_ZOO_DIR`, else
    `~/.local/share/tfgen/zoo`), never the installed package."""
    return os.path.join(
        zoo_dir or zoo.user_dir(), _CLASSIFIERS_DIR, zoo.check_name(name)
    )


def export_classifier(
    classifier, info, name=None, zoo_dir=None, directory=None, overwrite=False
):
    """Saves a classifier as `tfgen.zoo.save` does (config.json,
    model.weights.h5, metadata.json with the sha256), with `info` (the test
    accuracy, recipe, hardware, wall time) in the metadata; into
    `directory`, or `classifier_export_dir(name or info['dataset'], zoo_dir)`
    (your zoo folder by default; pass the checkout's `zoo/` to ship one). An
    existing non-empty folder raises `FileExistsError` unless `overwrite`.
    Returns the folder."""
    directory = directory or classifier_export_dir(name or info["dataset"], zoo_dir)
    metadata = dict(info)
    metadata.setdefault(
        "command",
        f"tfgen classifier train {info.get('dataset', name)} --export",
    )
    zoo.save(classifier, directory, metadata=metadata, overwrite=overwrite)
    return directory


def load_classifier(name="mnist", zoo_dir=None):
    """A shipped classifier (`"mnist"`, `"fashion_mnist"`) or one in a folder
    written by `export_classifier` (given as a path, see `tfgen.zoo.is_path`),
    loaded by `tfgen.zoo.load`, which checks its files against their sha256
    (`tfgen.files.ChecksumError` on a mismatch). The metadata is kept as
    `classifier.metadata`."""
    if zoo.is_path(name):
        directory = os.path.expanduser(os.fspath(name))
    else:
        directory = classifier_dir(name, zoo_dir)
        if not os.path.isdir(directory):
            roots = [zoo_dir] if zoo_dir else [zoo.artifacts_dir(), zoo.user_dir()]
            folders = [os.path.join(root, _CLASSIFIERS_DIR) for root in roots]
            found = sorted(
                {n for f in folders if os.path.isdir(f) for n in os.listdir(f)}
            )
            raise FileNotFoundError(
                f"No classifier {name!r} (looked in "
                f"{' and '.join(os.path.join(f, name) for f in folders)}). Found: "
                f"{found or 'none'}. Train it with `tfgen classifier train {name} "
                "--export` (a few minutes on a CPU; it writes to "
                f"{classifier_export_dir(name, zoo_dir)})."
            )
    classifier = zoo.load(directory)
    if not isinstance(classifier, DomainClassifier):
        raise TypeError(
            f"{directory} holds a {type(classifier).__name__}. Expected: DomainClassifier"
        )
    with open(os.path.join(directory, zoo.METADATA_FILE)) as f:
        classifier.metadata = json.load(f)
    return classifier


# --------------------------------------------------------------- metrics
def _weights_digest(classifier):
    digest = hashlib.sha256()
    for weight in classifier.get_weights():
        digest.update(np.ascontiguousarray(weight, "float32").data)
    return digest.hexdigest()


class _ClassifierNetwork:
    """Puts a `DomainClassifier` behind `FeatureExtractor`'s network
    interface: uint8 levels in, penultimate features out, `logits(features)`."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.output_layer = classifier.head

    def __call__(self, levels):
        expected = tuple(self.classifier.image_shape)
        if tuple(levels.shape[1:]) != expected:
            raise ValueError(
                f"The domain classifier takes images of shape (n, {', '.join(map(str, expected))}). "
                f"Received: shape={tuple(levels.shape)}"
            )
        return self.classifier.features(levels / 255.0, training=False)

    def logits(self, features):
        return self.classifier.head(keras.ops.convert_to_tensor(features, "float32"))


class ClassifierFeatureExtractor(FeatureExtractor):
    """Penultimate features (and logits) of a `DomainClassifier`, batch by batch.

    The images pass through `to_uint8_levels` as for the FID network (float
    images are rounded to 256 levels), then enter the classifier in [0, 1]
    at their own size (no resize), which must be the classifier's
    `image_shape`. `protocol` names the features for the results and the
    reference cache; the results are named `classifier_fd`,
    `classifier_kid`, `classifier_score`, ...; the score takes one split
    by default, as TF-GAN's `mnist_score`.

    Args:
        classifier: a `DomainClassifier`.
        batch_size: images per forward pass.
        progress: show a tqdm progress bar.
        protocol: overrides of the protocol dict (e.g. `weights_sha256`).

    Example:

    ```python
    extractor = tfgen.metrics.classifier_extractor("mnist")
    features, logits = extractor.features(images, logits=True)
    ```
    """

    name = "classifier"

    def __init__(self, classifier, batch_size=256, progress=True, protocol=None):
        super().__init__(
            network=_ClassifierNetwork(classifier),
            batch_size=batch_size,
            progress=progress,
        )
        self.classifier = classifier
        metadata = getattr(classifier, "metadata", {}) or {}
        dataset = metadata.get("dataset", "unsaved")
        self.protocol = {
            "feature_network": f"tfgen DomainClassifier ({dataset}) penultimate layer",
            "feature_dim": classifier.feature_dim,
            "weights_sha256": metadata.get("sha256") or _weights_digest(classifier),
            "resize": "none ({}x{}x{} input)".format(*classifier.image_shape),
            "input_dtype": INPUT_DTYPE,
        }
        if "test_accuracy" in metadata:
            self.protocol["classifier_test_accuracy"] = metadata["test_accuracy"]
        self.protocol.update(protocol or {})

    @property
    def image_shape(self):
        return tuple(self.classifier.image_shape)

    def describe(self, output="features"):
        """One line naming the classifier, the layer read and its weights."""
        network = self.protocol["feature_network"]
        if output == "logits":
            network = network.replace(
                "penultimate layer", f"{self.classifier.num_classes}-way softmax"
            )
        else:
            network += f" ({self.protocol['feature_dim']}-d)"
        return f"{network}, weights sha256 {self.protocol['weights_sha256'][:12]}"


def classifier_extractor(classifier="mnist", batch_size=256, progress=True):
    """A `ClassifierFeatureExtractor` of a classifier, a shipped name or a folder."""
    if not isinstance(classifier, DomainClassifier):
        classifier = load_classifier(classifier)
    return ClassifierFeatureExtractor(classifier, batch_size, progress)


def _extractor(classifier, batch_size, progress):
    if isinstance(classifier, ClassifierFeatureExtractor):
        return classifier
    return classifier_extractor(classifier, batch_size, progress)


def classifier_frechet_distance(
    a,
    b,
    classifier="mnist",
    num_samples=None,
    seed=0,
    batch_size=256,
    progress=True,
    method="sqrtm",
):
    """Fréchet distance between two image sources in a classifier's features.

    The FID recipe with the domain classifier's penultimate layer in place
    of Inception pool3: Gaussians are fitted to the features of each set and
    compared by `frechet_distance`. Lower is better. Numbers are comparable
    only under one classifier (its weights' sha256 is in the result).

    Args:
        a, b: each uint8 images (n, 28, 28[, 1]), float images in [0, 1], a
            `tf.data.Dataset`, a model with `sample(n, seed=...)`, or a 2-D
            float array of features of this classifier.
        classifier: a `DomainClassifier`, a `ClassifierFeatureExtractor`, a
            shipped name (`"mnist"`, `"fashion_mnist"`) or a folder.
        num_samples: images drawn from a model (required for model sources).
        seed: seed of a model's first batch.
        batch_size, progress: see `ClassifierFeatureExtractor`.
        method: see `frechet_distance`.

    Returns:
        `ClassifierFrechetDistance(value, features)`.

    Example:

    ```python
    real = tfgen.data.load_arrays("mnist", "test")[0]
    result = tfgen.metrics.classifier_frechet_distance(model, real, "mnist",
                                                       num_samples=10000)
    print(result.value, result.features)
    ```
    """
    extractor = _extractor(classifier, batch_size, progress)
    stats = [
        statistics_from_features(
            features_of(source, lambda: extractor, num_samples, seed)
        )
        for source in (a, b)
    ]
    value = frechet_distance(
        stats[0].mu, stats[0].sigma, stats[1].mu, stats[1].sigma, method=method
    )
    return ClassifierFrechetDistance(value, extractor.describe("features"))


def classifier_score(
    source,
    classifier="mnist",
    splits=1,
    num_samples=None,
    seed=0,
    batch_size=256,
    progress=True,
):
    """The Inception Score's formula on a domain classifier's outputs:

        score = exp( mean_i KL( p(y | x_i) || p(y) ) ),  p(y) = mean_i p(y | x_i)

    between 1 and `num_classes` (10): high when every image is classified
    confidently and the classes are balanced. Like TF-GAN's `mnist_score`,
    the default scores all images at once (`splits=1`, std 0); the
    Inception Score's protocol uses 10 splits.

    Args:
        source: uint8 images, float images in [0, 1], a `tf.data.Dataset`,
            a model with `sample(n, seed=...)`, or a 2-D float array of this
            classifier's logits.
        classifier: see `classifier_frechet_distance`.
        splits: contiguous parts scored separately.
        num_samples, seed, batch_size, progress: see
            `classifier_frechet_distance`.

    Returns:
        `ClassifierScore(mean, std, features)`.

    Example:

    ```python
    real = tfgen.data.load_arrays("mnist", "test")[0]
    tfgen.metrics.classifier_score(real, "mnist").mean   # close to 10
    ```
    """
    extractor = _extractor(classifier, batch_size, progress)
    if isinstance(source, np.ndarray) and source.ndim == 2:
        logits = source
    else:
        _, logits = extractor.features(
            source, num_samples=num_samples, seed=seed, logits=True
        )
    mean, std = inception_score_from_logits(logits, splits)
    return ClassifierScore(mean, std, extractor.describe("logits"))
