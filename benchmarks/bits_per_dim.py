"""Test likelihood of every autoregressive zoo entry, against the papers' anchors.

What it measures: the exact negative log-likelihood of the test split under
each zoo entry whose model is a `tfgen.models.AutoregressiveModel` and that
has weights: the mean over all test images of -log p(x) in nats per image
(the unit of binarized MNIST results) and in bits per dimension (that of
CIFAR-10), with the standard error of the mean.

How: `tfgen.zoo.load(name)` (weights checked against their sha256) builds the
model in float32; the test split of the entry's dataset is read with
`tfgen.data.load(name, "test", num_levels=model.num_levels)` (binarized
MNIST: the fixed Larochelle-Murray binarization as stored, 10,000 images;
CIFAR-10: the 8-bit values / 255, 10,000 images, no dequantization: the
likelihood is that of the discrete pixels); `model.log_prob` gives nats per
image. Results go into each entry's `metrics` (with the protocol) and a table
into benchmarks/RESULTS.md.

Anchors: PixelRNN paper (van den Oord et al. 2016, arXiv 1601.06759) Tables
4 and 5 and Gated PixelCNN paper (arXiv 1606.05328) Table 1.

Run from the repository root (with $TFGEN_DATA_DIR holding the datasets):

    python3 benchmarks/bits_per_dim.py                    # every entry
    python3 benchmarks/bits_per_dim.py --entries pixelcnn_mnist --no-write
    python3 benchmarks/bits_per_dim.py --helpfull         # every flag
"""

import datetime
import json
import math
import os
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from tfgen import data, models, zoo  # noqa: E402
from tfgen.reporting import replace_metrics, write_section  # noqa: E402

MARK_START = "<!-- bits_per_dim:start -->"
MARK_END = "<!-- bits_per_dim:end -->"
README_START = "<!-- bits_per_dim_summary:start -->"
README_END = "<!-- bits_per_dim_summary:end -->"

# (model class, dataset) -> (value, unit, source)
ANCHORS = {
    ("PixelCNN", "binarized_mnist"): (81.30, "nats", "PixelRNN paper, Table 4"),
    # Not confirmed: no copy of Table 4 at hand lists the Row LSTM; the
    # PixelCNN and Diagonal BiLSTM values are confirmed by secondary sources.
    ("RowLSTMPixelRNN", "binarized_mnist"): (
        80.54,
        "nats",
        "PixelRNN paper, Table 4 (the Row LSTM row not confirmed)",
    ),
    ("DiagonalBiLSTMPixelRNN", "binarized_mnist"): (
        79.20,
        "nats",
        "PixelRNN paper, Table 4",
    ),
    ("PixelCNN", "cifar10"): (3.14, "bits/dim", "PixelRNN paper, Table 5"),
    ("RowLSTMPixelRNN", "cifar10"): (3.07, "bits/dim", "PixelRNN paper, Table 5"),
    ("DiagonalBiLSTMPixelRNN", "cifar10"): (
        3.00,
        "bits/dim",
        "PixelRNN paper, Table 5",
    ),
    ("GatedPixelCNN", "cifar10"): (3.03, "bits/dim", "Gated PixelCNN paper, Table 1"),
}


def why_not(entry):
    """None for an autoregressive entry with weights, else why it is left out."""
    if not issubclass(models.get(entry.model), models.AutoregressiveModel):
        return f"is no autoregressive model (model={entry.model})"
    return None if entry.weights else "has no weights"


def autoregressive_entries(patterns=None):
    """Zoo entries with weights whose model is autoregressive, matching the
    `--entries` names or globs (all without them)."""
    what = "autoregressive zoo entry with weights"
    return common.select_entries(common.zoo_entries(), patterns, why_not, what)[0]


def test_images(entry, model, data_dir, limit=None):
    name = entry.dataset["name"]
    conditional = model.num_classes is not None
    ds = data.load(
        name,
        "test",
        data_dir=data_dir,
        num_levels=model.num_levels,
        labels=conditional,
        batch_size=1000,
    )
    xs, ys = [], []
    for batch in ds:
        if conditional:
            xs.append(np.asarray(batch[0]))
            ys.append(np.asarray(batch[1]))
        else:
            xs.append(np.asarray(batch))
    x = np.concatenate(xs)
    y = np.concatenate(ys).astype("int32") if conditional else None
    if limit:
        x = x[:limit]
        y = None if y is None else y[:limit]
    return x, y


def measure(entry, data_dir, batch_size, limit):
    start = time.perf_counter()
    keras.config.set_dtype_policy("float32")
    model = zoo.load(entry.name)
    x, y = test_images(entry, model, data_dir, limit)
    nats = model.log_prob(x, labels=y, batch_size=batch_size).astype("float64")
    nll = -nats
    dims = int(np.prod(model.image_shape))
    mean = float(nll.mean())
    sem = float(nll.std(ddof=1) / math.sqrt(len(nll)))
    return dict(
        entry=entry,
        model=model,
        n=len(nll),
        nats=mean,
        nats_sem=sem,
        bpd=mean / (dims * math.log(2.0)),
        bpd_sem=sem / (dims * math.log(2.0)),
        seconds=time.perf_counter() - start,
    )


def protocol(result, date, limit):
    entry = result["entry"]
    dataset = entry.dataset["name"]
    return {
        "dataset": dataset,
        "split": "test",
        "images": result["n"],
        "subset": None if not limit else f"first {limit} test images",
        "data": (
            "fixed Larochelle-Murray binarization (binarized_mnist x_test)"
            if dataset == "binarized_mnist"
            else f"8-bit values quantized to {result['model'].num_levels} levels, no dequantization"
        ),
        "likelihood": "exact discrete log-likelihood, float32 evaluation",
        "script": "benchmarks/bits_per_dim.py",
        "hardware": common.hardware_line(),
        "date": date,
    }


def update_entry(result, date, limit):
    entry = result["entry"]
    proto = protocol(result, date, limit)
    records = [
        {
            "name": "test_nll",
            "value": round(result["nats"], 2),
            "unit": "nats",
            "standard_error": round(result["nats_sem"], 3),
            "protocol": proto,
        },
        {
            "name": "test_bits_per_dim",
            "value": round(result["bpd"], 4),
            "unit": "bits/dim",
            "standard_error": round(result["bpd_sem"], 5),
            "protocol": proto,
        },
    ]
    path = os.path.join(entry.directory, "entry.json")
    replace_metrics(path, records)


def table(results):
    lines = [
        "| Entry | Model | Dataset (test) | NLL (nats) | bits/dim | Anchor | Gap | Trained |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        entry = r["entry"]
        dataset = entry.dataset["name"]
        anchor = ANCHORS.get((entry.model, dataset))
        if anchor is None:
            anchor_text, gap = "–", "–"
        else:
            value, unit, _ = anchor
            mine = r["nats"] if unit == "nats" else r["bpd"]
            anchor_text = f"{value:.2f} {unit}"
            gap = (
                f"{mine - value:+.2f} {unit}"
                if unit == "nats"
                else f"{mine - value:+.3f}"
            )
        training = entry.training
        trained = (
            f"{training.get('epochs_trained', '?')} epochs, {training.get('wall_hours', '?')} h, "
            f"{training.get('recipe', {}).get('precision', '?')}"
        )
        lines.append(
            f"| `{entry.name}` | {entry.model} | {dataset} ({r['n']:,}) | "
            f"{r['nats']:.2f} ± {r['nats_sem']:.2f} | {r['bpd']:.4f} | {anchor_text} | {gap} | {trained} |"
        )
    return "\n".join(lines)


def section_text(results, date, wall_seconds):
    anchors = sorted({v[2] for v in ANCHORS.values()})
    return "\n".join(
        [
            "## Autoregressive models: test likelihood",
            "",
            "`python3 benchmarks/bits_per_dim.py`",
            "",
            f"- Hardware: {common.hardware_line()}",
            f"- Date: {date} (rows not measured in this run come from the records in "
            "their entries, each with its own date and hardware)",
            "- Protocol: the whole test split of each entry's dataset (binarized MNIST: the "
            "fixed Larochelle-Murray binarization, 10,000 images; 8-bit MNIST and "
            "CIFAR-10: 10,000 images, 8-bit values, no dequantization); exact discrete "
            "log-likelihood from `model.log_prob`, float32 evaluation; mean ± standard "
            "error over images. Binarized MNIST results are compared in nats per image, "
            "CIFAR-10 in bits/dim.",
            f"- Anchors: {'; '.join(anchors)}.",
            f"- Wall time of this run's evaluations: {wall_seconds:.0f} s",
            "",
            table(results),
        ]
    )


def recorded_results():
    """Rows for the entries measured earlier, from their `entry.json` records."""
    rows = []
    for entry in autoregressive_entries():
        with open(os.path.join(entry.directory, "entry.json")) as f:
            records = {m["name"]: m for m in json.load(f).get("metrics", [])}
        nll, bpd = records.get("test_nll"), records.get("test_bits_per_dim")
        if nll is None or bpd is None:
            continue
        rows.append(
            dict(
                entry=entry,
                n=nll["protocol"]["images"],
                nats=nll["value"],
                nats_sem=nll["standard_error"],
                bpd=bpd["value"],
                bpd_sem=bpd["standard_error"],
            )
        )
    return rows


common.define_entries_flag("every autoregressive entry with weights")
common.define_data_dir_flag()
flags.DEFINE_integer("batch-size", 500, "images per log_prob batch")
flags.DEFINE_integer(
    "limit", None, "first N test images only (a quick check; not written)"
)
common.define_output_flags(readme="the table")


def main(argv):
    args = common.script_args(__name__, argv)
    if not (args.no_write or args.limit):  # it writes: measure this checkout
        common.require_checkout_tfgen()
    start = time.perf_counter()
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    results = []
    for entry in autoregressive_entries(common.entry_patterns(args.entries)):
        result = measure(entry, args.data_dir, args.batch_size, args.limit)
        logging.info(
            "%s: %.2f ± %.2f nats, %.4f bits/dim on %d test images (%.0f s)",
            entry.name,
            result["nats"],
            result["nats_sem"],
            result["bpd"],
            result["n"],
            result["seconds"],
        )
        results.append(result)
    section = section_text(results, date, time.perf_counter() - start)
    if args.no_write or args.limit:
        print(section)
        return 0
    for result in results:
        update_entry(result, date, args.limit)
    # The tables list every entry measured so far: the others from their records.
    measured = {r["entry"].name for r in results}
    results += [r for r in recorded_results() if r["entry"].name not in measured]
    results.sort(key=lambda r: r["entry"].name)
    section = section_text(results, date, time.perf_counter() - start)
    print(section)
    write_section(args.output, section, MARK_START, MARK_END)
    readme = "\n".join(
        [
            f"Test likelihood of the autoregressive zoo entries ({date[:10]}, "
            "`python3 benchmarks/bits_per_dim.py`; protocol in benchmarks/RESULTS.md):",
            "",
            table(results),
        ]
    )
    write_section(args.readme, readme, README_START, README_END)
    logging.info("wrote %s, %s and the entries' metrics", args.output, args.readme)
    return 0


if __name__ == "__main__":
    app.run(main)
