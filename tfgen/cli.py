"""The `tfgen` command line: zoo, sample, complete, interpolate, reconstruct,
translate, compress, decompress, train, eval, classifier."""

import argparse
import json
import os
import sys
import time

from tfgen import codec, files, metrics, zoo

__all__ = ["main"]


def _parse_labels(text):
    if text is None:
        return None
    values = [int(v) for v in text.split(",") if v.strip()]
    return values[0] if len(values) == 1 else values


def cmd_zoo_list(args):
    rows = []
    for name in zoo.list(args.pattern):
        entry = zoo.get(name)
        metrics = "; ".join(f"{m['name']}={m['value']}" for m in entry.metrics) or "-"
        rows.append(
            (
                name,
                entry.model,
                entry.dataset.get("name")
                or " <-> ".join(
                    entry.dataset[k]
                    for k in ("domain_a", "domain_b")
                    if k in entry.dataset
                )
                or "-",
                "yes" if entry.weights else "not yet",
                metrics,
            )
        )
    header = ("name", "model", "dataset", "weights", "metrics")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def cmd_zoo_info(args):
    entry = zoo.get(args.name)
    print(json.dumps(entry.to_json(), indent=2))
    return 0


def _load_model(name):
    return zoo.load(name)


def cmd_sample(args):
    from tfgen.images import save_grid

    model = _load_model(args.name)
    if not hasattr(model, "sample"):
        raise SystemExit(
            f"{args.name} ({type(model).__name__}) maps images to images and does "
            "not sample from noise: use `tfgen translate` on your images instead."
        )
    kwargs = {"seed": args.seed, "progress": True, "batch_size": args.batch_size}
    labels = _parse_labels(args.labels)
    if labels is not None:
        kwargs["labels"] = labels
    # Autoregressive models: temperature and sampler.
    if getattr(args, "temperature", None) is not None:
        kwargs["temperature"] = args.temperature
    if getattr(args, "method", None) is not None:
        kwargs["method"] = args.method
    images = model.sample(args.num, **kwargs)
    save_grid(images, args.output, nrow=args.nrow, scale=args.scale)
    if args.npy:
        import numpy as np

        np.save(args.npy, images)
    print(f"wrote {args.num} samples of {args.name} to {args.output}")
    return 0


def _completion_images(model, name, args):
    """The first `--num-images` images of `--data` (default: the model's
    dataset) on the model's level grid, with their labels."""
    from tfgen import data

    source = args.data
    if source is None:
        source = _default_reference(name).split(":")[0]
    labelled = source in data.DATASETS and data.DATASETS[source][2]
    conditional = getattr(model, "num_classes", None) is not None
    dataset = data.load(
        source,
        args.split if source in data.DATASETS else "train",
        data_dir=args.data_dir,
        num_levels=model.num_levels,
        labels=labelled and conditional,
        batch_size=args.num_images,
        # --shuffle SEED picks a random subset instead of the first images.
        shuffle=args.shuffle is not None,
        seed=args.shuffle,
    )
    batch = next(iter(dataset))
    import numpy as np

    if labelled and conditional:
        return np.asarray(batch[0]), np.asarray(batch[1]).astype("int32")
    return np.asarray(batch), None


def cmd_complete(args):
    from tfgen.images import save_grid
    from tfgen.sampling import completion_grid, completion_mask

    model = _load_model(args.name)
    if not hasattr(model, "complete"):
        raise SystemExit(
            f"{args.name} is not an autoregressive model; it cannot complete images."
        )
    images, labels = _completion_images(model, args.name, args)
    if tuple(images.shape[1:]) != tuple(model.image_shape):
        raise ValueError(
            f"{args.name} takes images of shape {tuple(model.image_shape)}. "
            f"Received images of shape {tuple(images.shape[1:])} from {args.data}"
        )
    known = completion_mask(model.image_shape, args.mask, args.size)
    if labels is None and args.labels is not None:
        labels = _parse_labels(args.labels)
    kwargs = {} if labels is None else {"labels": labels}
    if args.method is not None:
        kwargs["method"] = args.method
    completions = model.complete(
        images,
        known,
        num_samples=args.num_samples,
        seed=args.seed,
        temperature=args.temperature,
        progress=True,
        **kwargs,
    )
    grid = completion_grid(images, known, completions)
    save_grid(grid, args.output, nrow=args.num_samples + 2, scale=args.scale)
    if args.npy:
        import numpy as np

        np.save(args.npy, completions)
    print(
        f"wrote {len(images)} rows (occluded, {args.num_samples} completions, "
        f"original) of {args.name} to {args.output}"
    )
    return 0


def cmd_interpolate(args):
    from tfgen.images import save_grid

    model = _load_model(args.name)
    if not hasattr(model, "interpolate"):
        raise SystemExit(f"{args.name} has no latent space to interpolate in.")
    rows = []
    for row in range(args.rows):
        rows.append(
            model.interpolate(
                steps=args.steps,
                method=args.method,
                seed=args.seed + row,
                labels=_parse_labels(args.labels),
            )
        )
    import numpy as np

    save_grid(np.concatenate(rows), args.output, nrow=args.steps, scale=args.scale)
    print(f"wrote {args.rows} interpolation row(s) of {args.steps} to {args.output}")
    return 0


def cmd_translate(args):
    import numpy as np

    from tfgen.images import read_images, save_grid, save_images

    model = _load_model(args.name)
    if not hasattr(model, "translate"):
        raise SystemExit(f"{args.name} is not an image-to-image translator.")
    if args.input.endswith(".npy"):
        x = np.load(args.input, allow_pickle=False)
        names = [f"{i:05d}.png" for i in range(len(x))]
    else:
        x, names = read_images(args.input)
    if x.dtype == np.uint8:
        x = x.astype("float32") / 255.0
    single = os.path.isfile(args.input) and not args.input.endswith(".npy")
    forward, back = model.cycle(x, args.direction)
    if single:
        save_images(
            forward,
            os.path.dirname(os.path.abspath(args.output)),
            [os.path.basename(args.output)],
        )
        grid = args.grid or os.path.splitext(args.output)[0] + "_grid.png"
    else:
        save_images(forward, args.output, names)
        grid = args.grid or os.path.join(args.output, "grid.png")
    shown = args.grid_rows
    rows = np.stack([x[:shown], forward[:shown], back[:shown]], axis=1)
    save_grid(rows.reshape(-1, *x.shape[1:]), grid, nrow=3, scale=args.scale)
    print(
        f"translated {len(x)} image(s) {args.direction} with {args.name} to "
        f"{args.output}; grid (input | translated | cycled back) in {grid}"
    )
    return 0


def cmd_compress(args):
    import numpy as np

    from tfgen.images import read_images
    from tfgen.levels import levels_from_pixels

    model = _load_model(args.name)
    if args.input.endswith(".npy"):
        levels = np.load(args.input, allow_pickle=False)
    else:
        pixels, _ = read_images(args.input)
        levels = levels_from_pixels(pixels, model.num_levels)
    blob = codec.compress(levels, model, batch_size=args.batch_size, progress=True)
    files.write_bytes(args.output, blob)
    dims = int(np.prod(model.image_shape))
    count = codec.read_header(blob)[0].count
    print(
        f"compressed {count} image(s) with {args.name} into {args.output}: "
        f"{len(blob)} bytes, {8 * len(blob) / (count * dims):.4f} bits/dim"
    )
    return 0


def cmd_decompress(args):
    import io

    import numpy as np

    with open(args.input, "rb") as f:
        blob = f.read()
    header, _ = codec.read_header(blob)
    levels = codec.decompress(blob, progress=True)  # all of it before writing
    if args.output.endswith(".npy"):
        buffer = io.BytesIO()
        np.save(buffer, levels, allow_pickle=False)
        files.write_bytes(args.output, buffer.getvalue())
    else:
        from PIL import Image

        from tfgen.levels import pixels_from_levels

        pixels = pixels_from_levels(levels, header.num_levels)
        os.makedirs(args.output, exist_ok=True)
        for i, image in enumerate(pixels):
            buffer = io.BytesIO()
            Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
                buffer, format="PNG"
            )
            files.write_bytes(
                os.path.join(args.output, f"{i:05d}.png"), buffer.getvalue()
            )
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

    from tfgen import data
    from tfgen.images import save_grid

    model = _load_model(args.name)
    if not hasattr(model, "reconstruct"):
        raise SystemExit(f"{args.name} has no encoder to reconstruct with.")
    source = args.data or _default_reference(args.name).rpartition(":")[0] + ":test"
    name, split = _split_source(source)
    binarize = args.binarize
    if binarize is None and getattr(model, "num_levels", 256) == 2:
        # A binary model reads 8-bit images thresholded at 1/2.
        binarize = "threshold"
    ds = data.load(
        name,
        split,
        data_dir=args.data_dir,
        binarize=binarize,
        batch_size=args.offset + args.num,
    )
    x = np.asarray(next(iter(ds)))[args.offset : args.offset + args.num]
    recon = model.reconstruct(x, mode=args.mode)
    nrow = args.nrow
    rows = []
    for start in range(0, len(x), nrow):
        rows += [x[start : start + nrow], recon[start : start + nrow]]
        pad = nrow - len(rows[-1])
        if pad:  # keep each original above its reconstruction
            blank = np.ones((pad, *x.shape[1:]), "float32")
            rows[-2], rows[-1] = (np.concatenate([r, blank]) for r in rows[-2:])
    save_grid(np.concatenate(rows), args.output, nrow=nrow, scale=args.scale)
    print(
        f"wrote {len(x)} images of {source} (rows: originals, then reconstructions) "
        f"to {args.output}"
    )
    return 0


def cmd_train(args):
    from tfgen import recipes

    overrides = json.loads(args.config) if args.config else {}
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
        raise SystemExit(
            "Give a zoo NAME, --recipe FILE, or --model CLASS --dataset NAME "
            "[--config JSON]."
        )
    spec = spec.replace(
        config_overrides=overrides,
        epochs=args.epochs,
        batch_size=args.batch_size,
        precision=args.precision,
        seed=args.seed,
    )
    start = time.time()
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


def cmd_export(args):
    from tfgen import recipes

    entry = recipes.export(args.run_dir, args.name, zoo_dir=args.zoo_dir)
    print(f"exported {args.name}: {entry.weights} sha256 {entry.sha256}")
    if not entry.metrics:
        print(
            f"{args.name} has no metric records for these weights: measure them "
            "with benchmarks/fid.py, bits_per_dim.py or vae_likelihood.py"
        )
    return 0


def _default_reference(name):
    """`<dataset>:train` of a zoo entry or of a saved run's recipe."""
    dataset = None
    if os.path.isdir(name):
        meta_path = os.path.join(name, zoo.METADATA_FILE)
        if os.path.isfile(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
            dataset = meta.get("recipe", {}).get("dataset", {}).get("name")
    else:
        dataset = zoo.get(name).dataset.get("name")
    if not dataset:
        raise ValueError(
            f"{name!r} does not record the dataset it was trained on. Expected "
            "--reference DATASET:SPLIT (e.g. --reference cifar10:train)."
        )
    return f"{dataset}:train"


def _sample_args(pairs):
    """`KEY=VALUE` strings as keyword arguments; values are read as JSON
    (`false`, `0.5`, `"mean"`) and otherwise kept as strings (`mean`)."""
    kwargs = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(
                f"--sample-arg takes KEY=VALUE (e.g. use_ema=false). Received: {pair!r}"
            )
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


def _weights_sha256(name, model):
    """The sha256 of the weights a report measured: a zoo entry's checked one,
    or that of a saved folder's weights file."""
    digest = getattr(model, "zoo_sha256", None)
    if digest is None and os.path.isdir(name):
        digest = files.sha256(os.path.join(name, zoo.WEIGHTS_FILE))
    return digest


def cmd_eval(args):
    reference = args.reference or _default_reference(args.name)
    model = _load_model(args.name)
    network = metrics.feature_network(
        args.features,
        reference=reference,
        weights=args.weights,
        classifier=args.classifier,
        batch_size=args.batch_size,
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
        sample_kwargs=_sample_args(args.sample_arg),
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
        directory = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(directory, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")
    return 0


def cmd_classifier_train(args):
    model, info = metrics.train_classifier(
        args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        precision=args.precision,
        seed=args.seed,
        data_dir=args.data_dir,
        steps_per_epoch=args.steps_per_epoch,
        config=json.loads(args.config) if args.config else None,
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
    if args.output_dir:
        metrics.export_classifier(model, info, directory=args.output_dir)
        print(f"saved to {args.output_dir}")
    if args.export:
        directory = metrics.export_classifier(
            model, info, args.dataset, zoo_dir=args.zoo_dir
        )
        print(f"exported to {directory}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tfgen",
        description="Generative image models for Keras 3: zoo, sampling, training.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    zoo = sub.add_parser("zoo", help="list and inspect pretrained models")
    zoo_sub = zoo.add_subparsers(dest="zoo_command", required=True)
    p = zoo_sub.add_parser("list", help="list zoo entries")
    p.add_argument("pattern", nargs="?", default=None, help="glob, e.g. 'dcgan*'")
    p.set_defaults(func=cmd_zoo_list)
    p = zoo_sub.add_parser("info", help="print an entry as JSON")
    p.add_argument("name")
    p.set_defaults(func=cmd_zoo_info)
    p = zoo_sub.add_parser(
        "export", help="turn a finished training run into a zoo entry"
    )
    p.add_argument("run_dir")
    p.add_argument("name")
    p.add_argument("--zoo-dir", default=None, help="default: the repository's zoo/")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "sample", help="sample a PNG grid from a zoo model or saved folder"
    )
    p.add_argument("name", help="zoo name or a folder written by tfgen.zoo.save")
    p.add_argument("-n", "--num", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="samples.png")
    p.add_argument("--labels", default=None, help="class id(s), e.g. 7 or 0,1,2")
    p.add_argument("--nrow", type=int, default=None)
    p.add_argument("--scale", type=int, default=2, help="pixel upscaling of the PNG")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--npy", default=None, help="also save the float samples as .npy")
    p.add_argument(
        "--temperature", type=float, help="autoregressive models: logits / T"
    )
    p.add_argument(
        "--method",
        choices=("auto", "cached", "compiled"),
        help="autoregressive models: the sampler (default auto: cached if possible)",
    )
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "complete",
        help="complete occluded images with an autoregressive model (PNG grid)",
        description="Rows of: the occluded input, several completions, the "
        "original (Figure 1 of the PixelRNN paper).",
    )
    p.add_argument("name", help="zoo name or a folder written by tfgen.zoo.save")
    p.add_argument(
        "--mask",
        default="bottom_half",
        choices=("bottom_half", "top_half", "right_half", "square"),
        help="the occluded region",
    )
    p.add_argument("--size", type=int, help="side of the square (default H/2)")
    p.add_argument(
        "--data",
        help="dataset name, image folder or .npy/.npz; default the model's dataset",
    )
    p.add_argument("--split", default="test")
    p.add_argument(
        "--data-dir", help="folder of <dataset>.npz; default $TFGEN_DATA_DIR"
    )
    p.add_argument("--num-images", type=int, default=8)
    p.add_argument(
        "--shuffle",
        type=int,
        metavar="SEED",
        help="pick the images at random with this seed (default: the first ones)",
    )
    p.add_argument("--num-samples", type=int, default=4, help="completions per image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--method", choices=("auto", "cached", "compiled"))
    p.add_argument(
        "--labels", help="class id(s) of a conditional model without labelled data"
    )
    p.add_argument("--scale", type=int, default=3)
    p.add_argument("--npy", help="also save the completions (n, k, H, W, C) as .npy")
    p.add_argument("-o", "--output", default="completions.png")
    p.set_defaults(func=cmd_complete)

    p = sub.add_parser("interpolate", help="latent interpolation rows as a PNG")
    p.add_argument("name")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rows", type=int, default=4)
    p.add_argument("--method", choices=("slerp", "linear"), default="slerp")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", default=None)
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("-o", "--output", default="interpolation.png")
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser(
        "compress",
        help="compress images losslessly with a zoo model's likelihood",
    )
    p.add_argument("name", help="zoo name of an autoregressive model or a VAE")
    p.add_argument(
        "input",
        help="a PNG, a folder of PNGs, or an .npy of levels (e.g. 0/1 for binary models)",
    )
    p.add_argument("-o", "--output", required=True, help="the compressed file (.tfg)")
    p.add_argument("--batch-size", type=int, default=100)
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("decompress", help="decode a file written by tfgen compress")
    p.add_argument("input", help="the compressed file")
    p.add_argument(
        "-o", "--output", required=True, help="a folder for PNGs, or an .npy of levels"
    )
    p.set_defaults(func=cmd_decompress)

    p = sub.add_parser(
        "translate",
        help="translate an image or a folder between two domains (CycleGAN)",
    )
    p.add_argument("name", help="zoo name or a folder written by tfgen.zoo.save")
    p.add_argument("input", help="a PNG/JPEG file, a folder of them, or an .npy")
    p.add_argument("--direction", choices=("a2b", "b2a"), default="a2b")
    p.add_argument(
        "-o", "--output", required=True, help="PNG for one image, else a folder"
    )
    p.add_argument("--grid", help="grid PNG; default beside the output")
    p.add_argument("--grid-rows", type=int, default=16, help="images in the grid")
    p.add_argument("--scale", type=int, default=2)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser(
        "reconstruct",
        help="originals above their reconstructions as a PNG (VAE)",
    )
    p.add_argument("name", help="zoo name or a folder written by tfgen.zoo.save")
    p.add_argument(
        "--data",
        help="DATASET:SPLIT, a folder of images or an .npy/.npz file; "
        "default the model's dataset:test",
    )
    p.add_argument("-n", "--num", type=int, default=32)
    p.add_argument("--offset", type=int, default=0, help="skip the first N images")
    p.add_argument("--nrow", type=int, default=8, help="images per row")
    p.add_argument(
        "--binarize",
        choices=("threshold", "dynamic"),
        help="binarize 8-bit images (default for Bernoulli models: threshold)",
    )
    p.add_argument("--mode", choices=("mean", "mode", "sample"), default="mean")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument(
        "--data-dir", help="folder of <dataset>.npz; default $TFGEN_DATA_DIR"
    )
    p.add_argument("-o", "--output", default="reconstructions.png")
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("train", help="train a zoo recipe or a model on a dataset")
    p.add_argument("name", nargs="?", help="zoo entry whose recipe to run")
    p.add_argument("--recipe", help="JSON file of RecipeSpec fields (instead of NAME)")
    p.add_argument("--model", help="model class, e.g. DCGAN (instead of NAME)")
    p.add_argument("--dataset", help="dataset name or path (with --model)")
    p.add_argument("--split", default="train")
    p.add_argument("--config", help="JSON of constructor arguments (overrides)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--precision", help="Keras dtype policy; default mixed_bfloat16")
    p.add_argument(
        "--strategy", default="default", choices=("default", "mirrored", "multi_worker")
    )
    p.add_argument("--logical-cpus", type=int, help="split the CPU into N devices")
    p.add_argument(
        "--data-dir", help="folder of <dataset>.npz; default $TFGEN_DATA_DIR"
    )
    p.add_argument("--seed", type=int)
    p.add_argument("-o", "--output-dir", default="runs/latest")
    p.add_argument("--verbose", default="auto")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval",
        help="FID, KID, IS, precision/recall of a zoo model or saved folder",
        description="Samples a model and measures it against a real split; "
        "every number is printed with its protocol.",
    )
    p.add_argument("name", help="zoo name or a folder written by tfgen.zoo.save")
    p.add_argument(
        "--metric",
        default="fid",
        help="comma-separated: fid,kid,is,pr (default fid)",
    )
    p.add_argument(
        "--num-samples", type=int, default=10000, help="generated images (n_gen)"
    )
    p.add_argument(
        "--reference",
        help="DATASET:SPLIT of the real images; default the model's dataset:train",
    )
    p.add_argument(
        "--num-reference",
        type=int,
        help="first N reference images (n_ref); default the whole split",
    )
    p.add_argument(
        "--features",
        choices=("inception", "classifier"),
        default="inception",
        help="FID Inception pool3, or the domain classifier (28x28 grayscale)",
    )
    p.add_argument(
        "--classifier",
        help="with --features classifier: shipped name or folder; default the dataset",
    )
    p.add_argument(
        "--weights", help="FID Inception weights; default $TFGEN_FID_WEIGHTS"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int)
    p.add_argument(
        "--data-dir", help="folder of <dataset>.npz; default $TFGEN_DATA_DIR"
    )
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
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "classifier", help="domain classifiers (28x28 metrics, CycleGAN success rate)"
    )
    classifier_sub = p.add_subparsers(dest="classifier_command", required=True)
    p = classifier_sub.add_parser(
        "train", help="train on the train split, measure test accuracy"
    )
    p.add_argument("dataset", help="mnist, fashion_mnist or cifar10")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--precision", help="Keras dtype policy; default mixed_bfloat16")
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--config", help="JSON of DomainClassifier arguments")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--data-dir", help="folder of <dataset>.npz; default $TFGEN_DATA_DIR"
    )
    p.add_argument("-o", "--output-dir", help="save the classifier to this folder")
    p.add_argument(
        "--export",
        action="store_true",
        help="write it to <zoo>/classifiers/<dataset>/ for shipping",
    )
    p.add_argument("--zoo-dir", default=None, help="default: the repository's zoo/")
    p.add_argument("--verbose", default="auto")
    p.set_defaults(func=cmd_classifier_train)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, TypeError, FileNotFoundError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"tfgen: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
