"""Feature statistics of real dataset splits: computed once, cached, or shipped.

FID compares generated images with a fixed real split, so the real side is
computed once per protocol and kept. `reference_statistics` returns the
`Statistics` (float64 mu, sigma, n) of a split's features, looked up in order:

1. a shipped file `<zoo>/reference_stats/<name>_<split>.npz` (the zoo
   artifacts dir, `tfgen.zoo.artifacts_dir()`; where none ships, yours in
   `tfgen.zoo.user_dir()`, where `ship_reference_statistics` writes), used
   when its metadata matches the request (dataset, split, n, feature
   network, weights sha256, resize, input dtype);
2. the cache `<cache>/reference_stats/<name>-<split>-<n>-<network>-<sha>.npz`
   (`$TFGEN_CACHE_DIR`, default `~/.keras/tfgen`), keyed by dataset, split,
   n and the feature network's weights sha256, checked the same way;
3. otherwise the split is read by `tfgen.data.load_arrays` (local `.npz`
   first), run through the feature network and written to the cache. The
   features are computed in chunks of `CHUNK_SIZE` images kept on disk
   until the split is done, so an interrupted computation resumes.

`reference_plan` tells beforehand which of the three a request takes, and
how many images it would featurize (`tfgen eval` prints it before it
samples). A subset (`num_samples`) is the first images in stored order,
cached under its own key (`first N`), never mistaken for the whole split.

Files are read with `allow_pickle=False`; their metadata is a JSON string.
`reference_features` does the same for the features themselves (KID and
precision/recall need them), and fills the statistics cache on the way.

```python
stats = tfgen.metrics.reference_statistics("cifar10", "train")   # 50k, once
stats.metadata["feature_network"], stats.num_samples
tfgen.metrics.fid(model, stats, num_samples=50000)
```
"""

import collections
import dataclasses
import datetime
import hashlib
import os
import re
import time
import warnings

import numpy as np

from tfgen import __version__, data, files, zoo
from tfgen.metrics.features import (
    PROTOCOL_FIELDS,
    ChunksRemoved,
    chunked_features,
    default_extractor,
    load_features,
    release_chunks,
    save_features,
)
from tfgen.metrics.fid import Statistics, statistics_from_features
from tfgen.validation import check_positive_int

__all__ = [
    "PROTOCOL_KEYS",
    "ReferenceFeatures",
    "ReferencePlan",
    "parse_reference",
    "reference_features",
    "reference_plan",
    "reference_statistics",
    "ship_reference_statistics",
    "shipped_statistics_path",
]

FORMAT_VERSION = 1
#: Metadata that must agree for stored statistics to answer a request.
PROTOCOL_KEYS = ("dataset", "split", "subset", *PROTOCOL_FIELDS)
_SHIPPED_DIR = "reference_stats"
_SLUG = re.compile(r"[^a-z0-9_+.]+")

ReferenceFeatures = collections.namedtuple(
    "ReferenceFeatures", ["features", "metadata"]
)
ReferenceFeatures.__doc__ = """Features (n, d) float32 of a real split, with the
metadata of their protocol."""


def parse_reference(reference, default_split="train"):
    """`"cifar10:test"`, `"cifar10"` or `("cifar10", "test")` as `(name, split)`."""
    if isinstance(reference, tuple | list) and len(reference) == 2:
        name, split = reference
    elif isinstance(reference, str) and reference:
        name, _, split = reference.rpartition(":")
        if not name or os.path.exists(os.path.expanduser(reference)):
            name, split = reference, default_split
    else:
        raise ValueError(
            "A reference is 'dataset:split' (e.g. 'cifar10:train'), a dataset name, "
            f"or a (name, split) pair. Received: reference={reference!r}"
        )
    return str(name), str(split or default_split)


def _check_request(name, split, num_samples):
    if not isinstance(name, str):
        raise TypeError(
            "Reference statistics are keyed by a dataset name or a path. "
            f"Expected one of {sorted(data.DATASETS)}, a folder or an .npy/.npz file. "
            f"Received: {type(name).__name__}"
        )
    if name in data.DATASETS:
        data.parse_splits(name, split)
    if num_samples is not None:
        num_samples = check_positive_int(num_samples, "num_samples")
    return num_samples


def _dataset_key(name):
    """A file-name-safe key: built-in names as they are, paths by their
    base name and a hash of the full path."""
    if name in data.DATASETS:
        return name
    path = os.path.abspath(os.path.expanduser(name))
    base = _SLUG.sub("_", os.path.basename(path).lower()).strip("_") or "data"
    return f"{base}_{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def _expected(name, split, num_samples, protocol):
    missing = [k for k in ("feature_network", "weights_sha256") if k not in protocol]
    if missing:
        raise ValueError(
            "A feature protocol must name at least 'feature_network' and "
            f"'weights_sha256'. Received: protocol without {missing}"
        )
    expected = {
        "dataset": name,
        "split": split,
        "subset": "all" if num_samples is None else f"first {num_samples}",
    }
    expected.update(protocol)
    return expected


def _mismatch(metadata, expected):
    """The protocol keys on which stored metadata disagrees with a request."""
    return [
        key
        for key in PROTOCOL_KEYS
        if key in expected and metadata.get(key) != expected[key]
    ] + (["format_version"] if metadata.get("format_version") != FORMAT_VERSION else [])


def _network_slug(protocol):
    return _SLUG.sub("-", protocol["feature_network"].lower()).strip("-")[:40]


def _cache_path(kind, name, split, num_samples, protocol, cache_dir):
    subset = "all" if num_samples is None else str(num_samples)
    file = (
        f"{_dataset_key(name)}-{split}-{subset}-{_network_slug(protocol)}-"
        f"{protocol['weights_sha256'][:16]}"
    )
    suffix = "-features.npz" if kind == "features" else ".npz"
    return os.path.join(files.cache_dir(cache_dir), _SHIPPED_DIR, file + suffix)


def shipped_statistics_path(name, split, zoo_dir=None):
    """The shipped statistics file of `name`/`split` that
    `reference_statistics` reads: `<zoo_dir>/reference_stats/<name>_<split>.npz`
    when `zoo_dir` is given; else the shipped one (in
    `tfgen.zoo.artifacts_dir()`) when it exists, else yours (in
    `tfgen.zoo.user_dir()`). As for classifiers, a file of your own never
    replaces a shipped one."""
    if zoo_dir:
        return os.path.join(zoo_dir, _SHIPPED_DIR, f"{name}_{split}.npz")
    shipped = shipped_statistics_path(name, split, zoo.artifacts_dir())
    if os.path.isfile(shipped):
        return shipped
    return shipped_statistics_path(name, split, zoo.user_dir())


def _resolve(extractor, protocol, weights, batch_size, progress, cache_dir):
    """(protocol, zero-argument extractor getter) of the request."""
    if extractor is None:
        if protocol is not None:
            raise ValueError(
                "`protocol` describes a custom `extractor`; the FID Inception "
                "protocol is derived from its weights. Received: protocol without "
                "extractor"
            )
        get = default_extractor(None, weights, batch_size, progress, cache_dir)
        return get().protocol, get
    protocol = protocol or getattr(extractor, "protocol", None)
    if not isinstance(protocol, dict):
        raise ValueError(
            "A custom `extractor` needs `protocol=` (or a `.protocol` attribute): a "
            "dict naming at least 'feature_network' and 'weights_sha256', which key "
            f"the cache. Received: protocol={protocol!r}"
        )
    return dict(protocol), lambda: extractor


def _load_images(name, split, num_samples, data_dir):
    images = data.load_arrays(name, split, data_dir=data_dir)[0]
    if name in data.BINARY_DATASETS:
        images = images * np.uint8(255)  # stored as 0/1
    if num_samples is not None:
        _check_subset(name, split, num_samples, len(images))
        images = images[:num_samples]
    return images


def _check_subset(name, split, num_samples, size):
    if num_samples > size:
        raise ValueError(
            f"{name}:{split} holds {size} images. Expected num_samples <= "
            f"{size} (or None for all). Received: num_samples={num_samples}"
        )


#: Images per resumable chunk of a reference computation.
CHUNK_SIZE = 5000


def _compute(name, split, num_samples, expected, get_extractor, data_dir, chunk_dir):
    images = _load_images(name, split, num_samples, data_dir)
    data_sha256 = hashlib.sha256(np.ascontiguousarray(images).data).hexdigest()
    start = time.perf_counter()
    features = chunked_features(
        images,
        get_extractor(),
        chunk_dir,
        {**expected, "data_sha256": data_sha256},
        desc=f"{name}:{split} features",
        chunk_size=CHUNK_SIZE,
    )
    metadata = dict(expected)
    metadata.update(
        num_samples=int(len(features)),
        data_sha256=data_sha256,
        format_version=FORMAT_VERSION,
        tfgen_version=__version__,
        created=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # Of the run that finished the split (a resumed run counts its part).
        feature_seconds=round(time.perf_counter() - start, 1),
    )
    return features, metadata


def _compute_shared(stored, request, chunk_dir):
    """`_compute(*request, chunk_dir)`, or what a peer process that finished
    the same chunked computation first has stored (`stored()`, read when
    the chunks vanish under this one)."""
    for _ in range(2):
        try:
            return _compute(*request, chunk_dir)
        except ChunksRemoved:
            found = stored()
            if found is not None:
                return found
            # The peer stored another kind of file (statistics, not
            # features): compute anew, from no chunks.
    return _compute(*request, chunk_dir)


def _statistics_of(features, metadata):
    stats = statistics_from_features(features)
    stats.metadata = dict(metadata)
    return stats


def _read_features(path):
    return ReferenceFeatures(*load_features(path))


def _stored(path, expected, read, source):
    """What `read(path)` gives when it exists and matches the request; None
    otherwise (a stale or foreign file is recomputed, never trusted)."""
    if not os.path.isfile(path):
        return None
    try:
        found = read(path)
    except (OSError, ValueError) as e:
        warnings.warn(
            f"Ignoring unreadable {source} {path}: {e}", RuntimeWarning, stacklevel=3
        )
        return None
    metadata = found.metadata
    keys = _mismatch(metadata, expected)
    if keys:
        details = ", ".join(
            f"{k}: expected {expected.get(k, FORMAT_VERSION)!r}, "
            f"received {metadata.get(k)!r}"
            for k in keys
        )
        warnings.warn(
            f"Not using {source} {path}: its protocol differs ({details}).",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return found


def reference_statistics(
    name,
    split="train",
    num_samples=None,
    *,
    data_dir=None,
    weights=None,
    extractor=None,
    protocol=None,
    cache_dir=None,
    batch_size=64,
    progress=True,
    use_shipped=True,
    refresh=False,
):
    """FID `Statistics` of a real dataset split, computed once and cached.

    The images are the split as `tfgen.data.load_arrays` reads it (the
    first `num_samples` of them, in stored order, when given); binarized
    MNIST's 0/1 pixels are scaled to 0/255. The returned statistics carry
    their protocol in `metadata`: dataset, split, subset, `num_samples`,
    feature network, feature dimension, weights file and sha256, resize,
    input dtype, the images' sha256 and the tfgen version.

    Args:
        name: a dataset `tfgen.data.load_arrays` knows (`"cifar10"`,
            `"mnist"`, `"fashion_mnist"`, `"binarized_mnist"`), or a folder
            or `.npy`/`.npz` file of images.
        split: e.g. `"train"`, `"test"`, `"train+valid"`.
        num_samples: use the first this many images; None for all.
        data_dir: folder of `<name>.npz`; default `$TFGEN_DATA_DIR`.
        weights: FID Inception weights (see `load_fid_inception`); their
            sha256 keys the cache.
        extractor: another feature extractor (with `features(images)`),
            e.g. `classifier_extractor(...)`; give its `protocol` too (or
            set `extractor.protocol`).
        protocol: dict describing a custom extractor's features: at least
            `feature_network` and `weights_sha256`.
        cache_dir: default `$TFGEN_CACHE_DIR` or `~/.keras/tfgen`.
        batch_size, progress: see `FeatureExtractor`.
        use_shipped: look for `<zoo>/reference_stats/<name>_<split>.npz`
            first (whole splits only: `num_samples=None`).
        refresh: recompute even when a cached file matches.

    Returns:
        `Statistics` with `metadata`.

    Example:

    ```python
    train = tfgen.metrics.reference_statistics("cifar10", "train")
    test = tfgen.metrics.reference_statistics("cifar10", "test")
    tfgen.metrics.fid(train, test)  # about 3.1 under the TTUR protocol
    ```
    """
    num_samples = _check_request(name, split, num_samples)
    protocol, get_extractor = _resolve(
        extractor, protocol, weights, batch_size, progress, cache_dir
    )
    expected = _expected(name, split, num_samples, protocol)
    # Shipped files cover whole splits.
    if use_shipped and not refresh and num_samples is None:
        found = _stored(
            shipped_statistics_path(name, split),
            expected,
            Statistics.load,
            "shipped statistics",
        )
        if found is not None:
            return found
    path = _cache_path("statistics", name, split, num_samples, protocol, cache_dir)
    if not refresh:
        found = _stored(path, expected, Statistics.load, "cached statistics")
        if found is not None:
            return found
        features_path = _cache_path(
            "features", name, split, num_samples, protocol, cache_dir
        )
        cached = _stored(features_path, expected, _read_features, "cached features")
        if cached is not None:
            stats = _statistics_of(*cached)
            files.write_atomic(path, stats.save)
            return stats
    chunks = _cache_path("features", name, split, num_samples, protocol, cache_dir)
    computed = _compute_shared(
        lambda: _stored(path, expected, Statistics.load, "cached statistics"),
        (name, split, num_samples, expected, get_extractor, data_dir),
        chunks + ".chunks",
    )
    if isinstance(computed, Statistics):
        return computed
    stats = _statistics_of(*computed)
    files.write_atomic(path, stats.save)
    release_chunks(chunks + ".chunks")
    return stats


def reference_features(
    name,
    split="train",
    num_samples=None,
    *,
    data_dir=None,
    weights=None,
    extractor=None,
    protocol=None,
    cache_dir=None,
    batch_size=64,
    progress=True,
    refresh=False,
):
    """Features of a real split, cached beside `reference_statistics`'s files.

    KID and precision/recall need the features, not only their mean and
    covariance. Computing them also writes the statistics cache, so a later
    `reference_statistics` call with the same arguments costs nothing. The
    arguments are those of `reference_statistics` (shipped files hold only
    statistics, so none are looked up here).

    Returns:
        `ReferenceFeatures(features, metadata)`: float32 (n, d) and the
        protocol dict.
    """
    num_samples = _check_request(name, split, num_samples)
    protocol, get_extractor = _resolve(
        extractor, protocol, weights, batch_size, progress, cache_dir
    )
    expected = _expected(name, split, num_samples, protocol)
    path = _cache_path("features", name, split, num_samples, protocol, cache_dir)
    if not refresh:
        found = _stored(path, expected, _read_features, "cached features")
        if found is not None:
            return found
    computed = _compute_shared(
        lambda: _stored(path, expected, _read_features, "cached features"),
        (name, split, num_samples, expected, get_extractor, data_dir),
        path + ".chunks",
    )
    if isinstance(computed, ReferenceFeatures):
        return computed
    features, metadata = computed
    save_features(path, features, metadata)
    stats_path = _cache_path(
        "statistics", name, split, num_samples, protocol, cache_dir
    )
    files.write_atomic(stats_path, _statistics_of(features, metadata).save)
    release_chunks(path + ".chunks")
    return ReferenceFeatures(features, metadata)


@dataclasses.dataclass(frozen=True)
class ReferencePlan:
    """What a reference request will cost, found before any work
    (`reference_plan`); `str()` says it in one line.

    Args:
        reference: `"dataset:split"`.
        kind: `"statistics"` or `"features"`: what is looked up.
        source: `"shipped"` or `"cached"` (a file answers it: `path`), or
            `"compute"` (`num_images` images go through the feature network,
            then are kept at `path`).
        path: the file read, or the cache file written.
        num_images: images to featurize (`"compute"` only).
        split_size: images in the split (`"compute"` only).
    """

    reference: str
    kind: str
    source: str
    path: str
    num_images: int | None = None
    split_size: int | None = None

    def __str__(self):
        if self.source != "compute":
            found = (
                "shipped" if self.source == "shipped" else "cached by an earlier run"
            )
            return (
                f"reference {self.reference}: {self.kind} {found} ({self.path}); "
                "no reference images to featurize"
            )
        which = (
            f"all {self.num_images:,} images"
            if self.num_images == self.split_size
            else f"the first {self.num_images:,} of its {self.split_size:,} images "
            "(stored order)"
        )
        return (
            f"reference {self.reference}: featurizing {which} once, then "
            f"cached in {self.path}; later runs with this reference, subset and "
            "feature network skip this step"
        )


def reference_plan(
    name,
    split="train",
    num_samples=None,
    *,
    extractor,
    kind="statistics",
    data_dir=None,
    cache_dir=None,
    use_shipped=True,
):
    """What `reference_statistics` (`kind="statistics"`) or
    `reference_features` (`kind="features"`) will do with the same
    arguments, found without running the feature network: which shipped or
    cached file answers the request, or how many images it featurizes and
    where it keeps them. The files are found by name (the cache key: dataset,
    split, subset, network, weights); one whose metadata then turns out
    stale is recomputed, with a warning, by the call itself.

    Args:
        name, split, num_samples, data_dir, cache_dir, use_shipped: as for
            `reference_statistics`.
        extractor: the feature network (with its `protocol`).
        kind: `"statistics"` (FID) or `"features"` (KID, precision/recall).

    Returns:
        A `ReferencePlan`.
    """
    if kind not in ("statistics", "features"):
        raise ValueError(
            f"`kind` must be 'statistics' or 'features'. Received: kind={kind!r}"
        )
    num_samples = _check_request(name, split, num_samples)
    protocol, _ = _resolve(extractor, None, None, None, False, cache_dir)
    label = f"{name}:{split}"
    found = []
    if kind == "statistics":
        if use_shipped and num_samples is None:
            found.append(("shipped", shipped_statistics_path(name, split)))
        found.append(
            ("cached", _cache_path(kind, name, split, num_samples, protocol, cache_dir))
        )
    features = _cache_path("features", name, split, num_samples, protocol, cache_dir)
    found.append(("cached", features))
    for source, path in found:
        if os.path.isfile(path):
            kept = "features" if path == features else "statistics"
            return ReferencePlan(label, kept, source, path)
    size = len(data.load_arrays(name, split, data_dir=data_dir)[0])
    count = size
    if num_samples is not None:
        _check_subset(name, split, num_samples, size)
        count = num_samples
    target = _cache_path(kind, name, split, num_samples, protocol, cache_dir)
    return ReferencePlan(label, kind, "compute", target, count, size)


def ship_reference_statistics(name, split="train", zoo_dir=None, **kwargs):
    """Writes `reference_statistics(name, split, **kwargs)` (all images),
    compressed, to `<zoo_dir>/reference_stats/<name>_<split>.npz` and
    returns the path. `zoo_dir` defaults to your zoo folder
    (`tfgen.zoo.user_dir()`: `$TFGEN_ZOO_DIR`, else
    `~/.local/share/tfgen/zoo`), never the installed package; to ship the
    file with tfgen, pass a checkout's `zoo/` folder explicitly. Shipped
    files are used only when their metadata matches a request, weights
    sha256 included (see `shipped_statistics_path` for which one is read).

    Example:

    ```python
    # Into your zoo folder, read by later reference_statistics calls:
    tfgen.metrics.ship_reference_statistics("mnist", "test")
    # Into a checkout, to ship with the package:
    tfgen.metrics.ship_reference_statistics("mnist", "test", zoo_dir="zoo")
    ```
    """
    if kwargs.get("num_samples") is not None:
        raise ValueError(
            "Shipped statistics cover the whole split. "
            f"Received: num_samples={kwargs['num_samples']}"
        )
    stats = reference_statistics(name, split, use_shipped=False, **kwargs)
    path = shipped_statistics_path(name, split, zoo_dir or zoo.user_dir())
    files.write_atomic(path, lambda p: stats.save(p, compressed=True, packed=True))
    return path
