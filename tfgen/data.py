"""Datasets as `tf.data` pipelines: local files first, then tensorflow-datasets.

Built-in names read `<data_dir>/<name>.npz` (uint8 arrays `x_<split>` and, for
labelled sets, `y_<split>`), with `data_dir` from the argument or
`$TFGEN_DATA_DIR` (default `~/tfgen_data`). When no such file exists they fall
back to tensorflow-datasets, but only to a copy that is already prepared
unless `download=True`, so nothing ever waits on the network by default.

Any other `name` is the user's own data: a folder of PNG/JPEG images, an
`.npy`/`.npz` file, or a numpy array of shape (n, H, W[, C]).

Whatever the source, arrays pass `tfgen.validation.check_pixel_data` before
use: integer pixel levels (0..255, or 0/1 for binarized MNIST), bool, or
floats in [0, 1] exactly on the level grid; the dataset's own image shape;
integer labels in [0, num_classes), one per image. Anything else is refused
with a message naming the file, never cast. `.npz`/`.npy` files are read
with `allow_pickle=False`, and an unreadable one is reported as such.
"""

import os
import zipfile
import zlib

import numpy as np
import tensorflow as tf

from tfgen.validation import check_pixel_data

__all__ = [
    "CLASS_NAMES",
    "BINARY_DATASETS",
    "DATASETS",
    "DatasetNotFoundError",
    "default_data_dir",
    "parse_splits",
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
        "download it with tensorflow-datasets: "
        f"tfgen.data.load({name!r}, download=True) (needs network access)"
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


def _load_tfds(name, splits, labelled, download, tfds_data_dir):
    try:
        import tensorflow_datasets as tfds
    except ImportError:  # pragma: no cover - tfds is a dependency
        return None
    builder = tfds.builder(DATASETS[name][0], data_dir=tfds_data_dir)
    if not builder.is_prepared():
        if not download:
            return None
        builder.download_and_prepare()
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
        found = _load_tfds(name, splits, DATASETS[name][2], download, tfds_data_dir)
        if found is None:
            raise _not_found(name, directory)
        return found
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
            binarization deterministic.
        download: let tensorflow-datasets download a missing dataset.
        tfds_data_dir: tensorflow-datasets' data dir.

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

    ds = tf.data.Dataset.from_tensor_slices((x, y) if labels else x)
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

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

    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    ds = tf.data.Dataset.zip((ds, seeds))
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
    length = max(len(x) for x in arrays)
    seeds = (None, None) if seed is None else (seed, seed + 1)
    sides = [
        load(x, shuffle=shuffle, seed=s, repeat=True, prefetch=False)
        for x, s in zip(arrays, seeds)
    ]
    ds = tf.data.Dataset.zip(tuple(sides)).take(length)
    if batch_size:
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds
