"""Likelihood and representation quality of the zoo's VAEs, with protocols.

For every zoo entry of model `VAE` with weights (or `--entries`), in float32:

- test negative log-likelihood by the importance-weighted bound IWAE_k of
  Burda et al. (arXiv 1509.00519), k = `--num-samples` (5000 by default, the
  paper's protocol), on the whole test split (or `--num-images` evenly
  spaced ones: binarized MNIST's test set is sorted by class),
  in nats per image, with its standard error over images; for 8-bit data
  also in bits per dimension on the 256 discrete levels;
- the ELBO on the same test images and on as many evenly spaced training
  images (the gap shows over-fitting), each the mean over `--elbo-samples`
  posterior draws;
- a linear probe: softmax regression (`tfgen.probe.linear_probe`) on the
  posterior means of the labelled train split, scored on the labelled test
  split. Binarized MNIST has no labels, so the MNIST probe encodes the 8-bit
  MNIST digits thresholded at 1/2 (a deterministic binarization, close to
  but not the same as the fixed Larochelle-Murray sample).

Data: binarized MNIST uses the fixed binarization's test split
(`tfgen.data.load("binarized_mnist", "test")`); 8-bit sets their test split.

It writes (a) each entry's `metrics` records (`{"name", "value", "protocol"}`,
the protocol naming data, split, binarization, k, number of images, seed,
hardware, wall time and date), replacing older records of the same names,
and (b) a table into benchmarks/RESULTS.md between
`<!-- vae_likelihood:start -->` and `<!-- vae_likelihood:end -->`.

Run from the repository root:

    export TFGEN_DATA_DIR=~/tfgen_data
    python3 benchmarks/vae_likelihood.py                       # all VAEs, writes
    python3 benchmarks/vae_likelihood.py --entries vae_mnist --num-images 100 --no-write
    python3 benchmarks/vae_likelihood.py --helpfull              # every flag
"""

import datetime
import math
import os
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
from absl import app, flags, logging

import tfgen  # noqa: E402

MARK_START, MARK_END = "<!-- vae_likelihood:start -->", "<!-- vae_likelihood:end -->"
METRIC_NAMES = (
    "nll_iwae",
    "bits_per_dim",
    "elbo_test",
    "elbo_train",
    "linear_probe_accuracy",
)
# Published numbers to read ours against (not measured here).
ANCHORS = {
    "binarized_mnist": [
        "IWAE paper (Burda et al. 2016, arXiv 1509.00519), Table 1, *dynamically* "
        "binarized MNIST, test NLL by IWAE k = 5000, models trained 3280 passes "
        "(Adam, batch 20): 1 stochastic layer (784-200-200-50, tanh) VAE 86.76, "
        "IWAE k = 5 / 50: 85.54 / 84.78; 2 layers VAE 85.33, IWAE k = 50 82.90.",
        "Same paper, appendix D, the *fixed* binarization used here (50,000 "
        "training images, the 10,000 validation images held out, as the "
        "authors' code loads them): 1 stochastic layer trained with k = 1 / 5 / "
        "50: 88.71 / 87.63 / 87.10 (k = 1 is the VAE). Read from a "
        "reimplementation's README (nbip/IWAE) that quotes appendix D, not from "
        "the paper's own table; the authors' README says models over-fit the "
        "fixed binarization by about 3.5 nats more.",
    ],
}


def _arrays(name, split, labels=False, **kwargs):
    """A whole split as numpy: images (n, H, W, C) float32 (and labels)."""
    import numpy as np

    ds = tfgen.data.load(name, split, labels=labels, batch_size=10000, **kwargs)
    xs, ys = [], []
    for batch in ds:
        if labels:
            xs.append(batch[0].numpy())
            ys.append(batch[1].numpy())
        else:
            xs.append(batch.numpy())
    x = np.concatenate(xs).astype("float32")
    return (x, np.concatenate(ys).astype("int64")) if labels else x


def _spaced(total, n):
    """n evenly spaced indices into range(total), first and last included."""
    import numpy as np

    return np.round(np.linspace(0, total - 1, min(n, total))).astype("int64")


def _probe_data(dataset, likelihood):
    """(name, load kwargs, description) of the labelled data for the probe."""
    if dataset == "binarized_mnist":
        return (
            "mnist",
            {"binarize": "threshold"},
            "mnist train (60000) -> test (10000), 8-bit digits thresholded at 1/2",
        )
    kwargs = {"binarize": "threshold"} if likelihood == "bernoulli" else {}
    return dataset, kwargs, f"{dataset} train -> test, labelled"


def why_not(entry):
    """None for a VAE entry with weights, else why it is left out."""
    if entry.model != "VAE":
        return f"is no VAE (model={entry.model})"
    return None if entry.weights else "has no weights"


def select(patterns):
    """The zoo's VAE entries with weights matching the `--entries` names or
    globs (all without them)."""
    what = "VAE zoo entry with weights"
    return common.select_entries(common.zoo_entries(), patterns, why_not, what)[0]


def evaluate(name, args):
    import keras

    keras.config.set_dtype_policy("float32")  # likelihoods in float32
    entry = tfgen.zoo.get(name)
    model = tfgen.zoo.load(name)
    dataset = entry.dataset["name"]
    binary = model.num_levels == 2
    if dataset == "binarized_mnist":
        binarization = "fixed (Larochelle & Murray), as stored"
        load_kwargs = {}
    elif binary:
        binarization = "threshold at 1/2"
        load_kwargs = {"binarize": "threshold"}
    else:
        binarization = "none (8-bit, 256 levels)"
        load_kwargs = {}
    x_test = _arrays(dataset, "test", data_dir=args.data_dir, **load_kwargs)
    x_train = _arrays(dataset, "train", data_dir=args.data_dir, **load_kwargs)
    subset = "all"
    if args.num_images and args.num_images < len(x_test):
        # Evenly spaced indices, not the first N: binarized MNIST's test set
        # is sorted by class, so a prefix would be a biased sample.
        subset = f"{args.num_images} evenly spaced of {len(x_test)}"
        x_test = x_test[_spaced(len(x_test), args.num_images)]
    n = len(x_test)
    train_subset = f"{n} evenly spaced of {len(x_train)}"
    x_train = x_train[_spaced(len(x_train), n)]
    hardware = common.hardware_line()
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    base = {
        "data": f"{dataset}:test",
        "binarization": binarization,
        "num_images": n,
        "subset": subset,
        "seed": args.seed,
        "dtype": "float32",
        "hardware": hardware,
        "date": date,
        "script": "benchmarks/vae_likelihood.py",
    }
    records = []

    start = time.time()
    log_p = model.log_prob(
        x_test,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=True,
    )
    iwae_seconds = time.time() - start
    nll = float(-log_p.mean())
    sem = float(log_p.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    protocol = dict(
        base,
        k=args.num_samples,
        wall_seconds=round(iwae_seconds, 1),
        summary=f"{dataset}:test, {n} images ({subset}), IWAE k={args.num_samples}, "
        "nats/image",
    )
    records.append(
        {
            "name": "nll_iwae",
            "value": round(nll, 2),
            "std_error": round(sem, 2),
            "protocol": protocol,
        }
    )
    if not binary:
        bpd = float(tfgen.distributions.bits_per_dim(nll, model.image_shape))
        records.append(
            {
                "name": "bits_per_dim",
                "value": round(bpd, 4),
                "std_error": round(
                    float(tfgen.distributions.bits_per_dim(sem, model.image_shape)), 4
                ),
                "protocol": dict(
                    protocol,
                    summary=f"{dataset}:test, {n} images, IWAE k={args.num_samples}, 256 levels",
                ),
            }
        )
    for split, images, chosen in (
        ("test", x_test, subset),
        ("train", x_train, train_subset),
    ):
        start = time.time()
        elbo = model.elbo(images, num_samples=args.elbo_samples, seed=args.seed)
        records.append(
            {
                "name": f"elbo_{split}",
                "value": round(float(elbo.mean()), 2),
                "protocol": dict(
                    base,
                    data=f"{dataset}:{split}",
                    num_images=len(images),
                    subset=chosen,
                    posterior_samples=args.elbo_samples,
                    wall_seconds=round(time.time() - start, 1),
                    summary=f"{dataset}:{split}, {len(images)} images, "
                    f"mean of {args.elbo_samples} posterior draws, nats/image",
                ),
            }
        )
    if tfgen.data.DATASETS.get(
        _probe_data(dataset, model.likelihood)[0], (0, 0, False)
    )[2]:
        probe_name, probe_kwargs, description = _probe_data(dataset, model.likelihood)
        start = time.time()
        xp_train, yp_train = _arrays(
            probe_name, "train", labels=True, data_dir=args.data_dir, **probe_kwargs
        )
        xp_test, yp_test = _arrays(
            probe_name, "test", labels=True, data_dir=args.data_dir, **probe_kwargs
        )
        result = tfgen.probe.linear_probe(
            model.features(xp_train),
            yp_train,
            model.features(xp_test),
            yp_test,
            epochs=args.probe_epochs,
            seed=args.seed,
        )
        records.append(
            {
                "name": "linear_probe_accuracy",
                "value": round(result["test_accuracy"], 4),
                "protocol": dict(
                    base,
                    data=description,
                    num_images=result["num_test"],
                    subset="all",
                    binarization=probe_kwargs.get("binarize") or "none (8-bit)",
                    features=f"posterior mean ({result['dim']} dims), standardized",
                    classifier=f"softmax regression, Adam lr {result['learning_rate']}, "
                    f"L2 {result['l2']}, {result['epochs']} epochs, batch 256",
                    train_accuracy=round(result["train_accuracy"], 4),
                    wall_seconds=round(time.time() - start, 1),
                    summary=f"{probe_name} test accuracy of a linear probe on the latent means",
                ),
            }
        )
    return entry, records


def section(results, command):
    lines = [
        "## VAE likelihoods",
        "",
        f"`{command}`",
        "",
        "Measured by `benchmarks/vae_likelihood.py` in float32; each number's full "
        "protocol is in the entry's `entry.json`. NLL: minus the IWAE_k bound "
        "(Burda et al., arXiv 1509.00519) on the test split, nats per image "
        "(± standard error over images); bits/dim on the 256 discrete levels. "
        "ELBO: mean over posterior draws (test, and as many train images). "
        "Probe: test accuracy of a linear softmax classifier on the posterior means.",
        "",
        "| entry | data (test) | images | k | NLL (nats) | bits/dim | ELBO test | ELBO train | probe acc. | IWAE wall time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    anchors = []
    hardware = "-"
    for entry, records in results:
        by = {r["name"]: r for r in records}
        nll = by["nll_iwae"]
        p = nll["protocol"]
        hardware = p["hardware"]
        bpd = by.get("bits_per_dim")
        probe = by.get("linear_probe_accuracy")
        lines.append(
            f"| `{entry.name}` | {p['data']} ({p['binarization']}) | "
            f"{p['num_images']} ({p.get('subset', 'all')}) | {p['k']} | "
            f"{nll['value']:.2f} ± {nll['std_error']:.2f} | "
            f"{'-' if bpd is None else format(bpd['value'], '.4f')} | "
            f"{by['elbo_test']['value']:.2f} | {by['elbo_train']['value']:.2f} | "
            f"{'-' if probe is None else format(probe['value'], '.4f')} | "
            f"{p['wall_seconds'] / 60:.1f} min |"
        )
        anchors += ANCHORS.get(entry.dataset["name"], [])
        if probe is not None:
            anchors.append(f"`{entry.name}` probe data: {probe['protocol']['data']}.")
    lines += ["", f"- Hardware: {hardware}."]
    lines += [f"- {a}" for a in dict.fromkeys(anchors)]
    return "\n".join(lines)


common.define_entries_flag("every VAE with weights")
flags.DEFINE_integer("num-samples", 5000, "IWAE k")
flags.DEFINE_integer("num-images", None, "N evenly spaced test images (default all)")
flags.DEFINE_integer("elbo-samples", 100, "posterior draws per image for the ELBO")
flags.DEFINE_integer("batch-size", 100, "images per IWAE batch")
flags.DEFINE_integer("probe-epochs", 30, "epochs of the linear probe")
flags.DEFINE_integer("seed", 0, "seeds the IWAE and ELBO draws and the probe")
common.define_data_dir_flag()
flags.DEFINE_boolean(
    "table-only", False, "rewrite the RESULTS.md table from the records in the entries"
)
common.define_output_flags()


def main(argv):
    args = common.script_args(__name__, argv)
    if not args.no_write:  # it writes: measure this checkout
        common.require_checkout_tfgen()
    entries = select(common.entry_patterns(args.entries))
    results = []
    if args.table_only:
        for entry in entries:
            records = [m for m in entry.metrics if m.get("name") in METRIC_NAMES]
            if any(r["name"] == "nll_iwae" for r in records):
                results.append((entry, records))
        text = section(
            results, "python3 benchmarks/vae_likelihood.py --table-only"
        ).replace(
            "Measured by",
            "Rebuilt from the records in the entries (each protocol names its run's "
            "date and sizes), measured by",
        )
        print(text)
        if not args.no_write:
            tfgen.reporting.write_section(args.output, text, MARK_START, MARK_END)
        return
    for entry in entries:
        _, records = evaluate(entry.name, args)
        for r in records:
            summary = r["protocol"]["summary"]
            logging.info("%s %s %s | %s", entry.name, r["name"], r["value"], summary)
        results.append((entry, records))
        if not args.no_write:
            path = os.path.join(entry.directory, "entry.json")
            tfgen.reporting.replace_metrics(path, records)
    text = section(results, common.command_line(__name__, argv))
    print(text)
    if not args.no_write:
        tfgen.reporting.write_section(args.output, text, MARK_START, MARK_END)


if __name__ == "__main__":
    app.run(main)
