"""Sample quality of every zoo generator, each number with its protocol.

What it measures, for every zoo entry with weights whose model has
`sample(n, seed=...)` (GANs, VAEs and autoregressive models; CycleGAN
translates instead and has its own benchmark), through
`tfgen.metrics.evaluate`:

- on FID Inception pool3 features (TF's inception-2015-12-05 graph, the
  network of TTUR, pytorch-fid and StyleGAN; bilinear resize to 299x299
  with half-pixel centers; images rounded to uint8 levels):
  FID against the statistics of the entry's dataset, split `train`, all
  of it (50k for CIFAR-10, 60k for MNIST and Fashion-MNIST); KID x 1 (100
  subsets of 1000); improved precision/recall (k = 3, against the first
  n_gen reference images); the Inception Score (10 splits) for RGB
  datasets when the weights hold the logits layer (pytorch-fid's .pth);
- for 28x28 grayscale datasets with a shipped domain classifier
  (`zoo/classifiers/<dataset>/`): the Fréchet distance of its penultimate
  features and the classifier score (TF-GAN's MNIST metrics).

n_gen defaults to 50000 for CIFAR-10 (TTUR / StyleGAN protocol: 50k
generated against all 50k training images) and 10000 for the 28x28 sets.
Samples use seeds `--seed`, `--seed`+1, ... per batch; conditional models
cycle their labels over the run. The reference side is computed once and
cached under $TFGEN_CACHE_DIR (`tfgen.metrics.reference_statistics`).

It writes (a) every entry's `metrics` records (`{"name", "value", "std"?,
"protocol"}`, protocol naming the reference split, n_gen, n_ref, feature
network and weights sha256, resize, input dtype, seed, hardware and wall
time) into `zoo/<entry>/entry.json`, replacing older records of the same
names, and (b) the table of all entries' records into benchmarks/RESULTS.md
between `<!-- fid:start -->` and `<!-- fid:end -->`.

`--sanity` instead measures the real data against itself: FID(CIFAR-10
train, all 50k; test, all 10k), about 3.1 in the literature, and, when the
weights hold the logits layer, the Inception Score of CIFAR-10 train (11.24
per torch-fidelity), written between `<!-- fid_sanity:start/end -->`.

Run from the repository root:

    export TFGEN_DATA_DIR=~/tfgen_data TFGEN_FID_WEIGHTS=fid_inception_2015_12_05.pt
    python3 benchmarks/fid.py                           # all entries, writes
    python3 benchmarks/fid.py --entries dcgan_mnist,cdcgan_mnist
    python3 benchmarks/fid.py --sanity
    python3 benchmarks/fid.py --num-samples 20 --num-reference 20 --no-write  # smoke
    python3 benchmarks/fid.py --helpfull                # every flag
"""

import datetime
import os
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
from absl import app, flags, logging

import tfgen  # noqa: E402

MARK_START, MARK_END = "<!-- fid:start -->", "<!-- fid:end -->"
SANITY_START, SANITY_END = "<!-- fid_sanity:start -->", "<!-- fid_sanity:end -->"
SCRIPT = "benchmarks/fid.py"
#: n_gen per dataset when --num-samples is not given.
DEFAULT_NUM_SAMPLES = {"cifar10": 50000}
DEFAULT_NUM_SAMPLES_28 = 10000
LITERATURE = {
    "sanity_fid": "≈ 3.1 (ANCHORS.md: FID(train 50k, test 10k))",
    "sanity_is": "11.24 (torch-fidelity)",
}


def write_section(path, section, start_mark=MARK_START, end_mark=MARK_END):
    tfgen.reporting.write_section(path, section, start_mark, end_mark)


# ------------------------------------------------------------- entries
def why_not(entry):
    """None for an entry with weights and one reference dataset, else why it
    is not measured. An entry without one dataset name (CycleGAN's two
    domains) has no reference set to be measured against."""
    if not entry.weights:
        return "has no weights"
    if not (entry.dataset or {}).get("name"):
        return (
            f"not measured: its dataset {entry.dataset} names no single reference "
            "set (a translation model; see benchmarks/translation.py)"
        )
    return None


def select_entries(zoo_dir, patterns, skipped=None):
    """Entries with weights and a reference dataset whose names match the
    globs `patterns` (all without them); the entries with weights left out
    for want of a reference get a line in `skipped`."""
    what = "zoo entry with weights and a dataset"
    entries = common.zoo_entries(zoo_dir)
    selected, left_out = common.select_entries(entries, patterns, why_not, what)
    if skipped is not None:
        skipped += [f"{e.name} {why}" for e, why in left_out if e.weights]
    return selected


def load_model(entry):
    tfgen.zoo.register(entry, overwrite=True)
    model = tfgen.zoo.load(entry.name)
    if not callable(getattr(model, "sample", None)):
        raise SystemExit(f"{entry.name}: {type(model).__name__} has no sample(n, seed)")
    return model


def _is_28_grayscale(entry):
    return list(entry.config.get("image_shape", [])) == [28, 28, 1]


def has_classifier(dataset, zoo_dir):
    try:
        path = tfgen.metrics.classifier.classifier_dir(dataset, zoo_dir)
    except ValueError:
        return False
    return os.path.isfile(os.path.join(path, "metadata.json"))


def weights_have_logits(weights):
    return tfgen.metrics.load_fid_inception(weights).output_layer is not None


IS_NOTE = (
    "Inception Score not measured: the FID weights hold no logits layer "
    "(pytorch-fid's pt_inception-2015-12-05-6726825d.pth has one)"
)


def measure(entry, args, logits, zoo_dir):
    """`MetricResult`s of one entry, and notes on what was skipped."""
    dataset = entry.dataset.get("name")
    reference = f"{dataset}:{args.reference_split}"
    num_samples = args.num_samples or DEFAULT_NUM_SAMPLES.get(
        dataset, DEFAULT_NUM_SAMPLES_28
    )
    model = load_model(entry)
    metrics = ["fid", "kid", "pr"]
    notes = []
    rgb = entry.config.get("image_shape", [0, 0, 0])[-1] == 3
    if rgb and logits:
        metrics.append("is")
    elif rgb and args.inception:
        notes.append(IS_NOTE)
    shared = dict(
        num_samples=num_samples,
        reference=reference,
        num_reference=args.num_reference,
        seed=args.seed,
        data_dir=args.data_dir,
        metric_options=tfgen.metrics.MetricOptions(fid_method=args.fid_method),
        work_dir=args.work_dir,
    )
    results = []
    if args.inception:
        logging.info(
            "== %s: %s on Inception, n_gen=%d",
            entry.name,
            ", ".join(metrics),
            num_samples,
        )
        network = tfgen.metrics.feature_network(
            "inception",
            weights=args.weights,
            batch_size=args.batch_size,
            progress=not args.quiet,
        )
        results += tfgen.metrics.evaluate(model, metrics, features=network, **shared)
    if _is_28_grayscale(entry) and args.classifier != "off":
        if has_classifier(dataset, zoo_dir):
            logging.info(
                "== %s: fid, is, classes on the %s classifier", entry.name, dataset
            )
            network = tfgen.metrics.feature_network(
                "classifier",
                classifier=tfgen.metrics.load_classifier(dataset, zoo_dir=zoo_dir),
                progress=not args.quiet,
            )
            results += tfgen.metrics.evaluate(
                model, ["fid", "is", "classes"], features=network, **shared
            )
        elif args.classifier == "on":
            raise SystemExit(
                f"No shipped {dataset} classifier: run `tfgen classifier train "
                f"{dataset} --export` first, or pass --classifier off."
            )
        else:
            notes.append(
                f"classifier metrics not measured: no zoo/classifiers/{dataset}/ "
                f"(`tfgen classifier train {dataset} --export`)"
            )
    for result in results:
        result.protocol["script"] = SCRIPT
    return results, notes


def update_entry(path, results):
    """Replaces the entry's records of these metric names by the new ones."""
    tfgen.reporting.replace_metrics(path, [r.to_json() for r in results])


# ------------------------------------------------------------- tables
def _fmt(value, std=None):
    text = f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    if std is not None:
        text += f" ± {std:.4f}"
    return text


def _short_features(protocol):
    features = protocol.get("features", "?")
    sha = protocol.get("weights_sha256", "")
    return features if sha[:12] in features else f"{features}, sha256 {sha[:12]}"


def records_table(records):
    """Markdown rows of (entry name, record) pairs."""
    lines = [
        "| entry | metric | value | reference | n_gen | n_ref | features | seed | wall (s) |",
        "|---|---|---:|---|---:|---:|---|---:|---:|",
    ]
    for name, record in records:
        p = record.get("protocol", {})
        if not isinstance(p, dict):
            continue
        # Older one-split scores carry std 0, which is no spread.
        std = record.get("std") if p.get("splits", 2) > 1 else None
        lines.append(
            f"| `{name}` | {record['name']} | {_fmt(record['value'], std)} | "
            f"{p.get('reference') or '-'} | {p.get('n_gen', '-')} | "
            f"{p.get('n_ref') if p.get('n_ref') is not None else '-'} | "
            f"{_short_features(p)} | {p.get('seed', '-')} | {p.get('wall_seconds', '-')} |"
        )
    return lines


def protocol_header(records, notes, command, rebuilt=False):
    protocols = [
        r["protocol"] for _, r in records if isinstance(r.get("protocol"), dict)
    ]
    resize = sorted({p.get("resize") for p in protocols if p.get("resize")})
    dtypes = sorted({p.get("input_dtype") for p in protocols if p.get("input_dtype")})
    hardware = sorted({p.get("hardware") for p in protocols if p.get("hardware")})
    lines = [
        "### Sample quality of the zoo (`benchmarks/fid.py`)",
        "",
        (
            f"Rebuilt by `{command}` from the entries' records, each measured by "
            "this script in its own run (its hardware and wall time, and for newer "
            "records the date, are in the record, in the entry's `entry.json`)."
            if rebuilt
            else f"Command: `{command}`. Every row is a record of the entry's "
            "`entry.json`, measured by this script; its full protocol is there."
        ),
        "",
        "- Reference: the entry's dataset, split and size as given; FID uses the "
        "statistics of all n_ref images, KID 100 subsets of min(1000, n) from "
        "both sides (kernel (x.y/d + 1)^3), precision/recall k = 3 against the "
        "first n_gen reference images, IS 10 splits (classifier score: 1).",
        f"- Resize: {'; '.join(resize) or '-'} (Inception); none for the "
        "28x28 classifier.",
        f"- Input dtype: {'; '.join(dtypes) or '-'}.",
        f"- Hardware: {'; '.join(hardware) or '-'}.",
        "- Wall time: the whole evaluation of one feature network (sampling, "
        "features, reference from cache or computed, metrics) in the process "
        "that wrote the record; where processes shared the features "
        "(`--work-dir`, one per core), the protocol says so.",
    ]
    for note in notes:
        lines.append(f"- Note: {note}.")
    return lines


def results_section(zoo_dir, notes, command, rebuilt=False):
    records = []
    for entry in common.zoo_entries(zoo_dir):
        for record in entry.metrics:
            protocol = record.get("protocol")
            if isinstance(protocol, dict) and protocol.get("script") == SCRIPT:
                records.append((entry.name, record))
    inception = [r for _, r in records if r["name"] in ("fid", "inception_score")]
    if inception and not any(r["name"] == "inception_score" for r in inception):
        notes = [*notes, IS_NOTE] if IS_NOTE not in notes else notes
    lines = protocol_header(records, notes, command, rebuilt) + [""]
    lines += records_table(records) if records else ["(no measurements yet)"]
    return "\n".join(lines)


# ------------------------------------------------------------- sanity
def sanity(args):
    m = tfgen.metrics
    start = time.perf_counter()
    kwargs = dict(
        data_dir=args.data_dir,
        weights=args.weights,
        batch_size=args.batch_size or 64,
        progress=not args.quiet,
    )
    logits = weights_have_logits(args.weights)
    train_n = args.num_reference
    test_n = args.num_samples
    if logits:
        train_features, train_meta = m.reference_features(
            "cifar10", "train", train_n, **kwargs
        )
        train = m.compute_statistics(train_features)
        train.metadata = train_meta
    else:
        train = m.reference_statistics("cifar10", "train", train_n, **kwargs)
    test = m.reference_statistics("cifar10", "test", test_n, **kwargs)
    value = m.frechet_distance(
        train.mu, train.sigma, test.mu, test.sigma, method=args.fid_method
    )
    meta = train.metadata
    rows = [
        (
            "FID(cifar10:train, cifar10:test)",
            _fmt(value),
            LITERATURE["sanity_fid"],
            f"{train.num_samples} vs {test.num_samples}",
        )
    ]
    if logits:
        network = m.feature_network("inception", weights=args.weights)
        scores = network.logits_of(train_features)
        score = m.inception_score_from_logits(scores, splits=10)
        rows.append(
            (
                "IS(cifar10:train), 10 splits",
                _fmt(score.mean, score.std),
                LITERATURE["sanity_is"],
                f"{len(train_features)}",
            )
        )
    wall = time.perf_counter() - start
    lines = [
        "### Sanity: real CIFAR-10 against itself (`benchmarks/fid.py --sanity`)",
        "",
        f"Features: {meta['feature_network']} ({meta['feature_dim']}-d), weights "
        f"`{meta.get('weights')}` sha256 {meta['weights_sha256'][:16]}; resize: "
        f"{meta['resize']}; input: {meta['input_dtype']}; FID matrix square root: "
        f"{args.fid_method}. Statistics from "
        "`tfgen.metrics.reference_statistics` (cached). Hardware: "
        f"{common.hardware_line()}; wall time {wall:.0f} s (cached parts cost "
        f"nothing); {datetime.date.today().isoformat()}, tfgen {tfgen.__version__}.",
        "",
        "| measurement | value | literature | n |",
        "|---|---:|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    if not logits:
        lines += [
            "",
            "IS of CIFAR-10 train not measured: the weights hold no logits layer "
            "(pytorch-fid's pt_inception-2015-12-05-6726825d.pth has one).",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------- main
common.define_entries_flag("all with weights")
flags.DEFINE_integer(
    "num-samples",
    None,
    "n_gen; default 50000 for CIFAR-10, 10000 for 28x28 sets "
    "(with --sanity: the first N test images, default all)",
)
flags.DEFINE_integer(
    "num-reference", None, "first N reference images (n_ref); default the whole split"
)
flags.DEFINE_string("reference-split", "train", "split of the reference images")
flags.DEFINE_enum(
    "classifier",
    "auto",
    ("auto", "on", "off"),
    "classifier metrics for 28x28 sets: when shipped (auto), required, or not",
)
flags.DEFINE_boolean(
    "no-inception",
    False,
    "skip the Inception metrics (the classifier ones of 28x28 sets only)",
)
flags.DEFINE_integer("seed", 0, "seed of the first batch of samples")
flags.DEFINE_integer("batch-size", None, "Inception batch (default 64)")
common.define_fid_weights_flag()
common.define_data_dir_flag()
common.define_zoo_dir_flag()
common.define_output_flags()
flags.DEFINE_boolean("sanity", False, "FID(CIFAR-10 train, test) and IS(train)")
flags.DEFINE_enum(
    "fid-method",
    "sqrtm",
    ("sqrtm", "eigh"),
    "FID's matrix square root: scipy sqrtm (pytorch-fid, TTUR) or eigh",
)
flags.DEFINE_string(
    "work-dir",
    None,
    "keep features in resumable chunks here; the same command started "
    "once per core (each pinned, e.g. taskset -c N, the extra ones with "
    "--no-write) shares the work",
)
flags.DEFINE_boolean(
    "table-only",
    False,
    "rewrite the RESULTS.md section from the entries' records; measure nothing",
)
common.define_note_flag()
flags.DEFINE_boolean("quiet", False, "no progress bars")


def main(argv):
    args = common.script_args(__name__, argv)
    for name in ("num_samples", "num_reference", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 2:
            raise common.usage_error(
                f"--{name.replace('_', '-')} must be >= 2 (covariances need 2 "
                f"samples). Received: {value}"
            )
    args.inception = not args.no_inception
    args.weights = args.weights or os.environ.get("TFGEN_FID_WEIGHTS")
    if not args.no_write:  # it writes: measure this checkout's tfgen and zoo
        common.require_checkout_tfgen()
    command = common.command_line(__name__, argv)  # notes are printed as notes
    if args.sanity:
        section = sanity(args)
        print(section)
        if not args.no_write:
            write_section(args.output, section, SANITY_START, SANITY_END)
            logging.info("wrote %s", args.output)
        return 0
    zoo_dir = args.zoo_dir or tfgen.zoo.artifacts_dir()
    if args.table_only:
        section = results_section(zoo_dir, args.note, command, rebuilt=True)
        if args.no_write:  # print only, as everywhere else
            print(section)
            return 0
        write_section(args.output, section)
        logging.info("wrote %s", args.output)
        return 0
    skipped = []
    entries = select_entries(zoo_dir, common.entry_patterns(args.entries), skipped)
    for why in skipped:
        logging.info("== %s", why)
    logits = args.inception and weights_have_logits(args.weights)
    notes, records = list(args.note) + skipped, []
    for entry in entries:
        results, entry_notes = measure(entry, args, logits, zoo_dir)
        for result in results:
            logging.info("%s", result)
        notes += [n for n in entry_notes if n not in notes]
        records += [(entry.name, r.to_json()) for r in results]
        if not args.no_write:
            update_entry(os.path.join(zoo_dir, entry.name, "entry.json"), results)
    if args.no_write:
        print("\n".join(protocol_header(records, notes, command) + [""]))
        print("\n".join(records_table(records)))
        return 0
    section = results_section(zoo_dir, notes, command)
    write_section(args.output, section)
    logging.info("wrote %s and the entries' metrics in %s", args.output, zoo_dir)
    return 0


if __name__ == "__main__":
    app.run(main)
