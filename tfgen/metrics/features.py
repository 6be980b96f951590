"""Streams images from arrays, `tf.data` pipelines or models into Inception features."""

import json
import os
import shutil
import socket
import threading
import time

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfgen import levels
from tfgen.files import write_atomic
from tfgen.metrics.inception import load_fid_inception
from tfgen.validation import check_positive_int

__all__ = [
    "CHUNK_SIZE",
    "ChunksRemoved",
    "FeatureExtractor",
    "chunked_features",
    "default_extractor",
    "draw_images",
    "load_features",
    "release_chunks",
    "save_features",
    "describe_source",
    "features_of",
    "iterate_images",
    "to_uint8_levels",
]


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
    """Inception pool3 features (and logits) of any image source, batch by batch.

    Images are converted to uint8 levels (`to_uint8_levels`), padded to a
    fixed batch so the compiled function is traced once per image size,
    and run through `FIDInceptionV3` in float32, with a tqdm progress bar.

    Args:
        network: a `FIDInceptionV3`; default `load_fid_inception(weights)`.
        weights: see `load_fid_inception` (used when `network` is None).
        batch_size: images per forward pass.
        progress: show a tqdm progress bar.

    Example:

    ```python
    extractor = tfgen.metrics.FeatureExtractor(weights="pt_inception-2015-12-05-6726825d.pth")
    real = extractor.features(tfgen.data.load_arrays("cifar10", "test")[0])
    fake = extractor.features(model, num_samples=10000, seed=0)
    tfgen.metrics.fid(real, fake)  # 2-D arrays are taken as features
    ```
    """

    def __init__(self, network=None, weights=None, batch_size=64, progress=True):
        if network is None:
            network = load_fid_inception(weights)
        self.network = network
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.progress = bool(progress)
        self._forward = {}

    def _compiled(self, image_shape):
        # One traced function per image size, each with static shapes: the
        # FID network builds its resize from them, and `reduce_retracing`
        # would relax a second size to (None, None, None). Batches are padded
        # to `batch_size`, so each size is traced once.
        key = tuple(int(d) for d in image_shape)
        if key not in self._forward:
            self._forward[key] = tf.function(lambda x: self.network(x))
        return self._forward[key]

    def features(self, source, num_samples=None, seed=0, logits=False, desc=None):
        """pool3 features (n, 2048) float32 of `source`; with `logits=True`,
        `(features, logits)` where logits (n, 1008) omit the output bias (see
        `FIDInceptionV3.logits`). `num_samples`/`seed`: see `iterate_images`."""
        if logits and self.network.output_layer is None:
            self.network.logits(np.zeros((1, 2048), "float32"))  # raises, explains
        features = map_batches(
            source,
            self._run_batch,
            self.batch_size,
            num_samples,
            seed,
            desc=desc or "Inception features",
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
        """The logits (n, 1008) of pool3 `features` (n, 2048); see
        `FIDInceptionV3.logits`."""
        return np.concatenate(
            [
                np.asarray(self.network.logits(features[i : i + 4096]))
                for i in range(0, len(features), 4096)
            ]
        )


_EXTRACTORS = {}


def default_extractor(extractor=None, weights=None, batch_size=64, progress=True):
    """A zero-argument function giving `extractor`, or else a shared
    `FeatureExtractor` over `load_fid_inception(weights)`, built on first
    use (so precomputed features never load the network) and reused by
    later calls with the same arguments (so its function is traced once)."""

    def get():
        if extractor is not None:
            return extractor
        key = (
            None if weights is None else os.path.abspath(os.fspath(weights)),
            os.environ.get("TFGEN_FID_WEIGHTS"),
            int(batch_size),
            bool(progress),
        )
        if key not in _EXTRACTORS:
            _EXTRACTORS[key] = FeatureExtractor(
                weights=weights, batch_size=batch_size, progress=progress
            )
        return _EXTRACTORS[key]

    return get
