"""The `tfgen` command line: zoo, sample, complete, interpolate, reconstruct,
translate, modify, compress, decompress, train, eval, classifier, data.

One contract for every command: a user error prints one line `tfgen: error:
...` (`--debug` shows the traceback instead); usage errors (bad arguments or
option values) exit with 2, refused input and failed work (missing, corrupt
or forged files, a diverged run) with 1; outputs are checked before any work
and written whole or not at all, and an existing output is replaced only
with `--overwrite`. Parsing imports no TensorFlow, so `--help` is fast.
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

from tfgen import __version__, files

__all__ = ["UsageError", "build_parser", "main"]

_SAMPLERS = ("auto", "cached", "compiled")
_NAME_HELP = "a zoo name, or a folder given as a path like ./my_model"
_DATA_DIR_HELP = "folder of <dataset>.npz; default $TFGEN_DATA_DIR"
_PRECISION_HELP = (
    "Keras dtype policy, or 'auto' (mixed_bfloat16 where bfloat16 is native: "
    "AVX512_BF16/AMX CPUs, GPUs; else float32); default the recipe's"
)


class UsageError(ValueError):
    """A command's arguments do not fit together or do not fit the model
    they name (exit status 2, like argparse's own errors)."""


class _Parser(argparse.ArgumentParser):
    """Reports its errors on one line, as every other tfgen error is."""

    def error(self, message):
        self.exit(2, f"tfgen: error: {message} (see `{self.prog} --help`)\n")


# ------------------------------------------------------------ option values
def _positive_int(text):
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _non_negative_int(text):
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _labels(text):
    """`7` or `0,1,2` -> 7 or [0, 1, 2]."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(
            f"expected class ids >= 0 like 7 or 0,1,2, got {text!r}"
        )
    return values[0] if len(values) == 1 else values


def _indices(text):
    """`3,17,42` and `0:100:10` (start:stop[:step], stop excluded), comma
    separated, as a list of `range`s (a long range costs nothing here)."""
    ranges = []
    for part in text.split(","):
        try:
            numbers = [int(field) for field in part.split(":")]
        except ValueError:
            numbers = []
        if len(numbers) == 1:
            numbers.append(numbers[0] + 1)
        if (
            not 2 <= len(numbers) <= 3
            or min(numbers) < 0
            or numbers[1] <= numbers[0]
            or (len(numbers) == 3 and numbers[2] < 1)
        ):
            raise argparse.ArgumentTypeError(
                "expected image positions >= 0 like 3,17,42 or 0:100:10 "
                f"(start:stop:step), got {text!r}"
            )
        ranges.append(range(*numbers))
    return ranges


def _json_object(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"invalid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f'expected a JSON object like {{"base_filters": 32}}, got {text!r}'
        )
    return value


def _sample_args(pairs):
    """`KEY=VALUE` strings as keyword arguments; values are read as JSON
    (`false`, `0.5`, `"mean"`) and otherwise kept as strings (`mean`)."""
    kwargs = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(
                f"--sample-arg takes KEY=VALUE (e.g. use_ema=false). Received: {pair!r}"
            )
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


# ------------------------------------------------------------------ outputs
def _check_output(path, overwrite, folder=False):
    """Refuses, before any work, an output that exists (unless `overwrite`)
    or is not a regular file (a folder, when `folder`)."""
    if path is None or not os.path.lexists(path):
        return
    kind = "folder" if folder else "file"
    if not (os.path.isdir(path) if folder else os.path.isfile(path)):
        what = (
            "a folder"
            if os.path.isdir(path)
            else "a file"
            if os.path.isfile(path)
            else "neither a file nor a folder"
        )
        raise FileExistsError(
            f"Expected a {kind} to write. Received: {path!r}, which is {what}; "
            "choose another name."
        )
    if not overwrite and (os.listdir(path) if folder else True):
        raise FileExistsError(
            f"{path!r} exists. Pass --overwrite to replace it, or choose another "
            f"{kind}."
        )


def _write_array(path, array):
    import numpy as np

    def write(partial):
        with open(partial, "wb") as f:  # a file object: np.save adds no suffix
            np.save(f, array, allow_pickle=False)

    files.write_atomic(path, write)


def _write_grid(path, images, nrow, scale):
    from tfgen.images import save_grid

    files.write_atomic(
        path, lambda partial: save_grid(images, partial, nrow=nrow, scale=scale)
    )


def _write_folder(target, write):
    """`write(partial_folder)` into a new sibling folder whose files then move
    into `target` (created if missing), so a failed write leaves nothing."""
    parent, base = os.path.split(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=f".{base}.partial-", dir=parent)
    try:
        write(partial)
        if not os.path.isdir(target):
            os.replace(partial, target)
            return
        for name in sorted(os.listdir(partial)):  # --overwrite of a folder
            os.replace(os.path.join(partial, name), os.path.join(target, name))
    finally:
        shutil.rmtree(partial, ignore_errors=True)


# ------------------------------------------------------------------- models
def _load_model(name, needs=None, why=None):
    """The model `name`, refused with a usage error when it lacks `needs`."""
    from tfgen import zoo

    model = zoo.load(name)
    if needs and not hasattr(model, needs):
        raise UsageError(f"{name} ({type(model).__name__}) {why}")
    return model


def _default_reference(name):
    """`<dataset>:train` of a zoo entry or of a saved folder's recipe."""
    from tfgen import zoo

    dataset = None
    if zoo.is_path(name):
        meta_path = os.path.join(os.path.expanduser(name), zoo.METADATA_FILE)
        if os.path.isfile(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
            recipe = meta.get("recipe", {}) if isinstance(meta, dict) else {}
            dataset = recipe.get("dataset", {}).get("name")
    else:
        dataset = zoo.get(name).dataset.get("name")
    if not dataset:
        raise UsageError(
            f"{name!r} does not record the dataset it was trained on. Expected "
            "--reference DATASET:SPLIT (e.g. --reference cifar10:train)."
        )
    return f"{dataset}:train"


def _weights_sha256(name, model):
    """The sha256 of the weights a report measured: a zoo entry's checked one,
    or that of a saved folder's weights file."""
    from tfgen import zoo

    digest = getattr(model, "zoo_sha256", None)
    if digest is None and zoo.is_path(name):
        digest = files.sha256(os.path.join(os.path.expanduser(name), zoo.WEIGHTS_FILE))
    return digest


# ----------------------------------------------------------------- commands
def _metric_text(record):
    """`fid[50k vs cifar10:train]=36.52`: four significant digits, and the
    protocol that tells two measurements of one metric apart."""
    value = record["value"]
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    protocol = record.get("protocol") or {}
    n_gen, reference = protocol.get("n_gen"), protocol.get("reference")
    if n_gen and reference:
        count = f"{n_gen // 1000}k" if n_gen % 1000 == 0 else str(n_gen)
        return f"{record['name']}[{count} vs {reference}]={text}"
    return f"{record['name']}={text}"


def _weights_state(entry):
    """`yes` (the file is here), `on demand` (recorded, fetched on first
    load: an installed wheel holds one entry's) or `not yet` (untrained)."""
    if not entry.weights:
        return "not yet"
    return "yes" if os.path.isfile(entry.weights_path) else "on demand"


def cmd_zoo_list(args):
    from tfgen import zoo

    rows = []
    for name in zoo.list(args.pattern):
        entry = zoo.get(name)
        measured = "; ".join(_metric_text(m) for m in entry.metrics)
        domains = " <-> ".join(
            entry.dataset[k] for k in ("domain_a", "domain_b") if k in entry.dataset
        )
        rows.append(
            (
                name,
                entry.model,
                entry.dataset.get("name") or domains or "-",
                _weights_state(entry),
                measured or "-",
            )
        )
    header = ("name", "model", "dataset", "weights", "metrics")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def cmd_zoo_info(args):
    from tfgen import zoo

    print(json.dumps(zoo.get(args.name).to_json(), indent=2))
    return 0


def cmd_zoo_export(args):
    from tfgen import recipes, zoo

    entry = recipes.export(
        args.run_dir,
        args.name,
        zoo_dir=args.zoo_dir,
        overwrite=args.overwrite,
        description=args.description,
    )
    print(f"exported {args.name} to {entry.directory}: sha256 {entry.sha256}")
    zoo_dir = os.path.dirname(entry.directory)
    if os.path.abspath(zoo_dir) not in (zoo.user_dir(), zoo.shipped_dir()):
        print(
            f"{zoo_dir} is not your zoo folder ({zoo.user_dir()}): load the entry "
            f"with TFGEN_ZOO_DIR={zoo_dir}, or tfgen.zoo.register({entry.directory!r})"
        )
    if not entry.metrics:
        print(
            f"{args.name} has no metric records for these weights: measure them "
            "with benchmarks/fid.py, bits_per_dim.py or vae_likelihood.py"
        )
    return 0


def _sampler_kwargs(args):
    """Keyword arguments shared by `sample` and `complete`."""
    kwargs = {"seed": args.seed}
    if args.labels is not None:
        kwargs["labels"] = args.labels
    if args.method is not None:
        kwargs["method"] = args.method
    return kwargs


def cmd_sample(args):
    _check_output(args.output, args.overwrite)
    _check_output(args.npy, args.overwrite)
    model = _load_model(
        args.name,
        "sample",
        "maps images to images and does not sample from noise: use "
        "`tfgen translate` on your images instead.",
    )
    kwargs = _sampler_kwargs(args)
    if args.temperature is not None:
        kwargs["temperature"] = args.temperature
    if args.truncation is not None:
        import inspect

        if "truncation" not in inspect.signature(model.sample).parameters:
            raise UsageError(
                f"{args.name} ({type(model).__name__}) has no truncation trick: "
                "--truncation is for the GAN models, whose sample() takes "
                f"truncation=. Received: --truncation {args.truncation}"
            )
        kwargs["truncation"] = args.truncation
    images = model.sample(args.num, progress=True, batch_size=args.batch_size, **kwargs)
    _write_grid(args.output, images, args.nrow, args.scale)
    if args.npy:
        _write_array(args.npy, images)
    print(f"wrote {args.num} samples of {args.name} to {args.output}")
    return 0


def _chosen(total, count, default, args, source):
    """(positions, how, in words) of the images a command shows out of the
    `total` of `source`: `--indices` as given, `count` (else `default`) at
    random with `--shuffle`, consecutive from `--offset`, or else evenly
    spaced over the whole split, so that a split stored sorted by class
    (binarized MNIST's test split) shows every class."""
    import numpy as np

    offset = getattr(args, "offset", None)
    if args.indices is not None:
        last = max(r[-1] for r in args.indices)
        if last >= total:
            raise ValueError(
                f"{source} holds {total} images, at positions 0 to {total - 1}. "
                f"Received: --indices up to {last}"
            )
        index = [np.arange(r.start, r.stop, r.step) for r in args.indices]
        return np.concatenate(index), "chosen by --indices"
    count = min(count or default, total)
    if args.shuffle is not None:
        # `--shuffle` alone is const=True: the command's --seed.
        seed = args.seed if args.shuffle is True else args.shuffle
        import tensorflow as tf

        # The order of tfgen.data.load(shuffle=True, seed=seed), which drew
        # the README's completion figures (`--shuffle 0`).
        order = tf.data.Dataset.range(total).shuffle(total, seed=seed).take(count)
        index = np.fromiter(order.as_numpy_iterator(), np.int64, count)
        return index, f"at random, seed {seed}"
    if offset is not None:
        if offset >= total:
            raise ValueError(
                f"{source} holds {total} images. Expected --offset below {total}. "
                f"Received: --offset {offset}"
            )
        count = min(count, total - offset)
        return np.arange(offset, offset + count), f"from position {offset}"
    return np.arange(count) * total // count, "evenly spaced"


def _check_choice(args, count):
    """Refuses, before any work, an image count beside --indices."""
    if args.indices is not None and count is not None:
        raise UsageError(
            "--indices chooses the images, so it takes no image count. "
            f"Received: --indices and a count of {count}"
        )


def _chosen_images(source, split, args, count, default, **convert):
    """(float images, labels or None, how they were chosen) of `source`'s
    `split` (a dataset, a folder, an .npy/.npz), chosen by `_chosen` and
    converted by `tfgen.data.load(**convert)`."""
    import numpy as np

    from tfgen import data

    x, y = data.load_arrays(source, split, data_dir=args.data_dir)
    what = f"{source}:{split}" if source in data.DATASETS else source
    index, how = _chosen(len(x), count, default, args, what)
    x = x[index]
    if source in data.BINARY_DATASETS:
        x = x * np.uint8(255)  # stored as 0/1, read as data.load reads them
    images = np.asarray(next(iter(data.load(x, batch_size=len(x), **convert))))
    return images, (None if y is None else y[index]), how


def _completion_images(model, name, args):
    """`--num-images` images of `--data` (default: the model's dataset)
    chosen by `_chosen`, on the model's level grid, with their labels for
    a conditional model."""
    from tfgen import data

    source = args.data
    if source is None:
        source = _default_reference(name).split(":")[0]
    labelled = source in data.DATASETS and data.DATASETS[source][2]
    conditional = getattr(model, "num_classes", None) is not None
    images, labels, how = _chosen_images(
        source,
        args.split if source in data.DATASETS else "train",
        args,
        args.num_images,
        8,
        num_levels=model.num_levels,
    )
    if labelled and conditional:
        return images, labels.astype("int32"), how
    return images, None, how


def cmd_complete(args):
    from tfgen.sampling import completion_grid, completion_mask

    _check_choice(args, args.num_images)
    _check_output(args.output, args.overwrite)
    _check_output(args.npy, args.overwrite)
    model = _load_model(
        args.name, "complete", "is not an autoregressive model; it cannot "
        "complete images."
    )  # fmt: skip
    images, labels, how = _completion_images(model, args.name, args)
    if tuple(images.shape[1:]) != tuple(model.image_shape):
        raise ValueError(
            f"{args.name} takes images of shape {tuple(model.image_shape)}. "
            f"Received images of shape {tuple(images.shape[1:])} from {args.data}"
        )
    known = completion_mask(model.image_shape, args.mask, args.size)
    kwargs = _sampler_kwargs(args)
    if labels is not None:  # the data's own labels come first
        kwargs["labels"] = labels
    completions = model.complete(
        images,
        known,
        num_samples=args.num_samples,
        temperature=args.temperature,
        progress=True,
        **kwargs,
    )
    grid = completion_grid(images, known, completions)
    _write_grid(args.output, grid, args.num_samples + 2, args.scale)
    if args.npy:
        _write_array(args.npy, completions)
    print(
        f"wrote {len(images)} rows (occluded, {args.num_samples} completions, "
        f"original) of {args.name} to {args.output}; images {how}"
    )
    return 0


def cmd_interpolate(args):
    import numpy as np

    _check_output(args.output, args.overwrite)
    model = _load_model(
        args.name, "interpolate", "has no latent space to interpolate in."
    )
    rows = [
        model.interpolate(
            steps=args.steps,
            method=args.method,
            seed=args.seed + row,
            labels=args.labels,
        )
        for row in range(args.rows)
    ]
    _write_grid(args.output, np.concatenate(rows), args.steps, args.scale)
    print(f"wrote {args.rows} interpolation row(s) of {args.steps} to {args.output}")
    return 0


def cmd_translate(args):
    import numpy as np

    from tfgen import data
    from tfgen.images import read_images, save_grid, save_images

    single = os.path.isfile(args.input) and not args.input.endswith(".npy")
    if single:
        grid = args.grid or os.path.splitext(args.output)[0] + "_grid.png"
        _check_output(args.output, args.overwrite)
    else:
        grid = args.grid or os.path.join(args.output, "grid.png")
        _check_output(args.output, args.overwrite, folder=True)
    if args.grid or single:
        _check_output(grid, args.overwrite)
    model = _load_model(args.name, "translate", "is not an image-to-image translator.")
    if args.input.endswith(".npy"):
        x = data.load_arrays(args.input)[0]  # checked uint8 pixels
        names = [f"{i:05d}.png" for i in range(len(x))]
    else:
        x, names = read_images(args.input)
    if x.dtype == np.uint8:
        x = x.astype("float32") / 255.0
    forward, back = model.cycle(x, args.direction)
    shown = args.grid_rows
    rows = np.stack([x[:shown], forward[:shown], back[:shown]], axis=1)
    rows = rows.reshape(-1, *x.shape[1:])
    if single:
        files.write_atomic(
            args.output,
            lambda partial: save_grid(forward[:1], partial, nrow=1, padding=0),
        )
    else:

        def write(partial):
            save_images(forward, partial, names)
            if not args.grid:
                save_grid(rows, os.path.join(partial, "grid.png"), 3, scale=args.scale)

        _write_folder(args.output, write)
    if args.grid or single:
        _write_grid(grid, rows, 3, args.scale)
    print(
        f"translated {len(x)} image(s) {args.direction} with {args.name} to "
        f"{args.output}; grid (input | translated | cycled back) in {grid}"
    )
    return 0


def _class_pair(text):
    """`SRC:DST` -> (SRC, DST), two class ids."""
    try:
        pair = tuple(int(v) for v in text.split(":"))
    except ValueError:
        pair = ()
    if len(pair) != 2 or min(pair) < 0 or pair[0] == pair[1]:
        raise argparse.ArgumentTypeError(
            f"expected two different class ids SRC:DST like 1:7, got {text!r}"
        )
    return pair


def _labelled_images(source, split, args, model, label=None):
    """(float images on the model's grid, int labels) of `source`'s `split`,
    only those of class `label` when given; refused when unlabelled."""
    import numpy as np

    from tfgen import data

    x, y = data.load_arrays(source, split, data_dir=args.data_dir)
    if y is None:
        raise UsageError(
            f"{source}:{split} has no labels, which --attribute needs. Expected "
            "labelled data, e.g. --data mnist."
        )
    if label is not None:
        keep = np.flatnonzero(y == label)
        if not len(keep):
            raise ValueError(f"{source}:{split} holds no image of class {label}.")
        x, y = x[keep], y[keep]
    return x, y.astype("int32")


def _on_grid(x, model):
    """uint8 pixels as float images on the model's level grid."""
    import numpy as np

    from tfgen import data

    return np.asarray(
        next(iter(data.load(x, batch_size=len(x), num_levels=model.num_levels)))
    )


def cmd_modify(args):
    import numpy as np

    if args.to_class is None and args.attribute is None:
        if args.input is None:
            raise UsageError(
                "Expected --to-class K (a CVAE: each image's style in class K), "
                "--attribute SRC:DST (a VAE: codes moved from class SRC towards "
                "DST) or an INPUT to translate (a CycleGAN)."
            )
        if args.output is None:
            raise UsageError(
                "Translating needs -o/--output: an image file for one image, "
                "else a new folder."
            )
        return cmd_translate(args)  # CycleGAN: the translate command's path
    if args.input is not None:
        raise UsageError(
            "INPUT holds the images a CycleGAN translates; --to-class and "
            "--attribute read --data (default: the model's dataset). "
            f"Received: INPUT {args.input!r}"
        )
    output = args.output or "modify.png"
    _check_choice(args, args.num_images)
    _check_output(output, args.overwrite)
    if args.to_class is not None:
        model = _load_model(
            args.name,
            "transfer",
            "has no class input to change: --to-class is for a CVAE "
            "(--attribute for a VAE, INPUT for a CycleGAN).",
        )
    else:
        model = _load_model(
            args.name,
            "attribute_vector",
            "has no latent codes to edit: --attribute is for a VAE.",
        )
        if getattr(model, "num_classes", None) is not None:
            raise UsageError(
                f"{args.name} ({type(model).__name__}) takes the class as an "
                "input: change it with --to-class, not --attribute."
            )
    source = args.data or _default_reference(args.name).split(":")[0]
    split = args.split  # an .npz's x_<split>; a folder or an .npy has one
    if args.to_class is not None:
        x, labels, how = _chosen_images(
            source, split, args, args.num_images, 8, num_levels=model.num_levels
        )
        if labels is None:
            if args.labels is None:
                raise UsageError(
                    f"{source} has no labels. Expected --labels: the class "
                    "id(s) of its images, which the CVAE encodes with."
                )
            labels = args.labels
        targets = np.atleast_1d(args.to_class)
        columns = [model.transfer(x, labels, int(t)) for t in targets]
        what = f"original, then class {', '.join(str(t) for t in targets)}"
    else:
        src, dst = args.attribute
        xv, yv = _labelled_images(source, args.vector_split, args, model)
        # Evenly spaced, whatever chooses the shown images.
        count = min(args.vector_images, len(xv))
        index = np.arange(count) * len(xv) // count
        vector = model.attribute_vector(_on_grid(xv[index], model), yv[index], src, dst)
        xs, _ = _labelled_images(source, split, args, model, label=src)
        index, how = _chosen(len(xs), args.num_images, 8, args, f"{source}:{split}")
        x = _on_grid(xs[index], model)
        columns = [model.apply_attribute(x, vector, strength=args.strength)]
        what = f"class {src}, then moved towards {dst} (strength {args.strength})"
    rows = np.stack([x, *columns], axis=1).reshape(-1, *x.shape[1:])
    _write_grid(output, rows, 1 + len(columns), args.scale)
    print(f"wrote {len(x)} rows ({what}) of {args.name} to {output}; images {how}")
    return 0


def cmd_compress(args):
    import numpy as np

    from tfgen import codec, data
    from tfgen.images import read_images
    from tfgen.levels import levels_from_pixels

    _check_output(args.output, args.overwrite)
    model = _load_model(args.name)
    names = None
    if args.input.endswith(".npy"):
        levels = data.load_arrays(args.input)[0]  # checked integer levels
    else:
        pixels, paths = read_images(args.input)
        levels = levels_from_pixels(pixels, model.num_levels)
        names = _stored_names(paths)
    blob = codec.compress(
        levels, model, batch_size=args.batch_size, progress=True, names=names
    )
    files.write_bytes(args.output, blob)
    dims = int(np.prod(model.image_shape))
    count = codec.read_header(blob)[0].count
    print(
        f"compressed {count} image(s) with {args.name} into {args.output}: "
        f"{len(blob)} bytes, {8 * len(blob) / (count * dims):.4f} bits/dim"
    )
    return 0


def _stored_names(paths):
    """The names `decompress` gives the images read from `paths`: each
    file's base name, `.png` for other formats (the images come back as
    PNGs); None, with a note, when they are not distinct plain names (files
    of one name in two subfolders)."""
    from tfgen.codec import container

    names = []
    for path in paths:
        base = os.path.basename(path)
        if not base.lower().endswith(".png"):
            base = os.path.splitext(base)[0] + ".png"
        names.append(base)
    try:
        container.check_names(names, len(names))
    except ValueError as error:
        print(
            f"note: the file names are not stored ({error}); decompress will "
            "number the images 00000.png, 00001.png, ..."
        )
        return None
    return names


def cmd_decompress(args):
    from tfgen import codec

    as_array = args.output.endswith(".npy")
    _check_output(args.output, args.overwrite, folder=not as_array)
    with open(args.input, "rb") as f:
        blob = f.read()
    header, _ = codec.read_header(blob)
    levels = codec.decompress(blob, progress=True)  # all of it before writing
    if as_array:
        _write_array(args.output, levels)
    else:
        from PIL import Image

        from tfgen.levels import pixels_from_levels

        pixels = pixels_from_levels(levels, header.num_levels)
        # Names checked by read_header: plain, distinct file names. Files
        # written before names were stored are numbered.
        names = header.names or [f"{i:05d}.png" for i in range(len(pixels))]

        def write(partial):
            for name, image in zip(names, pixels):
                image = image[..., 0] if image.shape[-1] == 1 else image
                Image.fromarray(image).save(os.path.join(partial, name), format="PNG")

        _write_folder(args.output, write)
    print(f"decompressed {len(levels)} image(s) ({header.model_name}) to {args.output}")
    return 0


def _split_source(text):
    """`DATASET:SPLIT`, or a folder / .npy / .npz path, -> (name, split)."""
    from tfgen import data

    name, sep, split = text.rpartition(":")
    if sep and name in data.DATASETS:
        return name, split
    return text, "test"


def cmd_reconstruct(args):
    import numpy as np

    _check_choice(args, args.num)
    _check_output(args.output, args.overwrite)
    model = _load_model(args.name, "reconstruct", "has no encoder to reconstruct with.")
    source = args.data or _default_reference(args.name).rpartition(":")[0] + ":test"
    name, split = _split_source(source)
    binarize = args.binarize
    if binarize is None and getattr(model, "num_levels", 256) == 2:
        # A binary model reads 8-bit images thresholded at 1/2.
        binarize = "threshold"
    x, _, how = _chosen_images(
        name, split, args, args.num, 32, binarize=binarize, seed=args.seed
    )
    recon = model.reconstruct(x, mode=args.mode, seed=args.seed)
    nrow = args.nrow
    rows = []
    for start in range(0, len(x), nrow):
        rows += [x[start : start + nrow], recon[start : start + nrow]]
        pad = nrow - len(rows[-1])
        if pad:  # keep each original above its reconstruction
            blank = np.ones((pad, *x.shape[1:]), "float32")
            rows[-2], rows[-1] = (np.concatenate([r, blank]) for r in rows[-2:])
    _write_grid(args.output, np.concatenate(rows), nrow, args.scale)
    print(
        f"wrote {len(x)} images of {source}, {how} (rows: originals, then "
        f"reconstructions) to {args.output}"
    )
    return 0


def cmd_train(args):
    from tfgen import recipes

    overrides = args.config or {}
    if args.recipe:
        spec = recipes.from_file(args.recipe)
    elif args.name:
        spec = recipes.from_zoo(args.name)
    elif args.model and args.dataset:
        spec = recipes.RecipeSpec(
            model=args.model,
            config=overrides,
            dataset={"name": args.dataset, "split": args.split},
        )
        overrides = {}
    else:
        raise UsageError(
            "Expected a zoo NAME, --recipe FILE, or --model CLASS --dataset NAME "
            "[--config JSON]. Received none of them."
        )
    spec = spec.replace(
        config_overrides=overrides,
        epochs=args.epochs,
        batch_size=args.batch_size,
        precision=args.precision,
        seed=args.seed,
    )
    start = time.time()
    # An existing run folder is resumed from its last checkpoint.
    recipes.run(
        spec,
        output_dir=args.output_dir,
        strategy=args.strategy,
        data_dir=args.data_dir,
        steps_per_epoch=args.steps_per_epoch,
        logical_cpus=args.logical_cpus,
        verbose=args.verbose,
    )
    print(f"trained in {time.time() - start:.0f} s; run folder: {args.output_dir}")
    return 0


def cmd_eval(args):
    from tfgen import metrics
    from tfgen.metrics.evaluate import evaluation_plan

    names = [m.strip().lower() for m in args.metric.split(",") if m.strip()]
    unknown = [m for m in names if m not in metrics.METRICS]
    if unknown or not names:
        raise UsageError(
            f"Unknown metric(s) {unknown}. Expected a comma-separated selection "
            f"of {list(metrics.METRICS)}. Received: --metric {args.metric!r}"
        )
    sample_kwargs = _sample_args(args.sample_arg)
    _check_output(args.json, args.overwrite)
    reference = args.reference or _default_reference(args.name)
    model = _load_model(args.name)
    network = metrics.feature_network(
        args.features,
        reference=reference,
        weights=args.weights,
        classifier=args.classifier,
        batch_size=args.batch_size,
    )
    # Said before sampling: featurizing a whole split can take an hour.
    plan = evaluation_plan(
        args.metric,
        reference,
        features=network,
        num_reference=args.num_reference,
        data_dir=args.data_dir,
    )
    if plan is not None:
        print(plan, flush=True)
        if plan.source == "compute" and args.num_reference is None:
            print(
                "(--num-reference N would featurize only the first N, cached apart)",
                flush=True,
            )
    results = metrics.evaluate(
        model,
        metrics=args.metric,
        num_samples=args.num_samples,
        reference=reference,
        features=network,
        num_reference=args.num_reference,
        seed=args.seed,
        metric_options=metrics.MetricOptions(fid_method=args.fid_method),
        sample_kwargs=sample_kwargs,
        data_dir=args.data_dir,
        work_dir=args.work_dir,
    )
    for result in results:
        print(result)
    if args.json:
        report = {
            "model": args.name,
            "weights_sha256": _weights_sha256(args.name, model),
            "metrics": [result.to_json() for result in results],
        }
        text = json.dumps(report, indent=2) + "\n"
        files.write_bytes(args.json, text.encode())
        print(f"wrote {args.json}")
    return 0


def cmd_classifier_train(args):
    from tfgen import metrics
    from tfgen.metrics.classifier import (
        check_dataset,
        classifier_dir,
        classifier_export_dir,
    )

    try:
        check_dataset(args.dataset)
    except ValueError as error:
        raise UsageError(str(error)) from None
    export_dir = None
    if args.export:
        export_dir = classifier_export_dir(args.dataset, args.zoo_dir)
    for directory in (args.output_dir, export_dir):
        _check_output(directory, args.overwrite, folder=True)
    model, info = metrics.train_classifier(
        args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        precision=args.precision,
        seed=args.seed,
        data_dir=args.data_dir,
        steps_per_epoch=args.steps_per_epoch,
        config=args.config,
        verbose=args.verbose,
    )
    target = metrics.CLASSIFIER_RECIPES.get(args.dataset, {}).get("target_accuracy")
    print(
        f"{args.dataset} classifier: test accuracy {info['test_accuracy']:.4f}"
        + (f" (target {target})" if target else "")
        + f", trained in {info['train_seconds']:.0f} s"
    )
    if target and info["test_accuracy"] < target:
        print(
            f"warning: below the target accuracy {target}; train longer "
            "(--epochs) before shipping it",
            file=sys.stderr,
        )
    for directory in (args.output_dir, export_dir):
        if directory:
            metrics.export_classifier(
                model, info, directory=directory, overwrite=args.overwrite
            )
            print(f"saved to {directory}")
    loaded = classifier_dir(args.dataset)
    if export_dir and not args.zoo_dir and loaded != export_dir:
        print(
            f"note: the shipped classifier in {loaded} is still the one "
            f"'{args.dataset}' names; measure with yours by --classifier {export_dir}",
            file=sys.stderr,
        )
    return 0


def _dataset_name(name):
    from tfgen import data

    if name not in data.DATASETS:
        raise UsageError(
            f"Unknown dataset {name!r}. Expected one of {sorted(data.DATASETS)}."
        )
    return data


def cmd_data_download(args):
    data = _dataset_name(args.name)
    path = data.download(
        args.name,
        data_dir=args.data_dir,
        base_url=args.base_url,
        overwrite=args.overwrite,
    )
    print(f"wrote {path}")
    return 0


def cmd_data_prepare(args):
    data = _dataset_name(args.name)
    path = data.prepare(
        args.name, args.source_dir, data_dir=args.data_dir, overwrite=args.overwrite
    )
    print(f"wrote {path}")
    return 0


# ------------------------------------------------------------------- parser
def _model_name(p, help=_NAME_HELP):
    p.add_argument("name", help=help)


def _output(p, default=None, help="the PNG grid to write"):
    p.add_argument(
        "-o", "--output", default=default, required=default is None, help=help
    )


def _overwrite(p, what="an existing output"):
    p.add_argument(
        "--overwrite", action="store_true", help=f"replace {what} (default: refuse)"
    )


def _seed(p, default=0, help="random seed"):
    shown = "none: not seeded" if default is None else default
    p.add_argument(
        "--seed", type=int, default=default, help=f"{help} (default {shown})"
    )


def _batch_size(p, default=None, what="images per batch", shown=None):
    shown = shown or default or "the recipe or model default"
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=default,
        help=f"{what} (default {shown})",
    )


def _data_dir(p):
    p.add_argument("--data-dir", help=_DATA_DIR_HELP)


def _scale(p, default):
    p.add_argument(
        "--scale",
        type=_positive_int,
        default=default,
        help=f"pixel upscaling of the PNG (default {default})",
    )


def _labels_option(p, help="class id(s) of a conditional model, e.g. 7 or 0,1,2"):
    p.add_argument("--labels", type=_labels, help=help)


def _image_choice(p, count_flag, default):
    """`--indices` and `--shuffle [SEED]`: which images of a dataset split a
    command shows (see `_chosen`)."""
    choice = p.add_mutually_exclusive_group()
    choice.add_argument(
        "--indices",
        type=_indices,
        metavar="LIST",
        help="the images at these positions of the split: 3,17,42 or 0:100:10 "
        f"(start:stop:step). Default: {count_flag} ({default}) images evenly "
        "spaced over the split, so a split sorted by class shows every class",
    )
    choice.add_argument(
        "--shuffle",
        type=int,
        nargs="?",
        const=True,  # no SEED given: use --seed
        metavar="SEED",
        help=f"take {count_flag} images at random, drawn with --seed or with SEED",
    )
    return choice


def _sampler(p):
    p.add_argument(
        "--method",
        choices=_SAMPLERS,
        help="autoregressive models: the sampler (default auto: cached if possible)",
    )


def _training_options(p, config_help):
    """Options shared by `train` and `classifier train`."""
    p.add_argument("--config", type=_json_object, help=config_help)
    p.add_argument(
        "--epochs", type=_positive_int, help="epochs to train (default: the recipe's)"
    )
    _batch_size(p, what="examples per step")
    p.add_argument(
        "--steps-per-epoch",
        type=_positive_int,
        help="batches per epoch (default: the whole split)",
    )
    p.add_argument("--precision", help=_PRECISION_HELP)
    _data_dir(p)
    p.add_argument(
        "--verbose", default="auto", help="Keras fit verbosity: auto, 0, 1 or 2"
    )


def _command(sub, name, func, help, **kwargs):
    """A subcommand parser that runs `func`; `--debug` is accepted after the
    command as well as before it."""
    p = sub.add_parser(name, help=help, **kwargs)
    p.set_defaults(func=func)
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error",
    )
    return p


def _add_zoo(sub):
    zoo_sub = _command(
        sub, "zoo", None, "list, inspect and export zoo entries"
    ).add_subparsers(dest="zoo_command", required=True, metavar="{list,info,export}")
    p = _command(zoo_sub, "list", cmd_zoo_list, "list zoo entries")
    p.add_argument("pattern", nargs="?", help="glob, e.g. 'dcgan*'")
    p = _command(zoo_sub, "info", cmd_zoo_info, "print an entry as JSON")
    p.add_argument("name", help="a zoo entry name")
    p = _command(
        zoo_sub,
        "export",
        cmd_zoo_export,
        "turn a finished training run into a zoo entry",
    )
    p.add_argument(
        "run_dir",
        help="the run folder written by tfgen train, or a folder of tfgen.zoo.save",
    )
    p.add_argument("name", help="the entry it becomes: a new name, or an entry's")
    p.add_argument(
        "--zoo-dir",
        help="the zoo folder to write into; default $TFGEN_ZOO_DIR, else "
        "~/.local/share/tfgen/zoo (never the installed package)",
    )
    p.add_argument(
        "--overwrite",
        "--force",
        dest="overwrite",
        action="store_true",
        help="replace the entry's existing weights (default: refuse)",
    )
    p.add_argument("--description", help="one line for zoo list (a new entry)")


def _add_sample(sub):
    p = _command(
        sub, "sample", cmd_sample, "sample a PNG grid from a zoo model or saved folder"
    )
    _model_name(p)
    p.add_argument("-n", "--num", type=_positive_int, default=64, help="images (64)")
    _seed(p)
    _output(p, "samples.png")
    _labels_option(p)
    p.add_argument("--nrow", type=_positive_int, help="images per row of the grid")
    _scale(p, 2)
    _batch_size(p, 256)
    p.add_argument("--npy", help="also save the float samples as .npy")
    p.add_argument(
        "--temperature",
        type=_positive_float,
        help="autoregressive models: divide the logits by T",
    )
    p.add_argument(
        "--truncation",
        type=_positive_float,
        metavar="T",
        help="GAN models: the truncation trick, every |z_i| > T drawn again",
    )
    _sampler(p)
    _overwrite(p)


def _add_complete(sub):
    p = _command(
        sub,
        "complete",
        cmd_complete,
        "complete occluded images with an autoregressive model (PNG grid)",
        description="Rows of: the occluded input, several completions, the "
        "original (Figure 1 of the PixelRNN paper).",
    )
    _model_name(p)
    p.add_argument(
        "--mask",
        default="bottom_half",
        choices=("bottom_half", "top_half", "right_half", "square"),
        help="the occluded region",
    )
    p.add_argument(
        "--size", type=_positive_int, help="side of the square (default H/2)"
    )
    p.add_argument(
        "--data",
        help="dataset name, image folder or .npy/.npz; default the model's dataset",
    )
    p.add_argument("--split", default="test", help="split of a named dataset (test)")
    _data_dir(p)
    p.add_argument(
        "--num-images", type=_positive_int, help="images to complete (default 8)"
    )
    _image_choice(p, "--num-images", 8)
    p.add_argument(
        "--num-samples", type=_positive_int, default=4, help="completions per image"
    )
    _seed(p, help="seed of the completions and of --shuffle")
    p.add_argument(
        "--temperature", type=_positive_float, default=1.0, help="divide logits by T"
    )
    _sampler(p)
    _labels_option(p, "class id(s) of a conditional model without labelled data")
    _scale(p, 3)
    p.add_argument("--npy", help="also save the completions (n, k, H, W, C) as .npy")
    _output(p, "completions.png")
    _overwrite(p)


def _add_interpolate(sub):
    p = _command(
        sub, "interpolate", cmd_interpolate, "latent interpolation rows as a PNG"
    )
    _model_name(p)
    p.add_argument("--steps", type=_positive_int, default=10, help="images per row")
    p.add_argument("--rows", type=_positive_int, default=4, help="rows (pairs of ends)")
    p.add_argument(
        "--method", choices=("slerp", "linear"), default="slerp", help="the path"
    )
    _seed(p)
    _labels_option(p)
    _scale(p, 2)
    _output(p, "interpolation.png")
    _overwrite(p)


def _add_translate(sub):
    p = _command(
        sub,
        "translate",
        cmd_translate,
        "translate an image or a folder between two domains (CycleGAN)",
    )
    _model_name(p)
    p.add_argument("input", help="a PNG/JPEG file, a folder of them, or an .npy")
    p.add_argument(
        "--direction", choices=("a2b", "b2a"), default="a2b", help="domain A to B"
    )
    _output(p, help="an image file for one image, else a new folder")
    p.add_argument("--grid", help="grid PNG; default beside the output")
    p.add_argument(
        "--grid-rows", type=_positive_int, default=16, help="images in the grid"
    )
    _scale(p, 2)
    _overwrite(p)


def _add_modify(sub):
    p = _command(
        sub,
        "modify",
        cmd_modify,
        "change images (before/after PNG grid): CVAE class transfer, VAE "
        "attribute edits, CycleGAN translation",
        description="--to-class K: a CVAE decodes each image's style code with "
        "class K. --attribute SRC:DST: a VAE adds strength x (mean code of DST - "
        "mean code of SRC) to the codes of class-SRC images. INPUT: a CycleGAN "
        "translates it, as `tfgen translate` does. Each grid row: the image, "
        "then its changed versions.",
    )
    _model_name(p)
    p.add_argument(
        "input", nargs="?", help="CycleGAN: a PNG/JPEG file, a folder, or an .npy"
    )
    edit = p.add_mutually_exclusive_group()
    edit.add_argument(
        "--to-class",
        type=_labels,
        metavar="K",
        help="CVAE: the class to decode with; K1,K2,... gives one column each",
    )
    edit.add_argument(
        "--attribute",
        type=_class_pair,
        metavar="SRC:DST",
        help="VAE: move images of class SRC towards class DST",
    )
    p.add_argument(
        "--strength", type=float, default=1.0, help="--attribute: vector multiple (1)"
    )
    p.add_argument(
        "--data",
        help="dataset name, image folder or .npy/.npz of the images to change; "
        "default the model's dataset",
    )
    p.add_argument(
        "--split", default="test", help="split of --data: a dataset's, an .npz's (test)"
    )
    _data_dir(p)
    p.add_argument(
        "--num-images", type=_positive_int, help="images to change (default 8)"
    )
    _image_choice(p, "--num-images", 8)
    _labels_option(p, "--to-class on unlabelled data: the images' class id(s)")
    p.add_argument(
        "--vector-split",
        default="train",
        help="--attribute: split whose class means give the vector (train)",
    )
    p.add_argument(
        "--vector-images",
        type=_positive_int,
        default=2000,
        help="--attribute: images of --vector-split, evenly spaced (2000)",
    )
    _seed(p, help="seed of --shuffle")
    p.add_argument(
        "--direction", choices=("a2b", "b2a"), default="a2b", help="CycleGAN: A to B"
    )
    p.add_argument(
        "-o",
        "--output",
        help="the PNG grid (default modify.png); CycleGAN: an image file for one "
        "image, else a new folder",
    )
    p.add_argument("--grid", help="CycleGAN: grid PNG; default beside the output")
    p.add_argument(
        "--grid-rows", type=_positive_int, default=16, help="CycleGAN: grid images"
    )
    _scale(p, 2)
    _overwrite(p)


def _add_codec(sub):
    p = _command(
        sub,
        "compress",
        cmd_compress,
        "compress images losslessly with a zoo model's likelihood",
    )
    _model_name(p, f"an autoregressive model or a VAE: {_NAME_HELP}")
    p.add_argument(
        "input",
        help="a PNG, a folder of PNGs, or an .npy of levels (e.g. 0/1 for binary models)",
    )
    _output(p, help="the compressed file (.tfg)")
    _batch_size(p, 100)
    _overwrite(p)
    p = _command(
        sub, "decompress", cmd_decompress, "decode a file written by tfgen compress"
    )
    p.add_argument("input", help="the compressed file")
    _output(
        p,
        help="a new folder of PNGs (under the original file names, when the file "
        "stores them), or an .npy of levels",
    )
    _overwrite(p)


def _add_reconstruct(sub):
    p = _command(
        sub,
        "reconstruct",
        cmd_reconstruct,
        "originals above their reconstructions as a PNG (VAE)",
    )
    _model_name(p)
    p.add_argument(
        "--data",
        help="DATASET:SPLIT, a folder of images or an .npy/.npz file; "
        "default the model's dataset:test",
    )
    p.add_argument("-n", "--num", type=_positive_int, help="images (default 32)")
    _image_choice(p, "-n", 32).add_argument(
        "--offset",
        type=_non_negative_int,
        help="take -n consecutive images from this position (as --indices K:K+N)",
    )
    _seed(p, help="seed of --shuffle and of --mode sample")
    p.add_argument("--nrow", type=_positive_int, default=8, help="images per row")
    p.add_argument(
        "--binarize",
        choices=("threshold", "dynamic"),
        help="binarize 8-bit images (default for Bernoulli models: threshold)",
    )
    p.add_argument(
        "--mode",
        choices=("mean", "mode", "sample"),
        default="mean",
        help="what of the decoder's distribution to show",
    )
    _scale(p, 2)
    _data_dir(p)
    _output(p, "reconstructions.png")
    _overwrite(p)


def _add_train(sub):
    p = _command(sub, "train", cmd_train, "train a zoo recipe or a model on a dataset")
    p.add_argument("name", nargs="?", help="zoo entry whose recipe to run")
    p.add_argument("--recipe", help="JSON file of RecipeSpec fields (instead of NAME)")
    p.add_argument("--model", help="model class, e.g. DCGAN (instead of NAME)")
    p.add_argument("--dataset", help="dataset name or path (with --model)")
    p.add_argument("--split", default="train", help="dataset split (train)")
    _training_options(p, "JSON of constructor arguments (overrides)")
    p.add_argument(
        "--strategy",
        default="default",
        choices=("default", "mirrored", "multi_worker"),
        help="tf.distribute strategy",
    )
    p.add_argument(
        "--logical-cpus", type=_positive_int, help="split the CPU into N devices"
    )
    _seed(p, None, "seeds Python, NumPy and TensorFlow before the model is built")
    p.add_argument(
        "-o",
        "--output-dir",
        default="runs/latest",
        help="run folder; an existing one is resumed (default runs/latest)",
    )


def _add_eval(sub):
    p = _command(
        sub,
        "eval",
        cmd_eval,
        "FID, KID, IS, precision/recall of a zoo model or saved folder",
        description="Samples a model and measures it against a real split; "
        "every number is printed with its protocol.",
    )
    _model_name(p)
    p.add_argument(
        "--metric", default="fid", help="comma-separated: fid,kid,is,pr (default fid)"
    )
    p.add_argument(
        "--num-samples",
        type=_positive_int,
        default=10000,
        help="generated images (n_gen)",
    )
    p.add_argument(
        "--reference",
        help="DATASET:SPLIT of the real images; default the model's dataset:train",
    )
    p.add_argument(
        "--num-reference",
        type=_positive_int,
        help="the first N images of the reference split in stored order (n_ref), "
        "cached apart from the whole split; default the whole split",
    )
    p.add_argument(
        "--features",
        choices=("inception", "classifier"),
        default="inception",
        help="FID Inception pool3, or the domain classifier (28x28 grayscale)",
    )
    p.add_argument(
        "--classifier",
        help="with --features classifier: a shipped name, or a folder given as a "
        "path; default the dataset's",
    )
    p.add_argument(
        "--weights",
        help="FID Inception weights; default $TFGEN_FID_WEIGHTS, else pytorch-fid's "
        "file, downloaded once into the cache ($TFGEN_CACHE_DIR/downloads/)",
    )
    _seed(p, help="seed of the first sample call; call k gets seed + k")
    _batch_size(
        p,
        what="images per sample call and per feature-network pass",
        shown="64 for inception, 256 for classifier",
    )
    _data_dir(p)
    p.add_argument(
        "--fid-method",
        choices=("sqrtm", "eigh"),
        default="sqrtm",
        help="matrix square root of FID: scipy sqrtm (the reference) or eigh (faster)",
    )
    p.add_argument(
        "--work-dir",
        help="keep the features in resumable chunks here; start the same command "
        "once per core (e.g. under taskset) and the processes share the work",
    )
    p.add_argument(
        "--sample-arg",
        action="append",
        metavar="KEY=VALUE",
        help="a keyword argument of every model.sample call, named in the "
        "protocol (repeatable): use_ema=false measures a GAN's live generator, "
        "mode=sample a VAE's draws instead of its decoder means",
    )
    p.add_argument("--json", help="also write the results with protocols to this file")
    _overwrite(p, "an existing --json file")


def _add_classifier(sub):
    classifier_sub = _command(
        sub,
        "classifier",
        None,
        "domain classifiers (28x28 metrics, CycleGAN success rate)",
    ).add_subparsers(dest="classifier_command", required=True, metavar="{train}")
    p = _command(
        classifier_sub,
        "train",
        cmd_classifier_train,
        "train on the train split, measure test accuracy",
    )
    p.add_argument("dataset", help="mnist, fashion_mnist or cifar10")
    _training_options(p, "JSON of DomainClassifier arguments")
    p.add_argument("--learning-rate", type=_positive_float, help="Adam's step size")
    _seed(p)
    p.add_argument("-o", "--output-dir", help="save the classifier to this new folder")
    p.add_argument(
        "--export",
        action="store_true",
        help="write it to <zoo-dir>/classifiers/<dataset>/, where the metrics "
        "find it by the dataset's name",
    )
    p.add_argument(
        "--zoo-dir",
        help="the zoo folder --export writes into; default $TFGEN_ZOO_DIR, else "
        "~/.local/share/tfgen/zoo (never the installed package); a checkout's "
        "zoo/ to ship it",
    )
    _overwrite(p, "an existing classifier folder")


def _add_data(sub):
    data_sub = _command(
        sub, "data", None, "get the built-in datasets as <dataset>.npz"
    ).add_subparsers(dest="data_command", required=True, metavar="{download,prepare}")
    names = "mnist, fashion_mnist, cifar10 or binarized_mnist"
    p = _command(
        data_sub,
        "download",
        cmd_data_download,
        "download a dataset's canonical source files (sha256-checked) and write "
        "<data-dir>/<dataset>.npz",
    )
    p.add_argument("name", help=names)
    _data_dir(p)
    p.add_argument(
        "--base-url",
        help="fetch <base-url>/<file> from a mirror (default $TFGEN_DATA_URL, "
        "else the canonical host)",
    )
    _overwrite(p, "an existing <dataset>.npz")
    p = _command(
        data_sub,
        "prepare",
        cmd_data_prepare,
        "convert source files already at hand into <data-dir>/<dataset>.npz",
    )
    p.add_argument("name", help=names)
    p.add_argument(
        "--from",
        dest="source_dir",
        required=True,
        metavar="DIR",
        help="folder of the source files (the IDX files, the CIFAR-10 archive "
        "or its folder, the .amat files)",
    )
    _data_dir(p)
    _overwrite(p, "an existing <dataset>.npz")


_COMMAND_GROUPS = (
    _add_zoo,
    _add_sample,
    _add_complete,
    _add_interpolate,
    _add_translate,
    _add_modify,
    _add_codec,
    _add_reconstruct,
    _add_train,
    _add_eval,
    _add_classifier,
    _add_data,
)


def build_parser():
    parser = _Parser(
        prog="tfgen",
        description="Generative image models for Keras 3: zoo, sampling, training.",
        epilog="Exit status: 0 done, 1 refused input or failed work, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"tfgen {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error"
    )
    # Its own dest: `train --verbose` is Keras' fit verbosity.
    parser.add_argument(
        "--verbose",
        action="store_true",
        dest="tensorflow_log",
        help="show TensorFlow's log unfiltered, start-up lines included, at "
        "$TF_CPP_MIN_LOG_LEVEL (TensorFlow's default where unset); by default "
        "only its warnings and errors",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in _COMMAND_GROUPS:
        add(sub)
    return parser


# --------------------------------------------------------------------- main
# TensorFlow's C++ start-up lines of INFO severity ("oneDNN custom operations
# are on", "Could not find cuda drivers") are logged before absl's logging is
# initialized, which ignores TF_CPP_MIN_LOG_LEVEL (abseil-cpp PR 1718, closed
# unmerged), so the command line drops them from its own start-up.
_PRE_INIT_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are "
    r"written to STDERR|I\d{4} .*)$"
)
_NO_GPU_NOISE = re.compile(r"^E\d{4} .*failed call to cuInit")


def _tensorflow_log_level(verbose=False):
    """Sets TensorFlow's C++ log level, which TensorFlow reads once when it
    is imported, and returns it: the user's $TF_CPP_MIN_LOG_LEVEL when set,
    else 2 (TF's own warnings and errors) or, with `verbose`, none, which
    leaves TensorFlow at its default ("0", everything)."""
    if verbose:
        return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    return os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _start_tensorflow(verbose=False):
    """Imports TensorFlow with its start-up log at `_tensorflow_log_level`.
    Unless `verbose` or the level is 0, the INFO lines absl prints
    regardless of the level are dropped, and so is a failed cuInit when
    TensorFlow then finds no GPU (it runs on the CPU, as it says anyway)."""
    if "tensorflow" in sys.modules:
        return
    level = _tensorflow_log_level(verbose)
    if verbose or level in ("", "0"):
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved, gpus = os.dup(2), None
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not (
                    _PRE_INIT_NOISE.match(line)
                    or (gpus == [] and _NO_GPU_NOISE.match(line))
                ):
                    print(line, file=sys.stderr)


def _exit_status(error):
    """(exit status, one-line message) of an exception a command raised."""
    if isinstance(error, KeyError) and error.args:  # an unknown name
        return 2, str(error.args[0])
    message = str(error) or type(error).__name__
    if isinstance(error, UsageError):
        return 2, message
    if not isinstance(error, (OSError, ValueError, TypeError)):
        message = f"{type(error).__name__}: {message} (--debug shows the traceback)"
    return 1, message


def main(argv=None):
    """Runs `tfgen ARGS`; returns the exit status (0, 1 refused input or
    failed work, 2 usage error)."""
    args = build_parser().parse_args(argv)
    try:
        _start_tensorflow(args.tensorflow_log)
        return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("tfgen: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        status, message = _exit_status(error)
        print(f"tfgen: error: {' '.join(message.split())}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
