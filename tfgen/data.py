"""Datasets as `tf.data` pipelines: local files first, then tensorflow-datasets.

Built-in names read `<data_dir>/<name>.npz` (uint8 arrays `x_<split>` and, for
labelled sets, `y_<split>`), with `data_dir` from the argument or
`$TFGEN_DATA_DIR` (default `~/tfgen_data`). When no such file exists they fall
back to a copy tensorflow-datasets has already prepared; only `download=True`
fetches the data (from the datasets' canonical sources, into that `.npz`), so
nothing ever waits on the network by default.

`download(name)` and `prepare(name, source_dir)` (`tfgen data download` and
`tfgen data prepare`) write the `.npz` from the canonical source files, with
sha256-checked downloads (`tfgen.downloads`), bounded parsers that never
unpickle anything but CIFAR-10's own batch layout, and the converted arrays
checked against those tfgen's zoo was trained on.

Any other `name` is the user's own data: a folder of PNG/JPEG images, an
`.npy`/`.npz` file, or a numpy array of shape (n, H, W[, C]).

Whatever the source, arrays pass `tfgen.validation.check_pixel_data` before
use: integer pixel levels (0..255, or 0/1 for binarized MNIST), bool, or
floats in [0, 1] exactly on the level grid; the dataset's own image shape;
integer labels in [0, num_classes), one per image. Anything else is refused
with a message naming the file, never cast. `.npz`/`.npy` files are read
with `allow_pickle=False`, and an unreadable one is reported as such.
"""

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import zipfile
import zlib

import numpy as np
import tensorflow as tf

from tfgen import downloads, files
from tfgen.validation import check_pixel_data

__all__ = [
    "ARRAY_SHA256",
    "CLASS_NAMES",
    "BINARY_DATASETS",
    "DATA_URL_ENV",
    "DATASETS",
    "DatasetNotFoundError",
    "SOURCES",
    "default_data_dir",
    "download",
    "parse_splits",
    "prepare",
    "load",
    "load_arrays",
    "load_domain",
    "load_unpaired",
]

# name -> (tfds name, splits, labelled, image shape)
DATASETS = {
    "mnist": ("mnist", ("train", "test"), True, (28, 28, 1)),
    "fashion_mnist": ("fashion_mnist", ("train", "test"), True, (28, 28, 1)),
    "cifar10": ("cifar10", ("train", "test"), True, (32, 32, 3)),
    "binarized_mnist": (
        "binarized_mnist",
        ("train", "valid", "test"),
        False,
        (28, 28, 1),
    ),
}
#: Sets stored with 0/1 pixels (read as 0/255 bytes).
BINARY_DATASETS = ("binarized_mnist",)
_TFDS_SPLITS = {"valid": "validation"}
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": (
        "t-shirt",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "ankle_boot",
    ),
    "cifar10": (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
}
_VALUE_RANGES = ("unit", "symmetric", "levels")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither in the data dir nor prepared by tensorflow-datasets."""


def default_data_dir(path=None):
    """The directory tfgen reads datasets from."""
    return os.path.expanduser(
        path or os.environ.get("TFGEN_DATA_DIR") or os.path.join("~", "tfgen_data")
    )


def parse_splits(name, split):
    """`split` of dataset `name` ("train", "train+valid", ...) as a list of
    its known splits, or a ValueError naming them."""
    splits = DATASETS[name][1]
    parts = [p.strip() for p in str(split).split("+")]
    for part in parts:
        if part not in splits:
            raise ValueError(
                f"Unknown split {part!r} for {name!r}. Expected one of {list(splits)} "
                f"(join with '+', e.g. 'train+valid'). Received: split={split!r}"
            )
    return parts


def _expected_npz(name):
    """What `<name>.npz` holds, for messages."""
    _, splits, labelled, shape = DATASETS[name]
    images = ", ".join(f"x_{s}" for s in splits)
    dims = ", ".join(str(d) for d in (shape if shape[2] != 1 else shape[:2]))
    pixels = "0/1 pixels" if name in BINARY_DATASETS else "pixels 0..255"
    text = f"uint8 arrays {images} of shape (n, {dims}) with {pixels}"
    if labelled:
        labels = ", ".join(f"y_{s}" for s in splits)
        text += f" and {labels} of class ids 0..{len(CLASS_NAMES[name]) - 1}"
    return text


def _download_hint(name):
    return (
        f"download it from its canonical source: `tfgen data download {name}` "
        f"(or tfgen.data.load({name!r}, download=True) in Python; needs network "
        f"access), or convert source files at hand: `tfgen data prepare {name} "
        "--from DIR`"
    )


def _not_found(name, directory):
    tfds_name = DATASETS[name][0]
    return DatasetNotFoundError(
        f"Dataset {name!r} was not found. Looked for {os.path.join(directory, name + '.npz')} "
        f"and for a prepared tensorflow-datasets copy of {tfds_name!r}. Get it either way:\n"
        f"  1. put {name}.npz ({_expected_npz(name)}) in that folder, or point "
        "$TFGEN_DATA_DIR / data_dir= at a folder holding it;\n"
        f"  2. or {_download_hint(name)}."
    )


def _dataset_checks(name):
    """`check_pixel_data` keywords of a built-in dataset."""
    _, _, labelled, shape = DATASETS[name]
    return {
        "image_shape": shape,
        "num_levels": 2 if name in BINARY_DATASETS else 256,
        "num_classes": len(CLASS_NAMES[name]) if labelled else None,
    }


# What a damaged or foreign file raises from np.load or from reading a member.
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def _read_numpy(path, select, expected, remedy):
    """Reads an `.npy` array, or the members `select(keys)` of an `.npz`
    archive as a dict, with `allow_pickle=False`. A file numpy cannot read
    raises a ValueError naming it, what was `expected` and the `remedy`
    (never numpy's advice to allow pickle). Returns `(keys, arrays)`."""
    member = None
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return None, loaded
        with loaded:
            keys = loaded.files
            arrays = {}
            for member in select(keys):
                arrays[member] = loaded[member]
            return keys, arrays
    except _READ_ERRORS as e:
        if member is not None and "pickle" in str(e):
            received = (
                f"{member} is an object array, which only pickle can read, and "
                "tfgen refuses to unpickle data files"
            )
        elif member is not None:
            received = f"{member} cannot be read ({type(e).__name__}: {e})"
        else:
            with open(path, "rb") as f:
                head = f.read(8)
            what = (
                "is neither a zip archive nor a .npy array (tfgen refuses to "
                "unpickle data files)"
                if "pickle" in str(e)
                else f"cannot be read ({type(e).__name__}: {e})"
            )
            received = (
                f"a {os.path.getsize(path)}-byte file starting {head!r} that {what}"
            )
        raise ValueError(
            f"{path} is not a valid dataset archive. Expected a NumPy .npz/.npy "
            f"file of {expected}. Received: {received}. {remedy}"
        ) from None


def _load_tfds(name, splits, labelled, tfds_data_dir):
    """The dataset from a copy tensorflow-datasets has already prepared, or
    None (downloads go through `download`, from the canonical sources)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:  # pragma: no cover - tfds is a dependency
        return None
    builder = tfds.builder(DATASETS[name][0], data_dir=tfds_data_dir)
    if not builder.is_prepared():
        return None
    xs, ys = [], []
    for split in splits:
        ds = builder.as_dataset(split=_TFDS_SPLITS.get(split, split), batch_size=-1)
        arrays = tfds.as_numpy(ds)
        x, y = check_pixel_data(
            arrays["image"],
            arrays["label"] if labelled else None,
            source=f"tensorflow-datasets' {DATASETS[name][0]}:{split}",
            **_dataset_checks(name),
        )
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), (np.concatenate(ys) if labelled else None)


def _read_npz(path, name, splits):
    labelled = DATASETS[name][2]
    wanted = [f"x_{s}" for s in splits] + (
        [f"y_{s}" for s in splits] if labelled else []
    )
    keys, arrays = _read_numpy(
        path,
        lambda keys: [k for k in wanted if k in keys],
        _expected_npz(name),
        f"Replace it with a valid {name}.npz, or delete it and {_download_hint(name)}.",
    )
    if keys is None:
        raise ValueError(
            f"{path} holds a single array. Expected a .npz archive of "
            f"{_expected_npz(name)}."
        )
    missing = [k for k in wanted if k not in arrays]
    if missing:
        raise ValueError(
            f"{path} lacks the arrays {missing}. Expected {_expected_npz(name)}. "
            f"Received keys: {sorted(keys)}"
        )
    xs, ys = [], []
    for s in splits:
        x, y = check_pixel_data(
            arrays[f"x_{s}"],
            arrays[f"y_{s}"] if labelled else None,
            source=f"{path} (x_{s}" + (f", y_{s})" if labelled else ")"),
            **_dataset_checks(name),
        )
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), (np.concatenate(ys) if labelled else None)


_USER_FILE = (
    "images (n, H, W[, C]): one .npy array, or an .npz archive with x_<split> "
    "(else its first array) and optionally y_<split> labels"
)


def _read_user_file(path, split):
    """Images (and labels) of the user's own .npy/.npz file."""

    def select(keys):
        if not keys:
            return []
        x_key = f"x_{split}" if f"x_{split}" in keys else keys[0]
        return [x_key] + ([f"y_{split}"] if f"y_{split}" in keys else [])

    keys, arrays = _read_numpy(
        path,
        select,
        _USER_FILE,
        "Save images with np.save or np.savez (numeric arrays need no pickle).",
    )
    if keys is None:
        return check_pixel_data(arrays, source=path)
    if not arrays:
        raise ValueError(f"{path} holds no arrays. Expected {_USER_FILE}.")
    names = list(arrays)  # the images first, then the labels if any
    return check_pixel_data(
        arrays[names[0]],
        arrays[names[1]] if len(names) > 1 else None,
        source=f"{path} ({', '.join(names)})",
    )


def load_arrays(name, split="train", data_dir=None, download=False, tfds_data_dir=None):
    """Returns `(images, labels)` as numpy arrays: uint8 (n, H, W, C), int64 (n,).

    `labels` is None for unlabelled data. `name` is a built-in dataset, a
    folder of images, an `.npy`/`.npz` file, or an array.
    """
    if isinstance(name, np.ndarray):
        return check_pixel_data(name, source="the array passed as `name`")
    if name in DATASETS:
        splits = parse_splits(name, split)
        directory = default_data_dir(data_dir)
        path = os.path.join(directory, f"{name}.npz")
        if os.path.isfile(path):
            return _read_npz(path, name, splits)
        found = _load_tfds(name, splits, DATASETS[name][2], tfds_data_dir)
        if found is not None:
            return found
        if not download:
            raise _not_found(name, directory)
        return _read_npz(_download_to(path, name), name, splits)
    path = os.path.expanduser(str(name))
    if os.path.isdir(path):
        return _read_folder(path), None
    if os.path.isfile(path) and path.endswith((".npy", ".npz")):
        return _read_user_file(path, split)
    if path.endswith((".npy", ".npz")) or os.sep in path:
        raise DatasetNotFoundError(
            f"No such file or folder: {path}. Expected a folder of PNG/JPEG "
            "images or an .npy/.npz file."
        )
    raise DatasetNotFoundError(
        f"Unknown dataset {name!r}. Expected one of {sorted(DATASETS)}, a folder of "
        "PNG/JPEG images, an .npy/.npz file, or a numpy array. "
        f"Received: name={name!r}"
    )


def _read_folder(path):
    from tfgen.images import read_images

    try:
        images = read_images(path)[0]
    except FileNotFoundError as e:
        raise DatasetNotFoundError(str(e)) from None
    return check_pixel_data(images, source=f"the images in {path}")[0]


def load(
    name,
    split="train",
    *,
    data_dir=None,
    value_range="unit",
    num_levels=256,
    binarize=None,
    labels=False,
    batch_size=None,
    shuffle=False,
    seed=None,
    drop_remainder=False,
    repeat=False,
    prefetch=True,
    download=False,
    tfds_data_dir=None,
    first_epoch=0,
):
    """Returns a `tf.data.Dataset` of images (or `(images, labels)`).

    Args:
        name: `"mnist"`, `"fashion_mnist"`, `"cifar10"`, `"binarized_mnist"`,
            a folder of PNG/JPEG images, an `.npy`/`.npz` file or an array.
        split: `"train"`, `"test"` (and `"valid"` for binarized MNIST);
            join with `+`, e.g. `"train+valid"`.
        data_dir: folder of `<name>.npz` files; default `$TFGEN_DATA_DIR`.
        value_range: `"unit"` float32 in [0, 1], `"symmetric"` in [-1, 1],
            or `"levels"` int32 in [0, num_levels).
        num_levels: levels per channel when quantizing (2..256).
        binarize: None, `"dynamic"` (each pixel ~ Bernoulli(intensity), drawn
            afresh every epoch) or `"threshold"` (intensity > 0.5).
        labels: yield `(image, label)` pairs.
        batch_size, shuffle, seed, drop_remainder, repeat, prefetch: the
            usual `tf.data` options; `seed` makes shuffling and dynamic
            binarization deterministic. With `repeat=True` and a `seed`,
            epoch k's order and binarization noise depend on `(seed, k)`
            alone, so a stream started at `first_epoch=k` continues an
            interrupted one exactly.
        download: fetch a missing built-in dataset from its canonical
            source into `data_dir` first (see `download`).
        tfds_data_dir: tensorflow-datasets' data dir.
        first_epoch: the epoch the repeated stream starts at (a resumed
            run's); needs `repeat=True` and a `seed`.

    Example:

    ```python
    ds = tfgen.data.load("cifar10", batch_size=64, shuffle=True, seed=0)
    ds = tfgen.data.load("mnist", binarize="dynamic", batch_size=100)
    ds = tfgen.data.load("~/my_faces", batch_size=32)  # a folder of PNGs
    ```
    """
    if value_range not in _VALUE_RANGES:
        raise ValueError(
            f"`value_range` must be one of {_VALUE_RANGES}. Received: value_range={value_range!r}"
        )
    if binarize not in (None, "dynamic", "threshold"):
        raise ValueError(
            "`binarize` must be None, 'dynamic' or 'threshold'. "
            f"Received: binarize={binarize!r}"
        )
    if not 2 <= int(num_levels) <= 256:
        raise ValueError(
            f"`num_levels` must be in [2, 256]. Received: num_levels={num_levels}"
        )
    x, y = load_arrays(
        name, split, data_dir=data_dir, download=download, tfds_data_dir=tfds_data_dir
    )
    if labels and y is None:
        raise ValueError(f"Dataset {name!r} has no labels. Received: labels=True")
    binary_source = isinstance(name, str) and name in BINARY_DATASETS
    if binary_source:
        # Stored as 0/1: scale to 0/255 so every option below sees bytes.
        x = x * np.uint8(255)
    levels = 2 if (binarize or binary_source) else int(num_levels)

    first_epoch = _check_first_epoch(first_epoch, repeat, seed)
    if repeat and seed is not None:
        ds = _epoch_stream(x, y if labels else None, shuffle, seed, first_epoch)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y) if labels else x)
        if shuffle:
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        seeds = tf.data.Dataset.random(seed=seed).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds))

    def convert(image, step_seed):
        image = tf.cast(image, tf.float32) / 255.0
        if binarize == "dynamic":
            noise = tf.random.stateless_uniform(tf.shape(image), seed=step_seed)
            image = tf.cast(noise < image, tf.float32)
        elif binarize == "threshold":
            image = tf.cast(image > 0.5, tf.float32)
        elif levels < 256:
            image = tf.floor(image * (255.0 / 256.0) * levels) / (levels - 1)
        if value_range == "symmetric":
            image = image * 2.0 - 1.0
        elif value_range == "levels":
            image = tf.cast(tf.round(image * (levels - 1)), tf.int32)
        return image

    if labels:
        ds = ds.map(
            lambda xy, s: (convert(xy[0], s), xy[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    if seed is not None:
        options = tf.data.Options()
        options.deterministic = True
        ds = ds.with_options(options)
    if batch_size:
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def _check_first_epoch(first_epoch, repeat, seed):
    if isinstance(first_epoch, bool) or not isinstance(first_epoch, (int, np.integer)):
        raise TypeError(
            f"`first_epoch` must be an int. Received: first_epoch={first_epoch!r}"
        )
    if first_epoch < 0:
        raise ValueError(
            f"`first_epoch` must be >= 0. Received: first_epoch={first_epoch}"
        )
    if first_epoch and (not repeat or seed is None):
        raise ValueError(
            "`first_epoch` starts a seeded, repeated stream; it needs repeat=True "
            f"and a seed. Received: first_epoch={first_epoch}, repeat={repeat}, "
            f"seed={seed}"
        )
    return int(first_epoch)


def _epoch_stream(x, y, shuffle, seed, first_epoch):
    """`(element, noise seed)` pairs of epochs `first_epoch, first_epoch + 1,
    ...` of `x` (and `y`), each epoch a function of `(seed, epoch)` only:
    a resumed run sees the order and noise an uninterrupted one would have.
    Only indices pass through the stream; images are gathered at the end."""
    n = len(x)
    seed = int(seed)

    def epoch_indices(epoch):
        indices = tf.range(n, dtype=tf.int64)
        if shuffle:
            indices = tf.random.experimental.stateless_shuffle(
                indices, seed=tf.stack([tf.constant(seed, tf.int64), epoch])
            )
        positions = epoch * n + tf.range(n, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices((indices, positions))

    stream = tf.data.Dataset.counter(start=first_epoch, dtype=tf.int64).flat_map(
        epoch_indices
    )
    images = tf.constant(x)
    targets = None if y is None else tf.constant(y)

    def gather(index, position):
        element = tf.gather(images, index)
        if targets is not None:
            element = (element, tf.gather(targets, index))
        # The noise seed of the element at this place of the stream.
        return element, tf.stack([tf.constant(seed, tf.int64), position])

    return stream.map(gather)


def _class_id(dataset, cls):
    names = CLASS_NAMES[dataset]
    if cls in names:
        return names.index(cls)
    if cls.isdigit() and int(cls) < len(names):
        return int(cls)
    raise ValueError(
        f"Unknown class {cls!r} of {dataset!r}. Expected a name among {list(names)} "
        f"or an id in [0, {len(names)}). Received: {dataset}:{cls}"
    )


def _load_cycle_gan_tfds(name, side, split, download, tfds_data_dir):
    if side not in ("A", "B"):
        raise ValueError(
            f"A tensorflow-datasets CycleGAN domain is 'cycle_gan/<pair>:A' or ':B'. "
            f"Received: {name}:{side}"
        )
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=tfds_data_dir)
    if not builder.is_prepared():
        if not download:
            raise DatasetNotFoundError(
                f"{name!r} is not prepared by tensorflow-datasets. Download it with "
                f"load_unpaired(..., download=True) (needs network access), or save "
                "the domain's images in a folder and pass the folder."
            )
        builder.download_and_prepare()
    ds = builder.as_dataset(split=f"{split}{side}", batch_size=-1)
    images = tfds.as_numpy(ds)["image"]
    return check_pixel_data(
        images, source=f"tensorflow-datasets' {name}:{split}{side}"
    )[0]


def load_domain(
    domain, split="train", data_dir=None, download=False, tfds_data_dir=None
):
    """uint8 images (n, H, W, C) of one domain of an unpaired dataset.

    `domain` is `"<dataset>:<class>"` (a class subset of a labelled
    built-in dataset, by name or id, e.g. `"cifar10:cat"`), a
    tensorflow-datasets CycleGAN pair `"cycle_gan/horse2zebra:A"` (its
    `trainA`/`testA` split), a folder of images, an `.npy`/`.npz` file, or
    an array.
    """
    if isinstance(domain, str) and ":" in domain and not os.path.exists(domain):
        source, cls = domain.rsplit(":", 1)
        if source.startswith("cycle_gan/"):
            return _load_cycle_gan_tfds(source, cls, split, download, tfds_data_dir)
        if source not in CLASS_NAMES:
            raise ValueError(
                f"Class subsets come from {sorted(CLASS_NAMES)}. Received: {domain!r}"
            )
        x, y = load_arrays(source, split, data_dir=data_dir, download=download)
        return x[y == _class_id(source, cls)]
    return load_arrays(domain, split, data_dir=data_dir, download=download)[0]


def load_unpaired(
    domain_a,
    domain_b,
    split="train",
    *,
    data_dir=None,
    batch_size=None,
    shuffle=False,
    seed=None,
    drop_remainder=False,
    prefetch=True,
    download=False,
    tfds_data_dir=None,
    repeat=False,
    first_epoch=0,
):
    """A `tf.data.Dataset` of `(a, b)` pairs of unpaired images in [0, 1].

    The two domains are drawn independently (each shuffled with its own
    seed when `shuffle`); an epoch has as many pairs as the larger domain
    has images, the smaller one cycling, as in the CycleGAN reference.

    Args:
        domain_a, domain_b: see `load_domain`, e.g. `"cifar10:cat"`,
            `"cifar10:dog"`, a folder, or `"cycle_gan/horse2zebra:A"`.
        split: `"train"` or `"test"` (for folders and arrays: ignored).
        data_dir, download, tfds_data_dir: see `load`.
        batch_size, shuffle, seed, drop_remainder, prefetch: the usual
            `tf.data` options.
        repeat, first_epoch: see `load`; with `repeat=True` and a `seed`,
            epoch k's pairs depend on `(seed, k)` alone.

    Example:

    ```python
    ds = tfgen.data.load_unpaired("cifar10:cat", "cifar10:dog", batch_size=1,
                                  shuffle=True, seed=0)
    ds = tfgen.data.load_unpaired("~/horses", "~/zebras", batch_size=1)
    ```
    """
    arrays = [
        load_domain(d, split, data_dir, download, tfds_data_dir)
        for d in (domain_a, domain_b)
    ]
    if arrays[0].shape[1:] != arrays[1].shape[1:]:
        raise ValueError(
            "Both domains must have images of one shape. Received: "
            f"{arrays[0].shape[1:]} and {arrays[1].shape[1:]}"
        )
    for domain, x in zip((domain_a, domain_b), arrays):
        if not len(x):
            raise ValueError(f"Domain {domain!r} has no images in split {split!r}.")
    first_epoch = _check_first_epoch(first_epoch, repeat, seed)
    length = max(len(x) for x in arrays)
    seeds = (None, None) if seed is None else (seed, seed + 1)
    sides = []
    for x, s in zip(arrays, seeds):
        if repeat:
            # Where this side's own epochs stand after `first_epoch` epochs
            # of `length` pairs (the smaller domain cycles faster).
            side_epoch, offset = divmod(first_epoch * length, len(x))
            side = load(
                x,
                shuffle=shuffle,
                seed=s,
                repeat=True,
                prefetch=False,
                first_epoch=side_epoch if s is not None else 0,
            ).skip(offset)
        else:
            # Each pass over the finite side reshuffles it.
            side = load(x, shuffle=shuffle, seed=s, prefetch=False).repeat()
        sides.append(side)
    ds = tf.data.Dataset.zip(tuple(sides))
    if not repeat:
        ds = ds.take(length)
    if batch_size:
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


# --------------------------------------------- canonical sources → .npz
#: Where `download` fetches from when neither `base_url=` nor this variable
#: is given: `<base>/<file name>` for every source file.
DATA_URL_ENV = "TFGEN_DATA_URL"

#: name -> (default base URL, {file name: (size in bytes, sha256)}). The
#: sizes and digests are the ones tensorflow-datasets 4.9.10 publishes for
#: the same URLs (its url_checksums/mnist.txt, fashion_mnist.txt,
#: cifar10.txt and datasets/binarized_mnist/checksums.tsv); the files were
#: not downloaded again to re-derive them (no network here). CIFAR-10 is the
#: binary version: fixed-size records, no pickle.
SOURCES = {
    "mnist": (
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        {
            "train-images-idx3-ubyte.gz": (
                9912422,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
            "train-labels-idx1-ubyte.gz": (
                28881,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            ),
            "t10k-images-idx3-ubyte.gz": (
                1648877,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            ),
            "t10k-labels-idx1-ubyte.gz": (
                4542,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ),
        },
    ),
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": (
                26421880,
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            ),
            "train-labels-idx1-ubyte.gz": (
                29515,
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            ),
            "t10k-images-idx3-ubyte.gz": (
                4422102,
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            ),
            "t10k-labels-idx1-ubyte.gz": (
                5148,
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            ),
        },
    ),
    "cifar10": (
        "https://www.cs.toronto.edu/~kriz/",
        {
            "cifar-10-binary.tar.gz": (
                170052171,
                "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            ),
        },
    ),
    "binarized_mnist": (
        "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",
        {
            "binarized_mnist_train.amat": (
                78400000,
                "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
            ),
            "binarized_mnist_valid.amat": (
                15680000,
                "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
            ),
            "binarized_mnist_test.amat": (
                15680000,
                "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
            ),
        },
    ),
}

#: name -> {array: sha256 of its uint8 bytes in C order}: the arrays of the
#: `.npz` files tfgen's zoo was trained and measured on (labels stored as
#: uint8, grayscale images as (n, 28, 28)). A conversion must reproduce
#: them exactly. For binarized MNIST this closes the loop with the sources:
#: writing these arrays back as `.amat` text gives files with exactly the
#: published sha256s above.
ARRAY_SHA256 = {
    "mnist": {
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
    "fashion_mnist": {
        "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
    "cifar10": {
        "x_train": "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a",
        "y_train": "2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253",
        "x_test": "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04",
        "y_test": "cec8a24a1e92aa2ecaa0bbd3dbfa86bf6cd8759fbd209a832824c8cf0afca9d5",
    },
    "binarized_mnist": {
        "x_train": "43490d4d6ac9002727af4426d8748609fdb7e4094fa65ad8d681ea60082a7a5a",
        "x_valid": "069b4f0beb389b776478c3e872b4df71c95ac4be64d7cbe6d32e24ebac8e6d5e",
        "x_test": "ca0294c3b8d984c7a1dc891015a8eea6f37bae59a34e35ea0fc8c47110a8dd86",
    },
}

# Images per split of the real datasets: upper bounds while parsing, so a
# forged header cannot make a converter read or allocate more.
_SPLIT_SIZES = {
    "mnist": {"train": 60000, "test": 10000},
    "fashion_mnist": {"train": 60000, "test": 10000},
    "cifar10": {"train": 50000, "test": 10000},
    "binarized_mnist": {"train": 50000, "valid": 10000, "test": 10000},
}
_IDX_FILES = {"train": "train", "test": "t10k"}
_CIFAR_RECORD = 1 + 32 * 32 * 3
_CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
# (archive, the folder it unpacks to, suffix of the batch files, parser name)
_CIFAR_VARIANTS = (
    ("cifar-10-binary.tar.gz", "cifar-10-batches-bin", ".bin", "binary"),
    ("cifar-10-python.tar.gz", "cifar-10-batches-py", "", "python"),
)
_AMAT_ROW = 28 * 28 * 2  # 784 digits, each followed by a space or newline


def _source_error(path, expected, received):
    return ValueError(
        f"{path} is not a valid source file. Expected {expected}. Received: "
        f"{received}. Download it again (`tfgen data download`) or replace it."
    )


def _read_bounded(path, max_bytes, opener=open):
    """At most `max_bytes` of a (possibly gzipped) file; more is an error."""
    try:
        with opener(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise _source_error(
            path, "a readable file", f"{type(e).__name__}: {e}"
        ) from None
    if len(data) > max_bytes:
        raise _source_error(
            path,
            f"at most {max_bytes:,} bytes (uncompressed)",
            "a larger file",
        )
    return data


def _find_source(source_dir, names, dataset):
    """The first of `names` present in `source_dir`, or an error listing them."""
    for name in names:
        path = os.path.join(source_dir, name)
        if os.path.exists(path):
            return path
    raise DatasetNotFoundError(
        f"No source file of {dataset!r} in {source_dir}: expected one of "
        f"{list(names)}. Received: "
        f"{sorted(os.listdir(source_dir)) if os.path.isdir(source_dir) else 'no such folder'}. "
        f"`tfgen data download {dataset}` fetches them."
    )


def _parse_idx(path, data, item_shape, max_items):
    """A uint8 array from an IDX file (the MNIST format), checked against
    the expected item shape and count."""
    ndim = 1 + len(item_shape)
    header = 4 + 4 * ndim
    expected = f"an IDX file of unsigned bytes with {ndim} dimensions (n, {', '.join(map(str, item_shape))}), n <= {max_items}"
    if len(data) < header or data[:4] != bytes((0, 0, 8, ndim)):
        raise _source_error(path, expected, f"a file starting {data[:4]!r}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if tuple(dims[1:]) != tuple(item_shape) or dims[0] > max_items:
        raise _source_error(path, expected, f"dimensions {dims}")
    length = header + int(np.prod(dims))
    if len(data) != length:
        raise _source_error(
            path, f"{length:,} bytes for dimensions {dims}", f"{len(data):,} bytes"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def _convert_idx(name, source_dir):
    arrays = {}
    for split, prefix in _IDX_FILES.items():
        n = _SPLIT_SIZES[name][split]
        for key, kind, shape in (
            ("x", "images-idx3", (28, 28)),
            ("y", "labels-idx1", ()),
        ):
            file = f"{prefix}-{kind}-ubyte"
            path = _find_source(source_dir, (file + ".gz", file), name)
            opener = gzip.open if path.endswith(".gz") else open
            limit = 4 + 4 * (1 + len(shape)) + n * int(np.prod(shape))
            data = _read_bounded(path, limit, opener)
            arrays[f"{key}_{split}"] = _parse_idx(path, data, shape, n)
    return arrays


class _PickledArray:
    """Stands in for numpy's array and dtype while a CIFAR-10 python batch
    is unpickled: records the constructor arguments and state, runs no
    numpy code on the untrusted bytes."""

    def __init__(self, *args):
        self.args, self.state = args, None

    def __setstate__(self, state):
        self.state = state


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 python batch (a dict of bytes, lists and one
    uint8 array) and nothing else: any global other than numpy's array
    and dtype constructors is refused, and those two become records."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: a CIFAR-10 python batch holds "
                "only a dict, lists, bytes and one uint8 array"
            )
        return _PickledArray


def _array_from_record(record, path):
    """The uint8 (n, 3072) array a `_PickledArray` describes, or an error."""
    expected = "a uint8 array of shape (n, 3072) under b'data'"
    state = record.state if isinstance(record, _PickledArray) else None
    if not (isinstance(state, tuple) and len(state) == 5):
        raise _source_error(path, expected, f"{type(record).__name__}")
    _, shape, dtype, fortran, raw = state
    dtype_name = (
        dtype.args[0] if isinstance(dtype, _PickledArray) and dtype.args else None
    )
    if isinstance(dtype_name, bytes):
        dtype_name = dtype_name.decode("latin-1")
    if (
        dtype_name != "u1"
        or fortran
        or not isinstance(raw, bytes)
        or not (isinstance(shape, tuple) and len(shape) == 2 and shape[1] == 3072)
        or len(raw) != int(np.prod(shape))
    ):
        raise _source_error(
            path, expected, f"dtype {dtype_name!r}, shape {shape!r}, fortran={fortran}"
        )
    return np.frombuffer(raw, np.uint8).reshape(shape)


def _parse_cifar_python(path, data, max_records):
    try:
        batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise _source_error(
            path, "a CIFAR-10 python batch", f"{type(e).__name__}: {e}"
        ) from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise _source_error(path, "a dict with b'data' and b'labels'", keys)
    x = _array_from_record(batch[b"data"], path)
    labels = batch[b"labels"]
    if not (
        isinstance(labels, list)
        and len(labels) == len(x) <= max_records
        and all(type(v) is int and 0 <= v < 256 for v in labels)
    ):
        raise _source_error(
            path,
            f"a list of {len(x)} class ids (at most {max_records})",
            f"{type(labels).__name__} of length {len(labels) if hasattr(labels, '__len__') else '?'}",
        )
    return x, np.asarray(labels, np.uint8)


def _parse_cifar_binary(path, data, max_records):
    if len(data) % _CIFAR_RECORD or len(data) // _CIFAR_RECORD > max_records:
        raise _source_error(
            path,
            f"records of {_CIFAR_RECORD} bytes (a label, then 3072 pixels), at most "
            f"{max_records}",
            f"{len(data):,} bytes",
        )
    records = np.frombuffer(data, np.uint8).reshape(-1, _CIFAR_RECORD)
    return records[:, 1:], records[:, 0].copy()


def _cifar_batches(source_dir, max_bytes):
    """{batch name: bytes} from a CIFAR-10 archive or its unpacked folder
    (binary or python version), and the parser of that version."""
    names = [n for variant in _CIFAR_VARIANTS for n in variant[:2]]
    path = _find_source(source_dir, names, "cifar10")
    archive, folder, suffix, kind = next(
        v for v in _CIFAR_VARIANTS if os.path.basename(path) in v[:2]
    )
    wanted = {
        f"{folder}/{b}{suffix}": b for split in _CIFAR_BATCHES.values() for b in split
    }
    found = {}
    if os.path.isdir(path):
        for member, batch in wanted.items():
            found[batch] = _read_bounded(
                _find_source(source_dir, (member,), "cifar10"), max_bytes
            )
    else:
        try:
            with tarfile.open(path, "r:gz") as tar:
                for info in tar:
                    batch = wanted.get(info.name)
                    if batch is None:
                        continue
                    if not info.isfile() or info.size > max_bytes or batch in found:
                        raise _source_error(
                            path,
                            f"one regular file {info.name} of at most {max_bytes:,} bytes",
                            f"a {info.size:,}-byte member of type {info.type!r}"
                            + (" seen twice" if batch in found else ""),
                        )
                    found[batch] = tar.extractfile(info).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise _source_error(
                path, f"the {archive} archive", f"{type(e).__name__}: {e}"
            ) from None
        missing = sorted(set(wanted) - {f"{folder}/{b}{suffix}" for b in found})
        if missing:
            raise _source_error(
                path, f"the members {missing}", "an archive without them"
            )
    parse = _parse_cifar_binary if kind == "binary" else _parse_cifar_python
    return found, parse, path


def _convert_cifar(name, source_dir):
    # The pickled version carries filenames and batch labels besides the
    # pixels: allow it a few times the pixels' size.
    max_records = 10000
    batches, parse, path = _cifar_batches(source_dir, 2 * max_records * _CIFAR_RECORD)
    arrays = {}
    for split, names in _CIFAR_BATCHES.items():
        xs, ys = zip(*(parse(f"{path} ({b})", batches[b], max_records) for b in names))
        x = np.concatenate(xs)
        arrays[f"x_{split}"] = x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
        arrays[f"y_{split}"] = np.concatenate(ys)
    return arrays


def _parse_amat(path, data, max_rows):
    """Rows of 784 `0`/`1` values separated by spaces: uint8 (n, 28, 28)."""
    chars = np.frombuffer(data, np.uint8)
    digits = (chars == ord("0")) | (chars == ord("1"))
    spaces = np.isin(chars, (ord(" "), ord("\n"), ord("\r"), ord("\t")))
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    values = int(digits.sum())
    if (
        not np.all(digits | spaces)
        or np.any(digits[1:] & digits[:-1])  # a value is one character
        or values != lines * 784
        or lines > max_rows
    ):
        raise _source_error(
            path,
            f"at most {max_rows} lines of 784 values 0 or 1 separated by spaces",
            f"{len(data):,} bytes, {lines} lines, {values} single-digit 0/1 values"
            + ("" if np.all(digits | spaces) else ", other characters"),
        )
    return (chars[digits] - ord("0")).reshape(-1, 28, 28)


def _convert_amat(name, source_dir):
    arrays = {}
    for split, n in _SPLIT_SIZES[name].items():
        path = _find_source(source_dir, (f"binarized_mnist_{split}.amat",), name)
        data = _read_bounded(path, n * (_AMAT_ROW + 1))
        arrays[f"x_{split}"] = _parse_amat(path, data, n)
    return arrays


_CONVERTERS = {
    "mnist": _convert_idx,
    "fashion_mnist": _convert_idx,
    "cifar10": _convert_cifar,
    "binarized_mnist": _convert_amat,
}


def _check_converted(name, arrays, source):
    """Checks converted arrays like a loaded `.npz`, then against their
    recorded digests (`ARRAY_SHA256`)."""
    splits = DATASETS[name][1]
    for split in splits:
        check_pixel_data(
            arrays[f"x_{split}"],
            arrays.get(f"y_{split}"),
            source=f"{name} {split} converted from {source}",
            **_dataset_checks(name),
        )
    for key, expected in ARRAY_SHA256.get(name, {}).items():
        actual = hashlib.sha256(np.ascontiguousarray(arrays[key]).tobytes()).hexdigest()
        if actual != expected:
            raise files.ChecksumError(
                f"The {key} array converted from {source} is not {name}'s: its "
                f"sha256 differs from that of the data tfgen's zoo was trained on "
                f"({arrays[key].shape} {arrays[key].dtype}). Expected: {expected}. "
                f"Received: {actual}. The source files are not the canonical ones; "
                f"`tfgen data download {name}` fetches those."
            )


def _verify_sources(name, source_dir):
    """Checks the canonical source files present in `source_dir` against
    their published sha256 (alternatives, like unpacked folders, are
    checked through the converted arrays instead)."""
    for file, (_, digest) in SOURCES[name][1].items():
        path = os.path.join(source_dir, file)
        if os.path.isfile(path):
            files.verify(path, digest, f"{name} source file {file}")


def _check_name(name):
    if name not in DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}. Expected one of {sorted(DATASETS)}. "
            f"Received: name={name!r}"
        )


def _npz_target(name, data_dir, overwrite):
    directory = default_data_dir(data_dir)
    path = os.path.join(directory, f"{name}.npz")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"{path} exists. Expected no {name}.npz there; pass overwrite=True "
            "(--overwrite) to replace it."
        )
    return path


def _write_npz(name, source_dir, path):
    arrays = _CONVERTERS[name](name, source_dir)
    _check_converted(name, arrays, source_dir)
    files.write_atomic(path, lambda p: np.savez_compressed(p, **arrays), ".npz")
    return path


def prepare(name, source_dir, data_dir=None, overwrite=False):
    """Converts a dataset's source files at hand into `<data_dir>/<name>.npz`,
    the file `load` reads; returns its path.

    Accepted sources (in `source_dir`): MNIST and Fashion-MNIST's four IDX
    files (`.gz` or unpacked); CIFAR-10's `cifar-10-binary.tar.gz`,
    `cifar-10-python.tar.gz` or the folder either unpacks to (the python
    batches are read by an unpickler that admits nothing but their dict,
    lists and one uint8 array); binarized MNIST's three `.amat` files. Canonical
    files are checked against their published sha256 (`SOURCES`), every
    size is bounded, and the arrays must be the reference ones
    (`ARRAY_SHA256`) before anything is written, atomically.

    Example:

    ```python
    tfgen.data.prepare("mnist", "~/Downloads/mnist")  # -> ~/tfgen_data/mnist.npz
    ```
    """
    _check_name(name)
    source_dir = os.path.expanduser(os.fspath(source_dir))
    path = _npz_target(name, data_dir, overwrite)
    _verify_sources(name, source_dir)
    return _write_npz(name, source_dir, path)


def download(name, data_dir=None, base_url=None, overwrite=False, progress=True):
    """Downloads a dataset's source files from its canonical host (each
    checked against its published size and sha256, see `SOURCES`) and
    converts them into `<data_dir>/<name>.npz`; returns its path.

    The sources are kept in `<cache>/data/<name>/` (`tfgen.files.cache_dir`),
    so running it again fetches nothing that is already there and whole.

    Args:
        name: `"mnist"`, `"fashion_mnist"`, `"cifar10"` or `"binarized_mnist"`.
        data_dir: where the `.npz` goes; default `$TFGEN_DATA_DIR`.
        base_url: fetch `<base_url>/<file>` instead of the canonical host
            (a mirror); default `$TFGEN_DATA_URL`, else `SOURCES`.
        overwrite: replace an existing `.npz`.
        progress: progress bars in bytes.
    """
    _check_name(name)
    path = _npz_target(name, data_dir, overwrite)
    return _download_to(path, name, base_url, progress)


def _download_to(path, name, base_url=None, progress=True):
    default_base, sources = SOURCES[name]
    base = (base_url or os.environ.get(DATA_URL_ENV) or default_base).rstrip("/")
    folder = os.path.join(files.cache_dir(), "data", name)
    for file, (size, digest) in sources.items():
        downloads.fetch(
            f"{base}/{file}",
            os.path.join(folder, file),
            digest,
            size=size,
            label=f"{name}'s {file}",
            remedy=(
                f"Without network access, put the source files {sorted(sources)} "
                f"in a folder and run `tfgen data prepare {name} --from FOLDER`, "
                f"or fetch them from a mirror with --base-url (${DATA_URL_ENV})."
            ),
            progress=progress,
        )
    return _write_npz(name, folder, path)
