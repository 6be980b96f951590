"""Feature networks, and streaming images from arrays, `tf.data` pipelines or
models into their features.

`FeatureExtractor` is the interface every feature network of the metrics
implements: a `name`, a `protocol` dict (network, dimension, weights
sha256, resize, input dtype), the `image_shape` it takes (None: any),
`features(source)` batch by batch (and `logits=True` for scores),
`check_model(model)` and `check_logits()`. `InceptionFeatureExtractor` is the
FID Inception network's; `tfgen.metrics.ClassifierFeatureExtractor` the
domain classifiers'. `chunked_features` splits a long computation into
resumable chunks shared by several processes.
"""

import json
import os
import shutil
import socket
import threading
import time

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfgen import files, levels
from tfgen.files import write_atomic
from tfgen.metrics.inception import FEATURE_DIM, load_fid_inception, resolve_weights
from tfgen.validation import check_positive_int

__all__ = [
    "CHUNK_SIZE",
    "ChunksRemoved",
    "FEATURE_NETWORK",
    "FeatureExtractor",
    "INPUT_DTYPE",
    "InceptionFeatureExtractor",
    "PROTOCOL_FIELDS",
    "RESIZE",
    "chunked_features",
    "default_extractor",
    "draw_images",
    "load_features",
    "release_chunks",
    "save_features",
    "describe_source",
    "features_of",
    "inception_protocol",
    "iterate_images",
    "to_uint8_levels",
]

FEATURE_NETWORK = "inception-2015-12-05 pool3"
RESIZE = (
    "bilinear to 299x299, half-pixel centers, edges clamped "
    "(torch interpolate align_corners=False)"
)
INPUT_DTYPE = "uint8 (float images in [0, 1] rounded to 256 levels)"
#: What a feature network's `protocol` names, for the records and caches.
PROTOCOL_FIELDS = (
    "feature_network",
    "feature_dim",
    "weights_sha256",
    "resize",
    "input_dtype",
)


def _check_shape(shape, name):
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3)):
        raise ValueError(
            f"`{name}` must be images of shape (n, H, W), (n, H, W, 1) or (n, H, W, 3). "
            f"Received: {name}.shape={tuple(shape)}"
        )


def to_uint8_levels(images, name="images"):
    """A batch as float32 holding the uint8 levels 0..255, shape (n, H, W, C).

    uint8 arrays are taken as they are. Float arrays must lie in [0, 1] (as
    tfgen's models sample and `tfgen.data.load` yields) and are rounded to
    the nearest of 256 levels, as when they are saved to PNG; this is what
    the published protocols measure. Anything else is refused.
    """
    images = np.asarray(images)
    _check_shape(images.shape, name)
    if images.ndim == 3:
        images = images[..., None]
    return levels.to_uint8_levels(images, name)


def _first_component(element):
    """Images out of a dataset element: `x`, `(x, y)` or `{"image": x, ...}`."""
    if isinstance(element, dict):
        if "image" not in element:
            raise ValueError(
                "A dataset of dicts must hold its images under 'image'. "
                f"Received keys: {sorted(element)}"
            )
        return element["image"]
    if isinstance(element, tuple | list):
        return element[0]
    return element


def _is_model(source):
    return callable(getattr(source, "sample", None))


def describe_source(source):
    """What kind of image source this is: "array", "dataset" or "model"."""
    if _is_model(source):
        return "model"
    if isinstance(source, tf.data.Dataset):
        return "dataset"
    if isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        return "array"
    raise TypeError(
        "An image source must be a uint8 array (n, H, W[, C]), a float array in "
        "[0, 1], a tf.data.Dataset of such images (or of (image, label) pairs), or a "
        "model with `sample(n, seed=...)`. "
        f"Received: {type(source).__name__}"
    )


def iterate_images(source, batch_size=64, num_samples=None, seed=0):
    """Yields batches of uint8 levels as float32 (b, H, W, C); see `to_uint8_levels`.

    Args:
        source: an array, a `tf.data.Dataset` (batched or not; elements
            `x`, `(x, y, ...)` or `{"image": x}`), or a model with
            `sample(n, seed=...)` returning floats in [0, 1].
        batch_size: images per batch.
        num_samples: images to draw from a model (required for models); for
            arrays and datasets, at most this many are read.
        seed: a model's batches use seeds `seed, seed + 1, ...` (None draws
            unseeded).

    Returns:
        `(total, generator)`, where `total` is the number of images when
        known (else None).
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    if num_samples is not None:
        num_samples = check_positive_int(num_samples, "num_samples")
    kind = describe_source(source)
    if kind == "model":
        if num_samples is None:
            raise ValueError(
                "Drawing images from a model needs `num_samples` (e.g. 50000 for the "
                "TTUR/StyleGAN protocol, 10000 for StudioGAN's). Received: num_samples=None"
            )

        def from_model():
            for i, start in enumerate(range(0, num_samples, batch_size)):
                n = min(batch_size, num_samples - start)
                batch_seed = None if seed is None else int(seed) + i
                yield to_uint8_levels(
                    source.sample(n, seed=batch_seed), "model.sample(...)"
                )

        return num_samples, from_model()
    if kind == "array":
        images = np.asarray(source)
        if num_samples is not None:
            images = images[:num_samples]
        _check_shape(images.shape, "images")  # fail before any work
        to_uint8_levels(images[:1], "images")

        def from_array():
            for start in range(0, len(images), batch_size):
                yield to_uint8_levels(images[start : start + batch_size], "images")

        return len(images), from_array()
    return _iterate_dataset(source, batch_size, num_samples)


def _iterate_dataset(dataset, batch_size, num_samples):
    spec = _first_component(dataset.element_spec)
    rank = getattr(spec, "shape", None) and spec.shape.rank
    if rank not in (2, 3, 4):
        raise ValueError(
            "A dataset must yield images (H, W[, C]) or batches (b, H, W[, C]), "
            "alone, as the first item of a tuple, or under 'image' in a dict. "
            f"Received element_spec: {dataset.element_spec}"
        )
    # (b, H, W) grayscale batches and (H, W, C) images share a rank; a last
    # dimension of 1 or 3 reads as channels.
    batched = rank == 4 or (rank == 3 and spec.shape[-1] not in (1, 3))
    dataset = dataset.map(lambda *e: _first_component(e[0] if len(e) == 1 else e))
    total = None
    if batched:
        dataset = dataset.unbatch()
    elif int(dataset.cardinality()) >= 0:
        total = int(dataset.cardinality())
    if num_samples is not None:
        dataset = dataset.take(num_samples)
        total = num_samples if total is None else min(total, num_samples)
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def from_dataset():
        for batch in dataset.as_numpy_iterator():
            yield to_uint8_levels(batch, "dataset images")

    return total, from_dataset()


def map_batches(
    source, fn, batch_size=64, num_samples=None, seed=0, desc=None, progress=True
):
    """`fn` applied to each non-empty batch of `source` (see
    `iterate_images`), with a tqdm progress bar, concatenated."""
    total, batches = iterate_images(source, batch_size, num_samples, seed)
    bar = None
    if progress:
        bar = tqdm(total=total, desc=desc, unit="img")
    out = []
    try:
        for batch in batches:
            if len(batch) == 0:
                continue
            out.append(fn(batch))
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    if not out:
        raise ValueError("The image source yielded no images.")
    return np.concatenate(out)


def draw_images(source, num_samples, batch_size=64, seed=0, desc=None, progress=True):
    """All `num_samples` images of `source` (see `iterate_images`) as one
    uint8 array (n, H, W, C), e.g. a model's samples drawn once so that
    `chunked_features` can split their feature extraction."""
    return map_batches(
        source,
        lambda batch: batch.astype("uint8"),  # already integer levels
        batch_size,
        num_samples,
        seed,
        desc=desc or "images",
        progress=progress,
    )


#: Images per resumable chunk of a long feature computation.
CHUNK_SIZE = 5000
#: An empty claim file older than this many seconds is left from a crash.
_EMPTY_CLAIM_SECONDS = 60
#: Seconds between looks at the chunks that peers compute.
POLL_SECONDS = 5.0


class ChunksRemoved(RuntimeError):
    """The chunk folder vanished while this process waited on a chunk: a
    peer that finished the computation removed it (its caller stores the
    result elsewhere and should read it from there)."""


def save_features(path, features, metadata):
    """Writes features (n, d) with their JSON-able `metadata` to the `.npz`
    `path` atomically; `load_features` reads it back without pickle."""
    text = np.array(json.dumps(metadata, sort_keys=True))
    write_atomic(path, lambda p: np.savez(p, features=features, metadata=text))


def load_features(path):
    """`(features, metadata)` of a `save_features` file; ValueError when the
    file holds something else."""
    with np.load(path, allow_pickle=False) as stored:
        if "features" not in stored.files or "metadata" not in stored.files:
            raise ValueError(
                f"{path} is not a features file. Expected arrays 'features' "
                f"and 'metadata'. Received keys: {sorted(stored.files)}"
            )
        return stored["features"], json.loads(str(stored["metadata"]))


def _save_array(path, array):
    with open(path, "wb") as f:  # a file object: np.save adds no suffix
        np.save(f, array)


def _claim_is_live(path):
    """Whether the process named in a claim file may still be working."""
    try:
        with open(path) as f:
            text = f.read()
        age = time.time() - os.path.getmtime(path)
    except FileNotFoundError:
        return False
    if not text:  # being written, or its writer died between open and write
        return age < _EMPTY_CLAIM_SECONDS
    host, _, pid = text.partition(" ")
    if host != socket.gethostname():
        return True  # another machine's process: no way to check it here
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _holder():
    return f"{socket.gethostname()} {os.getpid()}"


def _peer_path(directory):
    # One file per participating thread: its content names the process.
    return os.path.join(directory, f"peer-{os.getpid()}-{threading.get_ident()}")


def _leave(directory):
    try:
        os.remove(_peer_path(directory))
    except FileNotFoundError:
        pass


def release_chunks(directory):
    """Ends this thread's part in a `chunked_features` computation and
    removes the chunk folder unless a live peer still works in it (the
    last one out removes it). Call it once the result is stored."""
    _leave(directory)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    busy = [n for n in names if n.startswith("peer-") or n.endswith(".claim")]
    if any(_claim_is_live(os.path.join(directory, n)) for n in busy):
        return
    shutil.rmtree(directory, ignore_errors=True)


def _claim(path):
    """Creates the claim file `path` for this process; False when a live
    process holds it. A claim of a process that is gone is taken over."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if _claim_is_live(path):
                return False
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(_holder())
        return True
    return False


def _start_chunks(directory, key):
    key_path = os.path.join(directory, "key.json")
    if os.path.isfile(key_path):
        with open(key_path) as f:
            if json.load(f) == key:
                return
        shutil.rmtree(directory)  # chunks of another request
    os.makedirs(directory, exist_ok=True)

    def write(partial):
        with open(partial, "w") as f:
            json.dump(key, f, sort_keys=True)

    write_atomic(key_path, write)


def chunked_features(images, extractor, directory, key, desc, chunk_size=None):
    """Features of `images`, `chunk_size` (default `CHUNK_SIZE`) at a time,
    each chunk kept in `directory` until `release_chunks(directory)`.

    - An interrupted computation resumes where it stopped (50k Inception
      passes take about 1.6 h on one core of a 2-core CPU).
    - Several processes given the same arguments share the work, one chunk
      at a time: a process claims a chunk with an exclusive claim file
      (`<chunk>.claim`, holding its host and pid), skips chunks claimed by
      live processes, then waits for them; a claim whose process is gone
      is taken over. So one command started once per core (each process
      pinned to its core) runs about as many times faster. Each
      participant is registered in the folder until it calls
      `release_chunks`, so the folder outlives the first one to finish.
    - Chunks of another request (`key`, a JSON-able dict, differs) are
      discarded.

    Raises:
        ChunksRemoved: the folder vanished while this process waited: a
            peer finished and its caller removed the chunks.
    """
    chunk_size = check_positive_int(chunk_size or CHUNK_SIZE, "chunk_size")
    _start_chunks(directory, key)
    with open(_peer_path(directory), "w") as f:
        f.write(_holder())
    try:
        return _collect(images, extractor, directory, desc, chunk_size)
    except BaseException:
        _leave(directory)  # the chunks stay: a rerun resumes from them
        raise


def _collect(images, extractor, directory, desc, chunk_size):
    spans = [
        (start, min(start + chunk_size, len(images)))
        for start in range(0, len(images), chunk_size)
    ]
    parts = {}
    while len(parts) < len(spans):
        progressed = False
        for start, stop in spans:
            if (start, stop) in parts:
                continue
            path = os.path.join(directory, f"{start:08d}-{stop:08d}.npy")
            if not os.path.isfile(path):
                if not os.path.isdir(directory):
                    raise ChunksRemoved(directory)
                if not _claim(path + ".claim"):
                    continue  # a live peer computes it
                try:
                    if not os.path.isfile(path):  # a peer may have just finished
                        label = desc if len(spans) == 1 else f"{desc} {start}:{stop}"
                        part = extractor.features(images[start:stop], desc=label)
                        write_atomic(path, lambda p, part=part: _save_array(p, part))
                finally:
                    try:
                        os.remove(path + ".claim")
                    except FileNotFoundError:
                        pass
            parts[(start, stop)] = np.load(path, allow_pickle=False)
            progressed = True
        if len(parts) < len(spans) and not progressed:
            time.sleep(POLL_SECONDS)
    return np.concatenate([parts[span] for span in spans])


def features_of(source, extractor, num_samples=None, seed=0, desc=None):
    """`source` as pool3 features: a 2-D array is taken as features already,
    anything else goes through `extractor.features`."""
    if isinstance(source, np.ndarray) and source.ndim == 2:
        if not np.issubdtype(source.dtype, np.floating):
            raise TypeError(
                "A 2-D array is read as features and must be float. "
                f"Received: dtype={source.dtype}"
            )
        return source
    return extractor().features(source, num_samples=num_samples, seed=seed, desc=desc)


class FeatureExtractor:
    """Features (and logits) of any image source through a feature network.

    The interface of the metrics' feature networks, and the loop that runs
    them: images are converted to uint8 levels (`to_uint8_levels`), padded
    to a fixed batch so the compiled function is traced once per image
    size, and run through `network` in float32, with a tqdm progress bar.
    `evaluate` and `reference_statistics` need of a network:

    - `name`: names the results (`metric_names`: `"<name>_fd"`, ...);
    - `protocol`: a dict naming at least `PROTOCOL_FIELDS` (network,
      dimension, weights sha256, resize, input dtype), which keys the caches
      and goes into every record;
    - `image_shape`: the (H, W, C) the network takes, None for any size
      (`check_model` refuses a model of another size before it samples);
    - `features(source, logits=False)` batch by batch, `logits_of(features)`
      and `check_logits()` for the scores;
    - `score_splits`: the score's default number of splits.

    Subclasses: `InceptionFeatureExtractor` (FID Inception pool3),
    `ClassifierFeatureExtractor` (a domain classifier's penultimate layer).
    A custom network gets a `protocol` (and a `name`) assigned.

    Args:
        network: a callable from uint8 levels (b, H, W, C) float32 to
            features (b, d), with `output_layer` (None when it has no
            logits) and `logits(features)`; default the FID Inception network
            of `weights`, loaded on first use (`InceptionFeatureExtractor`
            also names its protocol).
        weights: see `load_fid_inception` (used when `network` is None).
        batch_size: images per forward pass.
        progress: show a tqdm progress bar.

    Example:

    ```python
    extractor = tfgen.metrics.InceptionFeatureExtractor(
        weights="pt_inception-2015-12-05-6726825d.pth")
    real = extractor.features(tfgen.data.load_arrays("cifar10", "test")[0])
    fake = extractor.features(model, num_samples=10000, seed=0)
    tfgen.metrics.fid(real, fake)  # 2-D arrays are taken as features
    ```

    References:
        Heusel et al., GANs Trained by a Two Time-Scale Update Rule Converge
        to a Local Nash Equilibrium, arXiv 1706.08500 (features compared by
        their statistics).
    """

    name = "custom"
    protocol = None
    image_shape = None
    score_splits = 1

    def __init__(self, network=None, weights=None, batch_size=64, progress=True):
        self._network = network
        self.weights = weights
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.progress = bool(progress)
        self._forward = {}

    @property
    def network(self):
        # Loaded on first use: precomputed features and cached reference
        # statistics never load it.
        if self._network is None:
            self._network = self._load_network()
        return self._network

    @network.setter
    def network(self, network):
        self._network = network
        self._forward = {}

    def _load_network(self):
        return load_fid_inception(self.weights)

    @property
    def metric_names(self):
        """Result names per metric key (`"fid"`, `"kid"`, `"is"`,
        `"precision"`, `"recall"`)."""
        return {
            "fid": f"{self.name}_fd",
            "kid": f"{self.name}_kid",
            "is": f"{self.name}_score",
            "precision": f"{self.name}_precision",
            "recall": f"{self.name}_recall",
            "classes": f"{self.name}_min_class_share",
        }

    def describe(self, output="features"):
        """One line naming the network and the layer read (`"features"` or
        `"logits"`), for the records."""
        protocol = self.protocol or {}
        network = protocol.get("feature_network", self.name)
        if output == "logits":
            return f"{network} logits"
        return f"{network} ({protocol.get('feature_dim', '?')}-d)"

    def check_model(self, model):
        """Raises ValueError when `model.image_shape` is not the network's."""
        expected = self.image_shape
        shape = getattr(model, "image_shape", None)
        if expected is None or shape is None or tuple(shape) == tuple(expected):
            return
        raise ValueError(
            f"The {self.name!r} feature network takes {tuple(expected)} images; this "
            f"model samples {tuple(shape)}. Expected a model of that size, or "
            f"features='inception' (any size). Received: features={self.name!r}"
        )

    def check_logits(self):
        """Raises ValueError when the network has no logits layer (the
        scores need one)."""
        if getattr(self.network, "output_layer", None) is None:
            raise ValueError(
                f"Scores need class logits, and the {self.name!r} feature network "
                f"({type(self.network).__name__}) has no logits layer. Expected a "
                "network with `output_layer` and `logits(features)`. Received: "
                "output_layer=None"
            )

    def _compiled(self, image_shape):
        # One traced function per image size, each with static shapes: the
        # FID network builds its resize from them, and `reduce_retracing`
        # would relax a second size to (None, None, None). Batches are padded
        # to `batch_size`, so each size is traced once.
        key = tuple(int(d) for d in image_shape)
        if key not in self._forward:
            network = self.network
            self._forward[key] = tf.function(lambda x: network(x))
        return self._forward[key]

    def features(self, source, num_samples=None, seed=0, logits=False, desc=None):
        """Features (n, d) float32 of `source`; with `logits=True`,
        `(features, logits)` (see `logits_of`). `num_samples`/`seed`: see
        `iterate_images`."""
        if logits:
            self.check_logits()
        features = map_batches(
            source,
            self._run_batch,
            self.batch_size,
            num_samples,
            seed,
            desc=desc or f"{self.name} features",
            progress=self.progress,
        )
        features = features.astype("float32", copy=False)
        if not logits:
            return features
        return features, self.logits_of(features)

    def _run_batch(self, batch):
        # Pad the last batch to the fixed size: one trace per image size.
        n = len(batch)
        if n < self.batch_size:
            pad = np.zeros((self.batch_size - n, *batch.shape[1:]), "float32")
            batch = np.concatenate([batch, pad])
        return np.asarray(self._compiled(batch.shape[1:])(batch))[:n]

    def logits_of(self, features):
        """The logits (n, classes) of `features` (n, d), through the
        network's `logits` (for Inception: 1008-way, without the output
        bias; see `FIDInceptionV3.logits`)."""
        return np.concatenate(
            [
                np.asarray(self.network.logits(features[i : i + 4096]))
                for i in range(0, len(features), 4096)
            ]
        )


_SHA256 = {}


def _file_sha256(path):
    """sha256 of a weights file, computed once per (path, size, mtime)."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        _SHA256[key] = files.sha256(path)
    return _SHA256[key]


def inception_protocol(weights=None, cache_dir=None):
    """The protocol of the FID Inception features, and the weights file.

    Returns `(protocol, path)`: `protocol` names the feature network, its
    dimension, the weights' file name and sha256, the resize and the input
    dtype; `path` is the resolved weights file (see
    `tfgen.metrics.inception.resolve_weights`).
    """
    path = resolve_weights(weights, cache_dir=cache_dir)
    return {
        "feature_network": FEATURE_NETWORK,
        "feature_dim": FEATURE_DIM,
        "weights": os.path.basename(path),
        "weights_sha256": _file_sha256(path),
        "resize": RESIZE,
        "input_dtype": INPUT_DTYPE,
    }, path


class InceptionFeatureExtractor(FeatureExtractor):
    """FID Inception pool3 features (2048-d) and logits, with their protocol.

    TF's `inception-2015-12-05` graph as TTUR, pytorch-fid and StyleGAN
    run it (`FIDInceptionV3`): images of any size are rounded to uint8
    levels and resized bilinearly to 299x299. The weights are found as
    `load_fid_inception` finds them, when the protocol or the network is
    first needed (so building one costs nothing). The Inception Score reads
    the 1008-way logits, which only pytorch-fid's `.pth` holds.

    Args:
        weights: see `load_fid_inception`; default `$TFGEN_FID_WEIGHTS`, else
            a download of pytorch-fid's file.
        batch_size: images per forward pass.
        progress: show a tqdm progress bar.
        cache_dir: folder of converted and downloaded weights; default
            `$TFGEN_CACHE_DIR` or `~/.keras/tfgen`.

    Example:

    ```python
    network = tfgen.metrics.InceptionFeatureExtractor(batch_size=32)
    network.protocol["weights_sha256"]
    tfgen.metrics.evaluate(model, "fid,kid", num_samples=10000,
                           reference="cifar10:train", features=network)
    ```

    References:
        Szegedy et al., Rethinking the Inception Architecture for Computer
        Vision, arXiv 1512.00567; Heusel et al., arXiv 1706.08500 (FID).
    """

    name = "inception"
    # The original Inception Score protocol (OpenAI's code, StyleGAN's is50k).
    score_splits = 10
    metric_names = {
        "fid": "fid",
        "kid": "kid",
        "is": "inception_score",
        "precision": "precision",
        "recall": "recall",
        "classes": "min_class_share",
    }

    def __init__(self, weights=None, batch_size=64, progress=True, cache_dir=None):
        super().__init__(weights=weights, batch_size=batch_size, progress=progress)
        self.cache_dir = cache_dir

    @property
    def protocol(self):
        # Resolved on each use (the sha256 is cached per file and mtime).
        return inception_protocol(self.weights, cache_dir=self.cache_dir)[0]

    def _load_network(self):
        return load_fid_inception(self.weights, cache_dir=self.cache_dir)

    def describe(self, output="features"):
        if output == "logits":
            return "inception-2015-12-05 logits (1008-way, no bias)"
        return f"{FEATURE_NETWORK} ({FEATURE_DIM}-d)"

    def check_logits(self):
        if self.network.output_layer is None:
            path = resolve_weights(self.weights, cache_dir=self.cache_dir)
            raise ValueError(
                "The Inception Score needs the FID network's 1008-way output layer, "
                f"and the weights {path} hold none. Expected pytorch-fid's "
                "pt_inception-2015-12-05-6726825d.pth (pass weights= or set "
                "$TFGEN_FID_WEIGHTS), or drop 'is' from the metrics, or use the "
                "domain classifier (features='classifier') on 28x28 data."
            )


_EXTRACTORS = {}


def default_extractor(
    extractor=None, weights=None, batch_size=64, progress=True, cache_dir=None
):
    """A zero-argument function giving `extractor`, or else a shared
    `InceptionFeatureExtractor` of `weights`, built on first use and reused
    by later calls with the same arguments (so its function is traced
    once); its network loads when first run, so precomputed features never
    load it."""

    def get():
        if extractor is not None:
            return extractor
        key = (
            None if weights is None else os.path.abspath(os.fspath(weights)),
            os.environ.get("TFGEN_FID_WEIGHTS"),
            int(batch_size),
            bool(progress),
            None if cache_dir is None else os.path.abspath(os.fspath(cache_dir)),
        )
        if key not in _EXTRACTORS:
            _EXTRACTORS[key] = InceptionFeatureExtractor(
                weights, batch_size=batch_size, progress=progress, cache_dir=cache_dir
            )
        return _EXTRACTORS[key]

    return get
