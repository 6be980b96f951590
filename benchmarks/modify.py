""" "Modify data": how well the zoo's latent-variable models change a digit's
class while keeping its handwriting, read by the MNIST domain classifier.

On `--num-images` (1,000) MNIST test digits, evenly spaced over the split,
thresholded at 1/2 (the models' binary grid), each moved to every other
class (9 edits per digit, 9,000 in all):

- `--cvae` (cvae_mnist): `CVAE.transfer(x, y, t)`: the digit encoded with
  its own label y, the code decoded with the target label t (decoder means);
- `--vae` (vae_mnist): `VAE.apply_attribute`: the digit's code plus
  strength x (mean code of class t - mean code of class y), the class means
  taken over `--vector-images` evenly spaced training digits
  (`tfgen.models.latent.attribute_vector`), for each of `--strengths`.

Success rate: the fraction of edited images that the shipped MNIST
`DomainClassifier` (`tfgen.metrics.load_classifier("mnist")`) assigns to
the target class (argmax over the ten classes); beside it, the fraction of
the untouched digits and of their reconstructions it reads as their own
class.

Style consistency (CVAE): the style code of the result, re-encoded with its
target label (after thresholding at 1/2, the grid the encoder takes),
against the code of its source, s = E(x, y) and s' = E(T(x), t) (posterior
means). A transfer that keeps the handwriting keeps the code, since the
class is a separate input. Reported: the mean L2 distance |s' - s| over the
9,000 transfers; the same for the reconstructions (t = y: the floor that
re-encoding alone costs); the mean distance between the codes of random
pairs of different source digits (the scale of "another digit's style");
their ratio (0: style kept exactly, 1: no closer than a random digit); and
style retrieval, the fraction of results whose nearest source code (L2,
among all 1,000) is their own source's (chance 1/1,000).

Likelihood (CVAE): -log p(x|y) by the importance-weighted bound IWAE_k,
k = `--num-samples` (5000, as benchmarks/vae_likelihood.py), on
`--nll-images` evenly spaced test digits binarized dynamically with a fixed
seed (as the model was trained), nats per image ± standard error; the ELBO
with 100 posterior draws beside it. Since p(x) >= p(x|y) p(y) with p(y) =
1/10, -log p(x) <= -log p(x|y) + ln 10.

It writes its section of benchmarks/MODIFY.md (between `<!-- modify:start
-->` and `<!-- modify:end -->`) and the CVAE's records into its
`entry.json` (not the VAE's).

Run from the repository root:

    export TFGEN_DATA_DIR=~/tfgen_data
    python3 benchmarks/modify.py
    python3 benchmarks/modify.py --num-images 50 --nll-images 0 --no-write  # quick
"""

import datetime
import math
import os
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
from absl import app, flags, logging

import tfgen  # noqa: E402

MARK_START, MARK_END = "<!-- modify:start -->", "<!-- modify:end -->"
MODIFY = os.path.join(common.BENCHMARKS_DIR, "MODIFY.md")
HEADER = (
    "# Modifying data\n\nWritten by `benchmarks/modify.py`: changing an "
    "image's class with tfgen's models, measured.\n"
)

flags.DEFINE_string("cvae", "cvae_mnist", "CVAE zoo entry or folder ('' skips)")
flags.DEFINE_string("vae", "vae_mnist", "VAE zoo entry or folder ('' skips)")
flags.DEFINE_integer("num-images", 1000, "test digits, evenly spaced")
flags.DEFINE_integer("vector-images", 10000, "train digits for the class means")
flags.DEFINE_list("strengths", ["1", "1.5", "2"], "attribute vector multiples")
flags.DEFINE_integer("pairs", 10000, "random pairs of the style baseline")
flags.DEFINE_integer("nll-images", 1000, "test digits of the IWAE NLL (0 skips)")
flags.DEFINE_integer("num-samples", 5000, "IWAE k")
flags.DEFINE_integer("batch-size", 100, "images per IWAE batch")
flags.DEFINE_integer("seed", 0, "seeds the pairs, binarization and IWAE draws")
flags.DEFINE_string("output", MODIFY, "Markdown file whose marked section is replaced")
common.define_no_write_flag()
common.define_data_dir_flag()


def spaced(total, n):
    """n evenly spaced indices into range(total), first and last included."""
    import numpy as np

    return np.round(np.linspace(0, total - 1, min(n, total))).astype("int64")


def digits(split, n, args, **load):
    """(images float32, labels int32) of n evenly spaced MNIST digits."""
    import numpy as np

    ds = tfgen.data.load(
        "mnist", split, labels=True, batch_size=10000, data_dir=args.data_dir, **load
    )
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds), strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    index = spaced(len(x), n)
    return x[index].astype("float32"), y[index].astype("int32")


def classify(classifier, images):
    """The classifier's argmax class of float images in [0, 1]."""
    import numpy as np

    logits = [
        np.asarray(classifier(images[i : i + 500].astype("float32")))
        for i in range(0, len(images), 500)
    ]
    return np.concatenate(logits).argmax(axis=1)


def every_other_class(y, num_classes):
    """(source index, target class) of each image moved to each other class."""
    import numpy as np

    shift = np.arange(1, num_classes)
    targets = (y[:, None] + shift[None]) % num_classes
    return np.repeat(np.arange(len(y)), num_classes - 1), targets.reshape(-1)


def per_class(predicted, targets, num_classes):
    import numpy as np

    return [float(np.mean(predicted[targets == t] == t)) for t in range(num_classes)]


def cvae_transfer(model, classifier, x, y, args):
    import numpy as np

    start = time.perf_counter()
    k = model.num_classes
    rows, targets = every_other_class(y, k)
    moved = model.transfer(x[rows], y[rows], targets)
    recon = model.reconstruct(x, y)
    predicted = classify(classifier, moved)
    source = model.encode(x, y)
    result = model.encode((moved > 0.5).astype("float32"), targets)
    again = model.encode((recon > 0.5).astype("float32"), y)
    rng = np.random.default_rng(args.seed)
    i, j = rng.integers(0, len(x), (2, args.pairs))
    i, j = i[i != j], j[i != j]
    d_transfer = np.linalg.norm(result - source[rows], axis=1)
    d_recon = np.linalg.norm(again - source, axis=1)
    d_random = np.linalg.norm(source[i] - source[j], axis=1)
    # Nearest source code of each result, in chunks of 1,000 results.
    nearest = np.concatenate(
        [
            np.argmin(
                ((result[s : s + 1000, None] - source[None]) ** 2).sum(-1), axis=1
            )
            for s in range(0, len(result), 1000)
        ]
    )
    return {
        "edits": len(moved),
        "success_rate": float(np.mean(predicted == targets)),
        "success_by_target": per_class(predicted, targets, k),
        "source_accuracy": float(np.mean(classify(classifier, x) == y)),
        "reconstruction_accuracy": float(np.mean(classify(classifier, recon) == y)),
        "style_distance": float(d_transfer.mean()),
        "style_distance_reconstruction": float(d_recon.mean()),
        "style_distance_random_pairs": float(d_random.mean()),
        "style_ratio": float(d_transfer.mean() / d_random.mean()),
        "style_retrieval_top1": float(np.mean(nearest == rows)),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def vae_attributes(model, classifier, x, y, args):
    import numpy as np

    from tfgen.models import latent

    start = time.perf_counter()
    xv, yv = digits("train", args.vector_images, args, binarize="threshold")
    codes_v = model.encode(xv)
    k = int(max(y.max(), yv.max())) + 1
    codes = model.encode(x)
    rows, targets = every_other_class(y, k)
    pairs = np.stack([y[rows], targets], axis=1)
    recon = model.decode(codes)
    out = {
        "edits": len(rows),
        "source_accuracy": float(np.mean(classify(classifier, x) == y)),
        "reconstruction_accuracy": float(np.mean(classify(classifier, recon) == y)),
        "by_strength": {},
    }
    for strength in (float(s) for s in args.strengths):
        moved_codes = np.zeros_like(codes[rows])
        for a, b in np.unique(pairs, axis=0):
            chosen = np.flatnonzero((pairs[:, 0] == a) & (pairs[:, 1] == b))
            vector = latent.attribute_vector(codes_v, yv, a, b)
            moved_codes[chosen] = latent.apply_attribute(
                codes[rows[chosen]], vector, strength
            )
        moved = model.decode(moved_codes)
        predicted = classify(classifier, moved)
        out["by_strength"][strength] = {
            "success_rate": float(np.mean(predicted == targets)),
            "success_by_target": per_class(predicted, targets, k),
            # How far the edit went, in the prior's units.
            "mean_shift_norm": float(
                np.linalg.norm(moved_codes - codes[rows], axis=1).mean()
            ),
        }
    out["wall_seconds"] = round(time.perf_counter() - start, 1)
    return out


def cvae_likelihood(model, args):
    start = time.perf_counter()
    x, y = digits("test", args.nll_images, args, binarize="dynamic", seed=args.seed)
    log_p = model.log_prob(
        x,
        y,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=True,
    )
    iwae_seconds = time.perf_counter() - start
    elbo = model.elbo(x, y, num_samples=100, seed=args.seed)
    return {
        "images": len(x),
        "nll": float(-log_p.mean()),
        "std_error": float(log_p.std(ddof=1) / math.sqrt(len(x))),
        "elbo": float(elbo.mean()),
        "wall_seconds": round(iwae_seconds, 1),
    }


def records(transfer, nll, base):
    out = []
    if transfer:
        protocol = dict(
            base,
            summary=f"{transfer['edits']} transfers of evenly spaced MNIST test "
            "digits (thresholded) to every other class, read by the MNIST "
            "DomainClassifier; style codes re-encoded with the target label",
            wall_seconds=transfer["wall_seconds"],
        )
        for name in ("success_rate", "style_ratio", "style_retrieval_top1"):
            out.append(
                {
                    "name": f"transfer_{name}",
                    "value": round(transfer[name], 4),
                    "protocol": protocol,
                }
            )
    if nll:
        out.append(
            {
                "name": "nll_iwae_given_label",
                "value": round(nll["nll"], 2),
                "std_error": round(nll["std_error"], 2),
                "protocol": dict(
                    base,
                    data="mnist:test, dynamically binarized (seed "
                    f"{base['seed']}), labels given",
                    num_images=nll["images"],
                    k=base["k"],
                    elbo_100_draws=round(nll["elbo"], 2),
                    wall_seconds=nll["wall_seconds"],
                    summary=f"-log p(x|y) by IWAE k={base['k']}, nats/image; "
                    "-log p(x) <= this + ln 10",
                ),
            }
        )
    return out


def pct(value):
    return f"{100 * value:.1f}%"


def section(args, command, names, transfer, attributes, nll, hardware, wall):
    lines = [
        "## Changing a digit's class (MNIST)",
        "",
        f"`{command}`",
        "",
        f"- Data: {args.num_images} MNIST test digits, evenly spaced, thresholded "
        "at 1/2; each moved to every other class (9 edits per digit). Judge: "
        "the shipped MNIST `DomainClassifier` (argmax of ten classes); success "
        "= the fraction of edits it reads as the target class (target: >= 95%).",
        "- CVAE transfer: encode with the digit's label, decode the style code "
        "with the target label (decoder means). VAE attribute edit: the code "
        "plus strength x (mean code of the target class - mean code of the "
        f"source class), class means over {args.vector_images} evenly spaced "
        "training digits.",
        "- Style consistency (CVAE): s = E(x, y), s' = E(T(x), t), posterior "
        "means, T(x) thresholded at 1/2 before re-encoding. Ratio = mean |s' - s| "
        f"/ mean |s_i - s_j| over {args.pairs} random pairs of different source "
        "digits (0: style kept, 1: no closer than another digit's). Retrieval: "
        "the fraction of results whose nearest source code is their own "
        f"(chance 1/{args.num_images}). The class is a separate input of the "
        "CVAE, so its code is its own measure of style; the distance of "
        "reconstructions re-encoded the same way is the floor.",
        f"- Hardware: {hardware}; one core (taskset -c 0), shared with other "
        f"jobs. Wall time {wall:.0f} s in all.",
        "",
        "| model | edit | edits | success | untouched read as own class | "
        "reconstructions read as own class | style ratio | style retrieval |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    if transfer:
        t = transfer
        lines.append(
            f"| `{names['cvae']}` | transfer | {t['edits']} | "
            f"{pct(t['success_rate'])} | {pct(t['source_accuracy'])} | "
            f"{pct(t['reconstruction_accuracy'])} | {t['style_ratio']:.3f} | "
            f"{pct(t['style_retrieval_top1'])} |"
        )
    if attributes:
        a = attributes
        for strength, r in a["by_strength"].items():
            lines.append(
                f"| `{names['vae']}` | attribute, strength {strength:g} | "
                f"{a['edits']} | {pct(r['success_rate'])} | "
                f"{pct(a['source_accuracy'])} | "
                f"{pct(a['reconstruction_accuracy'])} | - | - |"
            )
    lines += ["", "Success by target class:", ""]
    lines += [
        "| model | " + " | ".join(str(c) for c in range(10)) + " |",
        "|---|" + "---:|" * 10,
    ]
    if transfer:
        lines.append(
            f"| `{names['cvae']}` transfer | "
            + " | ".join(pct(v) for v in transfer["success_by_target"])
            + " |"
        )
    if attributes:
        for strength, r in attributes["by_strength"].items():
            lines.append(
                f"| `{names['vae']}` strength {strength:g} | "
                + " | ".join(pct(v) for v in r["success_by_target"])
                + " |"
            )
    if transfer:
        t = transfer
        lines += [
            "",
            f"Style distances (CVAE): transfers {t['style_distance']:.3f}, "
            f"reconstructions {t['style_distance_reconstruction']:.3f}, random "
            f"pairs {t['style_distance_random_pairs']:.3f}. "
            f"Transfer wall time {t['wall_seconds']:.0f} s.",
        ]
    if attributes:
        shifts = ", ".join(
            f"{s:g}: {r['mean_shift_norm']:.2f}"
            for s, r in attributes["by_strength"].items()
        )
        lines += [
            "",
            f"VAE edit sizes (mean |strength x vector| in the prior's units, by "
            f"strength): {shifts}. Attribute wall time "
            f"{attributes['wall_seconds']:.0f} s.",
        ]
    if nll:
        lines += [
            "",
            f"Likelihood of `{names['cvae']}`: -log p(x|y) = {nll['nll']:.2f} ± "
            f"{nll['std_error']:.2f} nats (IWAE k={args.num_samples}, "
            f"{nll['images']} evenly spaced test digits binarized dynamically with "
            f"seed {args.seed}, labels given; ELBO {nll['elbo']:.2f} with 100 "
            f"draws), so -log p(x) <= {nll['nll'] + math.log(10):.2f} nats "
            f"(p(y) = 1/10). IWAE wall time {nll['wall_seconds']:.0f} s.",
        ]
    return "\n".join(lines)


def main(argv):
    args = common.script_args(__name__, argv, arguments=None)
    if not args.no_write:  # it writes: measure this checkout
        common.require_checkout_tfgen()
    import keras

    keras.config.set_dtype_policy("float32")
    start = time.perf_counter()
    classifier = tfgen.metrics.load_classifier("mnist")
    x, y = digits("test", args.num_images, args, binarize="threshold")
    names = {"cvae": args.cvae, "vae": args.vae}
    transfer = attributes = nll = None
    if args.cvae:
        model = tfgen.zoo.load(args.cvae)
        transfer = cvae_transfer(model, classifier, x, y, args)
        logging.info("CVAE transfer: %s", transfer)
        if args.nll_images:
            nll = cvae_likelihood(model, args)
            logging.info("CVAE NLL: %s", nll)
    if args.vae:
        attributes = vae_attributes(tfgen.zoo.load(args.vae), classifier, x, y, args)
        logging.info("VAE attributes: %s", attributes)
    hardware = common.hardware_line()
    wall = time.perf_counter() - start
    text = section(
        args,
        common.command_line(__name__, argv),
        names,
        transfer,
        attributes,
        nll,
        hardware,
        wall,
    )
    print(text)
    if args.no_write:
        return 0
    tfgen.reporting.write_section(args.output, text, MARK_START, MARK_END, HEADER)
    if args.cvae and not tfgen.zoo.is_path(args.cvae):
        entry = tfgen.zoo.get(args.cvae)
        base = {
            "num_images": args.num_images,
            "seed": args.seed,
            "k": args.num_samples,
            "classifier": "mnist DomainClassifier sha256 "
            + classifier.metadata.get("sha256", "?")[:12],
            "dtype": "float32",
            "hardware": hardware,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "script": "benchmarks/modify.py",
        }
        path = os.path.join(entry.directory, "entry.json")
        tfgen.reporting.replace_metrics(path, records(transfer, nll, base))
    return 0


if __name__ == "__main__":
    app.run(main)
