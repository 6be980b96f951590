"""Every sample-quality metric of a model in one pass, each with its protocol.

`evaluate` samples a model once, extracts features once (and logits when a
score is asked for), takes the reference side from `reference_statistics` /
`reference_features` (cached), and returns one `MetricResult` per number,
whose `protocol` names the reference split, n_gen, n_ref, the feature
network and its weights' sha256, the resize, the input dtype, the seed,
the hardware and the wall time. `tfgen eval` and `benchmarks/fid.py` are
thin wrappers around it.

The feature network is an object (`FeatureExtractor`: the FID Inception
network's or a domain classifier's); `feature_network` makes one from the
names `"inception"` and `"classifier"` that `evaluate` also accepts. The
metrics' own settings (KID subsets, IS splits, precision/recall's k, FID's
matrix square root) are one `MetricOptions`.

```python
model = tfgen.zoo.load("dcgan_cifar")
for result in tfgen.metrics.evaluate(model, ["fid", "kid"], num_samples=50000,
                                     reference="cifar10:train"):
    print(result)
```
"""

import collections.abc
import dataclasses
import datetime
import hashlib
import inspect
import os
import time

import numpy as np

from tfgen import __version__
from tfgen.data import BINARY_DATASETS

# The chunk functions and CHUNK_SIZE are looked up at call time (tests patch them).
from tfgen.metrics import features as extraction
from tfgen.metrics.classifier import ClassifierFeatureExtractor, classifier_extractor
from tfgen.metrics.features import PROTOCOL_FIELDS, FeatureExtractor
from tfgen.metrics.fid import FID_METHODS, frechet_distance, statistics_from_features
from tfgen.metrics.inception_score import inception_score_from_logits
from tfgen.metrics.kid import kid_from_features
from tfgen.metrics.precision_recall import precision_recall_from_features
from tfgen.metrics.reference import (
    parse_reference,
    reference_features,
    reference_plan,
    reference_statistics,
)
from tfgen.reporting import hardware_summary
from tfgen.validation import check_positive_int

__all__ = [
    "FEATURE_NETWORKS",
    "METRICS",
    "MetricOptions",
    "MetricResult",
    "evaluate",
    "evaluation_plan",
    "feature_network",
]

#: Metric names `evaluate` accepts: Fréchet distance, kernel distance,
#: (Inception / classifier) score, precision and recall, and the class
#: shares of the network's argmax labels (mode coverage).
METRICS = ("fid", "kid", "is", "pr", "classes")
#: Metrics that read the network's logits and no reference.
_LOGIT_METRICS = ("is", "classes")
#: Feature networks by name (`feature_network`).
FEATURE_NETWORKS = ("inception", "classifier")


def feature_network(
    name="inception",
    *,
    reference=None,
    weights=None,
    classifier=None,
    batch_size=None,
    progress=True,
    cache_dir=None,
):
    """The feature network named `"inception"` or `"classifier"`, as `evaluate`
    and `tfgen eval --features` name them.

    Args:
        name: `"inception"` (FID Inception pool3, 2048-d, any image size) or
            `"classifier"` (a domain classifier's penultimate layer; its
            images only, 28x28 grayscale for MNIST and Fashion-MNIST).
        reference: the reference split measured against (`"mnist:train"`,
            a dataset name or a `(name, split)` pair); its dataset names the
            default classifier.
        weights: FID Inception weights (see `load_fid_inception`); Inception
            only.
        classifier: a `DomainClassifier`, a `ClassifierFeatureExtractor`
            (returned as it is), a shipped name or a folder; classifier
            only, default the reference's dataset.
        batch_size: images per forward pass (and per `sample` call in
            `evaluate`); default 64 for Inception, 256 for the classifier.
        progress: tqdm progress bars.
        cache_dir: folder of converted and downloaded weights.

    Returns:
        An `InceptionFeatureExtractor` (shared by calls with the same
        arguments, so its function is traced once) or a
        `ClassifierFeatureExtractor`.
    """
    if name not in FEATURE_NETWORKS:
        raise ValueError(
            f"`features` must be one of {list(FEATURE_NETWORKS)} or a "
            f"FeatureExtractor. Received: features={name!r}"
        )
    if name == "inception":
        if classifier is not None:
            raise ValueError(
                "`classifier` is used only with features='classifier'. "
                "Received: features='inception' and a classifier"
            )
        return extraction.default_extractor(
            None, weights, batch_size or 64, progress, cache_dir
        )()
    if weights is not None:
        raise ValueError(
            "`weights` are the FID Inception network's, used only with "
            f"features='inception'. Received: features='classifier', weights={weights!r}"
        )
    if isinstance(classifier, ClassifierFeatureExtractor):
        return classifier
    if classifier is None:
        if reference is None:
            raise ValueError(
                "features='classifier' needs `classifier` (a DomainClassifier, "
                "a shipped name or a folder) or `reference`, whose dataset names "
                "the shipped classifier. Received: neither"
            )
        classifier = parse_reference(reference)[0]
    return classifier_extractor(classifier, batch_size or 256, progress)


@dataclasses.dataclass(frozen=True)
class MetricOptions:
    """Settings of the metrics `evaluate` computes, each recorded in its protocol.

    Args:
        fid_method: FID's matrix square root: `"sqrtm"` (scipy, as
            pytorch-fid and TTUR) or `"eigh"` (faster, never complex); see
            `frechet_distance`.
        kid_subsets: KID's number of subsets (100 in StyleGAN and
            torch-fidelity).
        kid_subset_size: samples per KID subset (1000 there; at most the
            smaller set).
        is_splits: splits of the (Inception / classifier) score; None for
            the feature network's `score_splits` (10 for Inception, the
            original protocol; 1 for the classifier, TF-GAN's).
        pr_k: neighbourhood size of precision and recall (3 in the paper).

    Example:

    ```python
    options = tfgen.metrics.MetricOptions(fid_method="eigh", kid_subsets=10)
    tfgen.metrics.evaluate(model, "fid,kid", metric_options=options)
    ```

    References:
        Heusel et al., arXiv 1706.08500 (FID); Bińkowski et al., arXiv
        1801.01401 (KID); Salimans et al., arXiv 1606.03498 (IS);
        Kynkäänniemi et al., arXiv 1904.06991 (precision and recall).
    """

    fid_method: str = "sqrtm"
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    is_splits: int | None = None
    pr_k: int = 3

    def __post_init__(self):
        # Checked before anything is sampled: a run can take hours.
        if self.fid_method not in FID_METHODS:
            raise ValueError(
                f"`fid_method` must be one of {list(FID_METHODS)}. "
                f"Received: fid_method={self.fid_method!r}"
            )
        for field in ("kid_subsets", "kid_subset_size", "pr_k"):
            check_positive_int(getattr(self, field), field)
        if self.is_splits is not None:
            check_positive_int(self.is_splits, "is_splits")

    @classmethod
    def of(cls, options):
        """`options` as `MetricOptions`: one already, a mapping of its
        fields, or None for the defaults."""
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        if isinstance(options, collections.abc.Mapping):
            fields = [f.name for f in dataclasses.fields(cls)]
            unknown = sorted(set(options) - set(fields))
            if unknown:
                raise ValueError(
                    f"`metric_options` takes the keys {fields}. Received: {unknown}"
                )
            return cls(**options)
        raise TypeError(
            "`metric_options` must be a MetricOptions, a dict of its fields or None. "
            f"Received: {type(options).__name__}"
        )


@dataclasses.dataclass
class MetricResult:
    """One measured number and the protocol it was measured under.

    Args:
        name: e.g. `"fid"`, `"kid"`, `"inception_score"`, `"precision"`,
            `"classifier_fd"`, `"classifier_score"`.
        value: the number (KID and scores: the mean over subsets/splits).
        protocol: dict naming the reference split, `n_gen`, `n_ref`, the
            feature network and weights sha256, resize, input dtype, seed,
            hardware and wall time.
        std: the standard deviation over subsets or splits, when defined.
    """

    name: str
    value: float
    protocol: dict
    std: float | None = None

    def to_json(self):
        """`{"name", "value", "protocol"}` (and `"std"`), as zoo entries store."""
        record = {"name": self.name, "value": self.value}
        if self.std is not None:
            record["std"] = self.std
        record["protocol"] = dict(self.protocol)
        return record

    def summary(self):
        """The protocol in one line: reference, n_gen, n_ref, features, resize, dtype."""
        p = self.protocol
        parts = []
        if p.get("reference"):
            parts.append(f"reference {p['reference']}")
        parts.append(f"n_gen={p.get('n_gen')}")
        if p.get("n_ref") is not None:
            parts.append(f"n_ref={p['n_ref']}")
        parts.append(f"features {p.get('features')}")
        parts.append(f"resize {p.get('resize')}")
        parts.append(f"input {p.get('input_dtype')}")
        return "; ".join(parts)

    def __str__(self):
        value = f"{self.value:.4f}"
        if self.std is not None:
            value += f" ± {self.std:.4f}"
        return f"{self.name} = {value}  [{self.summary()}]"


class _Sampler:
    """A model's `sample(n, seed)` with fixed keyword arguments; a
    conditional model gets labels `i mod num_classes` counted over the whole
    run, so every class gets its share."""

    def __init__(self, model, sample_kwargs):
        self.model = model
        self.kwargs = dict(sample_kwargs)
        self.offset = 0

    def sample(self, n, seed=None):
        kwargs = dict(self.kwargs)
        if getattr(self.model, "num_classes", None):
            labels = (self.offset + np.arange(n)) % self.model.num_classes
            kwargs["labels"] = labels.astype("int32")
        self.offset += n
        return self.model.sample(n, seed=seed, **kwargs)


def _default_sample_kwargs(model, reference_name, sample_kwargs):
    """`sample_kwargs` with a VAE's `mode` chosen for the reference: on a set
    of 0/1 images its draws of p(x|z), binary like them (its decoder means
    are gray, unlike any of those images); elsewhere its decoder means."""
    kwargs = dict(sample_kwargs or {})
    has_mode = "mode" in inspect.signature(model.sample).parameters
    if has_mode and "mode" not in kwargs and reference_name in BINARY_DATASETS:
        kwargs["mode"] = "sample"
    return kwargs


def _sampling_protocol(model, batch_size, seed, sample_kwargs):
    """How the samples were drawn, in words, for the records."""
    params = inspect.signature(model.sample).parameters
    reserved = {"n", "seed", "labels", "batch_size", "progress"}
    unknown = sorted(k for k in sample_kwargs if k not in params or k in reserved)
    if unknown:
        accepted = sorted(k for k in params if k not in reserved)
        raise ValueError(
            f"{type(model).__name__}.sample accepts the sample_kwargs {accepted}. "
            f"Received: {unknown}"
        )
    text = f"model.sample({batch_size} per call, seeds {seed}, {seed}+1, ...)"
    if getattr(model, "num_classes", None):
        text += f"; labels i mod {model.num_classes} over the run"
    averaged = getattr(model, "ema_generator", None) is not None
    if averaged:
        if sample_kwargs.get("use_ema", True):
            text += f"; the generator's weight average (ema_decay={model.ema_decay})"
        else:
            text += "; the live generator (use_ema=False), not its weight average"
    mode = params.get("mode")
    if "mode" in sample_kwargs:
        text += f"; mode={sample_kwargs['mode']!r}"
    elif mode is not None and mode.default is not inspect.Parameter.empty:
        # A VAE decodes the mean image by default, not a draw of p(x|z).
        text += f"; mode={mode.default!r}"
    for key, value in sorted(sample_kwargs.items()):
        if key != "mode" and not (key == "use_ema" and averaged):
            text += f"; {key}={value!r}"
    return text


def _chunked_generated(source, extractor, protocol, num_samples, seed, work_dir):
    """Generated features through `chunked_features`: the chunks are keyed
    by the images' sha256, so every process drawing the same samples shares
    them, and no other model's chunks are ever read."""
    images = extraction.draw_images(
        source,
        num_samples,
        extractor.batch_size,
        seed,
        desc="sampling",
        progress=extractor.progress,
    )
    digest = hashlib.sha256(np.ascontiguousarray(images).data).hexdigest()
    key = {
        k: protocol.get(k)
        for k in ("feature_network", "feature_dim", "weights_sha256", "resize")
    }
    key.update(images_sha256=digest, num_samples=int(num_samples), seed=seed)
    stem = os.path.join(os.fspath(work_dir), f"generated-{digest[:16]}")
    kept = _load_kept_features(f"{stem}.npz", key)
    if kept is not None:
        return kept
    directory = f"{stem}.chunks"
    features = extraction.chunked_features(
        images, extractor, directory, key, desc="generated"
    )
    # Kept whole until the caller deletes work_dir: a process that dies in the
    # metric step (minutes for 50k precision/recall) resumes from here.
    extraction.save_features(f"{stem}.npz", features, key)
    extraction.release_chunks(directory)
    return features


def _load_kept_features(path, key):
    """The features a finished extraction kept in work_dir, if it was of the
    same images by the same network; None otherwise."""
    if not os.path.isfile(path):
        return None
    features, metadata = extraction.load_features(path)
    return features if metadata == key else None


def _parse_metrics(metrics):
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    metrics = [str(m).lower() for m in metrics]
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValueError(
            f"Unknown metric(s) {unknown}. Expected a non-empty selection of "
            f"{list(METRICS)} (comma-separated on the command line). Received: {metrics}"
        )
    return list(dict.fromkeys(metrics))


def _needs_reference_features(metrics):
    """KID and precision/recall need the reference features, FID only their
    statistics (and the score no reference)."""
    return "kid" in metrics or "pr" in metrics


def evaluation_plan(
    metrics="fid",
    reference="cifar10:train",
    *,
    features,
    num_reference=None,
    data_dir=None,
    cache_dir=None,
):
    """What `evaluate` with the same arguments will take from the reference
    split, said before it samples: a `ReferencePlan` (see `reference_plan`;
    `str()` gives one line: the shipped or cached file, or how many images
    it featurizes and where it caches them), or None when the metrics need
    no reference (`"is"` alone).

    Args:
        metrics, reference, num_reference, data_dir, cache_dir: as for
            `evaluate`.
        features: the `FeatureExtractor` `evaluate` gets.

    Example:

    ```python
    from tfgen.metrics.evaluate import evaluation_plan

    network = tfgen.metrics.feature_network("inception")
    print(evaluation_plan("fid", "mnist:train", features=network))
    # reference mnist:train: featurizing all 60,000 images once, then cached in ...
    ```
    """
    metrics = _parse_metrics(metrics)
    if set(metrics) <= set(_LOGIT_METRICS):
        return None
    name, split = parse_reference(reference)
    return reference_plan(
        name,
        split,
        num_reference,
        extractor=features,
        kind="features" if _needs_reference_features(metrics) else "statistics",
        data_dir=data_dir,
        cache_dir=cache_dir,
    )


def _check_network(network):
    """`network` if it can stand behind `evaluate`'s records, else an error."""
    if not isinstance(network, FeatureExtractor):
        raise TypeError(
            f"`features` must be one of {list(FEATURE_NETWORKS)} or a "
            "FeatureExtractor (e.g. tfgen.metrics.ClassifierFeatureExtractor(net)). "
            f"Received: {type(network).__name__}"
        )
    protocol = network.protocol
    missing = [k for k in PROTOCOL_FIELDS if k not in (protocol or {})]
    if not isinstance(protocol, dict) or missing:
        raise ValueError(
            f"The feature network's `protocol` must be a dict naming {list(PROTOCOL_FIELDS)}: "
            f"they key the reference cache and go into every record. Received: "
            f"{type(network).__name__} with protocol={protocol!r}"
        )
    return dict(protocol)


def evaluate(
    model,
    metrics=("fid",),
    num_samples=10000,
    reference="cifar10:train",
    *,
    features="inception",
    num_reference=None,
    seed=0,
    metric_options=None,
    sample_kwargs=None,
    data_dir=None,
    cache_dir=None,
    work_dir=None,
):
    """Measures a model's samples against a real split; one pass, many metrics.

    The model's `sample(n, seed=...)` is called batch by batch with seeds
    `seed, seed + 1, ...` (conditional models get labels `i mod
    num_classes` over the whole run); the images are rounded to uint8
    levels and go through the feature network once.

    - `"fid"`: Fréchet distance to the reference's cached statistics (all
      `num_reference` images).
    - `"kid"`: KID over `kid_subsets` subsets of `kid_subset_size` from the
      generated and the reference features.
    - `"is"`: Inception Score (needs weights with the logits layer), or with
      the classifier the classifier score; no reference.
    - `"pr"`: improved precision and recall with k = `pr_k`, against the
      first n_gen reference features (equal set sizes, as in the paper).
    - `"classes"`: the share of each class among the network's argmax
      labels of the samples (with a domain classifier: how evenly a
      generator covers the digits); the value is the smallest share, the
      protocol lists them all (`class_shares`); no reference.

    Args:
        model: anything with `sample(n, seed=...)` returning floats in [0, 1].
        metrics: names from `METRICS`, or a comma-separated string.
        num_samples: images to generate (n_gen).
        reference: `"dataset:split"` (e.g. `"cifar10:train"`), a dataset name
            (split train) or a `(name, split)` pair.
        features: the feature network, a `FeatureExtractor` with a
            `protocol` (`InceptionFeatureExtractor`,
            `ClassifierFeatureExtractor`, or `feature_network(...)` for
            other weights, classifiers, batch sizes or no progress bars); or
            its name, `"inception"` (FID Inception pool3, 2048-d) or
            `"classifier"` (the reference dataset's shipped domain
            classifier; 28x28 grayscale data only). Its `batch_size` is also
            the size of every `sample` call.
        num_reference: use the first this many reference images in stored
            order (n_ref), cached apart from the whole split; None for the
            whole split. `evaluation_plan` says beforehand how many images
            that featurizes, or which cached file answers it.
        seed: seed of the first batch (and of KID's subsets).
        metric_options: `MetricOptions` (or a dict of its fields): KID's
            subsets, the score's splits, precision/recall's k, FID's matrix
            square root.
        sample_kwargs: more keyword arguments of every `model.sample` call,
            named in the protocol's `sampling`: e.g. `{"use_ema": False}`
            measures a GAN's live generator instead of its weight average,
            `{"mode": "sample"}` a VAE's draws of p(x|z) instead of its
            decoder means (the default only against a set of 0/1 images,
            such as binarized MNIST, whose images the draws resemble).
        data_dir: folder of `<dataset>.npz`; default `$TFGEN_DATA_DIR`.
        cache_dir: cache of reference files (and of weights, for a named
            feature network).
        work_dir: a folder for the generated images' features, kept in
            chunks (see `chunked_features`): the samples are drawn first,
            then their features are computed chunk by chunk, so an
            interrupted run resumes, and the same call started in several
            processes (one per core) shares the work (the real split's
            chunks are shared the same way, in the cache). The last process
            to finish removes the chunks; the assembled features stay in
            `work_dir` (`generated-<sha>.npz`, 400 MB for 50,000) so that a
            rerun after a crash in the metric step skips them; delete the
            folder when the records are written. None computes in memory, in
            one pass.

    Returns:
        A list of `MetricResult`, in the order of `metrics` (`"pr"` gives
        two, precision then recall).

    Example:

    ```python
    results = tfgen.metrics.evaluate(tfgen.zoo.load("dcgan_mnist"), "fid,is",
                                     num_samples=10000, reference="mnist:train",
                                     features="classifier")
    network = tfgen.metrics.feature_network("inception", batch_size=32,
                                            progress=False)
    tfgen.metrics.evaluate(model, "fid,kid", features=network,
                           metric_options={"fid_method": "eigh"})
    ```
    """
    start = time.perf_counter()
    metrics = _parse_metrics(metrics)
    num_samples = check_positive_int(num_samples, "num_samples")
    options = MetricOptions.of(metric_options)
    name, split = parse_reference(reference)
    network = features
    if isinstance(network, str):
        network = feature_network(network, reference=(name, split), cache_dir=cache_dir)
    protocol = _check_network(network)
    network.check_model(model)
    need_logits = any(m in _LOGIT_METRICS for m in metrics)
    if need_logits:
        network.check_logits()  # before hours of sampling
    is_splits = options.is_splits or network.score_splits

    sample_kwargs = _default_sample_kwargs(model, name, sample_kwargs)
    sampling = _sampling_protocol(model, network.batch_size, seed, sample_kwargs)
    source = _Sampler(model, sample_kwargs)
    generated_start = time.perf_counter()
    if work_dir is None:
        out = network.features(
            source,
            num_samples=num_samples,
            seed=seed,
            logits=need_logits,
            desc="generated",
        )
        generated, logits = out if need_logits else (out, None)
    else:
        generated = _chunked_generated(
            source, network, protocol, num_samples, seed, work_dir
        )
        logits = network.logits_of(generated) if need_logits else None
    generated_seconds = time.perf_counter() - generated_start

    reference_kwargs = dict(data_dir=data_dir, cache_dir=cache_dir, extractor=network)
    ref_features = ref_stats = None
    if _needs_reference_features(metrics):
        ref_features, ref_meta = reference_features(
            name, split, num_reference, **reference_kwargs
        )
    if "fid" in metrics:
        if ref_features is not None:
            ref_stats = statistics_from_features(ref_features)
            ref_stats.metadata = ref_meta
        else:
            ref_stats = reference_statistics(
                name, split, num_reference, **reference_kwargs
            )

    common = {
        "resize": protocol["resize"],
        "input_dtype": protocol["input_dtype"],
        "weights_sha256": protocol["weights_sha256"],
        "seed": seed,
        "sampling": sampling,
        "hardware": hardware_summary(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "generated_seconds": round(generated_seconds, 1),
        "tfgen_version": __version__,
    }
    if work_dir is not None:
        common["features_computed"] = (
            f"in resumable chunks of {extraction.CHUNK_SIZE:,} under work_dir, shared with any "
            "process running the same evaluation; wall times are this process's"
        )
    if "classifier_test_accuracy" in protocol:
        common["classifier_test_accuracy"] = protocol["classifier_test_accuracy"]
    names = network.metric_names
    description = network.describe("features")
    results = []

    def add(key, value, std=None, **extra):
        record = {
            "reference": None,
            "n_gen": num_samples,
            "n_ref": None,
            "features": description,
            **common,
            **extra,
        }
        results.append(MetricResult(names[key], float(value), record, std))

    ref_label = f"{name}:{split}"
    for metric in metrics:
        if metric == "fid":
            stats = statistics_from_features(generated)
            value = frechet_distance(
                stats.mu,
                stats.sigma,
                ref_stats.mu,
                ref_stats.sigma,
                method=options.fid_method,
            )
            add(
                "fid",
                value,
                reference=ref_label,
                n_ref=ref_stats.num_samples,
                fid_method=options.fid_method,
            )
        elif metric == "kid":
            kid = kid_from_features(
                generated,
                ref_features,
                options.kid_subsets,
                options.kid_subset_size,
                seed,
            )
            size = min(options.kid_subset_size, len(generated), len(ref_features))
            add(
                "kid",
                kid.mean,
                kid.std,
                reference=ref_label,
                n_ref=len(ref_features),
                kid_subsets=options.kid_subsets,
                kid_subset_size=size,
                kernel="(x.y / d + 1)^3",
            )
        elif metric == "is":
            score = inception_score_from_logits(logits, is_splits)
            add(
                "is",
                score.mean,
                # One split has no spread to report.
                score.std if is_splits > 1 else None,
                features=network.describe("logits"),
                splits=is_splits,
            )
        elif metric == "classes":
            labels = np.argmax(np.asarray(logits), axis=1)
            shares = np.bincount(labels, minlength=np.shape(logits)[1]) / len(labels)
            add(
                "classes",
                shares.min(),
                features=network.describe("logits"),
                class_shares=[round(float(x), 5) for x in shares],
                max_class_share=round(float(shares.max()), 5),
            )
        elif metric == "pr":
            real = ref_features[: len(generated)]
            pr = precision_recall_from_features(real, generated, k=options.pr_k)
            for key in ("precision", "recall"):
                add(
                    key,
                    getattr(pr, key),
                    reference=ref_label,
                    n_ref=len(real),
                    k=options.pr_k,
                )
    wall = time.perf_counter() - start
    for result in results:
        result.protocol["wall_seconds"] = round(wall, 1)
    return results
