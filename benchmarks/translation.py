"""Translation quality of the zoo's CycleGAN entries, each number with its protocol.

For every zoo entry of model `CycleGAN` with weights (or `--entries`), on the
`--split` (default `test`) images of its two domains (`tfgen.data.load_domain`:
e.g. CIFAR-10 cat and dog, 1000 test images each), in float32:

- FID of G(A) against real B, and of F(B) against real A, on FID Inception
  pool3 features (TF's inception-2015-12-05 graph, bilinear resize to
  299x299, uint8 levels), like mmagic's CycleGAN numbers (translated test
  images against the target domain's test images); also the "identity
  translation" FID(A, B), the score of doing nothing, which reads the
  others. With a thousand images per side FID is biased upward, so KID
  (unbiased; 100 subsets of min(1000, n)) is given beside it;
- the translation success rate: the fraction of G(A) that a classifier
  trained on the labelled dataset assigns to B's class (argmax over all its
  classes), and of F(B) to A's class, next to the same rates for the real
  images, with the classifier's test accuracy. Domains that are not class
  subsets of a labelled dataset with a shipped classifier
  (`zoo/classifiers/<dataset>/`) have no success rate;
- the cycle reconstruction error: mean |F(G(a)) - a| and |G(F(b)) - b| in
  8-bit levels (0-255).

It writes each entry's `metrics` records (protocol: split, counts, feature
network, classifier and its accuracy, hardware, wall time, date) and a table
into benchmarks/RESULTS.md between `<!-- translation:start -->` and
`<!-- translation:end -->`.

Anchor (not measured here): the official horse2zebra CycleGAN, FID 62.1 by
mmagic (256x256 photographs, 120 test horses against 140 test zebras).

Run from the repository root:

    export TFGEN_DATA_DIR=~/tfgen_data TFGEN_FID_WEIGHTS=fid_inception_2015_12_05.pt
    python3 benchmarks/translation.py
    python3 benchmarks/translation.py --limit 64 --no-write     # a quick check
    python3 benchmarks/translation.py --helpfull                # every flag
"""

import datetime
import os
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
from absl import app, flags, logging

import tfgen  # noqa: E402

MARK_START, MARK_END = "<!-- translation:start -->", "<!-- translation:end -->"
ANCHOR = (
    "official horse2zebra CycleGAN: FID 62.1 (mmagic; 256x256 photographs, "
    "120 translated test horses against 140 test zebras)"
)


def why_not(entry):
    """None for a CycleGAN entry with weights, else why it is left out."""
    if entry.model != "CycleGAN":
        return f"is no translation model (model={entry.model})"
    return None if entry.weights else "has no weights"


def cyclegan_entries(zoo_dir, patterns):
    """CycleGAN entries with weights in `zoo_dir` matching the `--entries`
    names or globs (all without them)."""
    what = "CycleGAN zoo entry with weights"
    entries = common.zoo_entries(zoo_dir)
    return common.select_entries(entries, patterns, why_not, what)[0]


def class_of(domain):
    """(dataset, class id) of a `"<dataset>:<class>"` domain, else None."""
    classes = tfgen.data.CLASS_NAMES
    if not isinstance(domain, str) or ":" not in domain:
        return None
    dataset, cls = domain.rsplit(":", 1)
    if dataset not in classes:
        return None
    names = list(classes[dataset])
    return dataset, (names.index(cls) if cls in names else int(cls))


def success_rates(classifier, dataset, class_a, class_b, a, b, ga, fb):
    """Fractions of real and translated images the classifier puts in each
    domain's class."""
    import numpy as np

    def predicted(images):
        logits = [
            np.asarray(classifier(images[i : i + 500].astype("float32") / 255.0))
            for i in range(0, len(images), 500)
        ]
        return np.concatenate(logits).argmax(axis=1)

    accuracy, _ = tfgen.metrics.evaluate_classifier(classifier, dataset, "test")
    return {
        "success_rate_a2b": float(np.mean(predicted(ga) == class_b)),
        "success_rate_b2a": float(np.mean(predicted(fb) == class_a)),
        "real_a_as_a": float(np.mean(predicted(a) == class_a)),
        "real_b_as_b": float(np.mean(predicted(b) == class_b)),
        "real_a_as_b": float(np.mean(predicted(a) == class_b)),
        "real_b_as_a": float(np.mean(predicted(b) == class_a)),
        "classifier_test_accuracy": float(accuracy),
    }


def measure(entry, args, extractor):
    import numpy as np

    start = time.perf_counter()
    # Registered from its folder, so `--zoo-dir` entries load (sha256 checked).
    tfgen.zoo.register(entry, overwrite=True)
    model = tfgen.zoo.load(entry.name)
    domains = entry.dataset["domain_a"], entry.dataset["domain_b"]
    a, b = (
        tfgen.data.load_domain(d, args.split, data_dir=args.data_dir) for d in domains
    )
    if args.limit:
        a, b = a[: args.limit], b[: args.limit]

    def levels(x):
        return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype("uint8")

    ga, fga = model.cycle(a / 255.0, "a2b")
    fb, gfb = model.cycle(b / 255.0, "b2a")
    ga, fga, fb, gfb = (levels(x) for x in (ga, fga, fb, gfb))
    result = {
        "cycle_l1_a": float(np.mean(np.abs(fga.astype("float64") - a))),
        "cycle_l1_b": float(np.mean(np.abs(gfb.astype("float64") - b))),
    }
    feats = {
        key: extractor.features(x, desc=f"{entry.name} {key}")
        for key, x in (("a", a), ("b", b), ("ga", ga), ("fb", fb))
    }
    subset = min(1000, len(a), len(b))
    for key, (x, y) in {
        "a2b": ("ga", "b"),
        "b2a": ("fb", "a"),
        "identity": ("a", "b"),
    }.items():
        result[f"fid_{key}"] = tfgen.metrics.fid(feats[x], feats[y])
        kid = tfgen.metrics.kid(feats[x], feats[y], subset_size=subset, seed=args.seed)
        result[f"kid_{key}"] = (kid.mean, kid.std)
    classes = [class_of(d) for d in domains]
    classifier_name = None
    if all(classes) and classes[0][0] == classes[1][0]:
        dataset = classes[0][0]
        try:
            classifier = tfgen.metrics.load_classifier(dataset, zoo_dir=args.zoo_dir)
        except FileNotFoundError as error:
            logging.info("%s: no success rate (%s)", entry.name, error)
        else:
            classifier_name = (
                f"{dataset} DomainClassifier sha256 "
                + (classifier.metadata.get("sha256", "?")[:12])
            )
            result.update(
                success_rates(
                    classifier, dataset, classes[0][1], classes[1][1], a, b, ga, fb
                )
            )
    protocol = {
        "domains": list(domains),
        "split": args.split,
        "n_a": len(a),
        "n_b": len(b),
        "features": "FID Inception pool3 (inception-2015-12-05), bilinear resize "
        "to 299x299, uint8 levels",
        "kid_subsets": f"100 x {subset}",
        "classifier": classifier_name,
        "script": "benchmarks/translation.py",
        "hardware": common.hardware_line(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return result, protocol


def records(result, protocol):
    units = {"fid": None, "kid": None, "cycle": "levels (0-255)", "success": "fraction"}
    out = []
    for name, value in result.items():
        if name.startswith(("real_", "classifier_")):
            continue
        record = {"name": name, "protocol": protocol}
        if isinstance(value, tuple):
            record.update(value=round(value[0], 6), std=round(value[1], 6))
        else:
            record["value"] = round(value, 4)
        unit = units.get(name.split("_")[0])
        if unit:
            record["unit"] = unit
        if name.startswith("success_rate"):
            record["baselines"] = {
                k: round(v, 4)
                for k, v in result.items()
                if k.startswith(("real_", "classifier_"))
            }
        out.append(record)
    return out


def table(rows):
    lines = [
        "| entry | FID G(A) vs B | FID F(B) vs A | FID A vs B (no translation) "
        "| KID x 1000 G(A) vs B | success G(A) -> B | success F(B) -> A "
        "| cycle L1 A / B (levels) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r, _ in rows:
        success = [
            f"{100 * r[k]:.1f}%" if k in r else "-"
            for k in ("success_rate_a2b", "success_rate_b2a")
        ]
        lines.append(
            f"| `{name}` | {r['fid_a2b']:.2f} | {r['fid_b2a']:.2f} "
            f"| {r['fid_identity']:.2f} "
            f"| {1000 * r['kid_a2b'][0]:.2f} ± {1000 * r['kid_a2b'][1]:.2f} "
            f"| {success[0]} | {success[1]} "
            f"| {r['cycle_l1_a']:.2f} / {r['cycle_l1_b']:.2f} |"
        )
    return "\n".join(lines)


def section(rows, command):
    lines = ["## Image-to-image translation (CycleGAN)", "", f"`{command}`", ""]
    for name, r, p in rows:
        lines.append(
            f"- `{name}`: {p['domains'][0]} ({p['n_a']}) <-> {p['domains'][1]} "
            f"({p['n_b']}), split {p['split']}; {p['hardware']}; "
            f"{p['wall_seconds']:.0f} s."
        )
        if "classifier_test_accuracy" in r:
            lines.append(
                f"  Classifier: {p['classifier']}, test accuracy "
                f"{r['classifier_test_accuracy']:.4f}; on the real images it puts "
                f"{100 * r['real_a_as_a']:.1f}% of A in A's class and "
                f"{100 * r['real_b_as_b']:.1f}% of B in B's "
                f"({100 * r['real_a_as_b']:.1f}% of A and "
                f"{100 * r['real_b_as_a']:.1f}% of B in the other's)."
            )
    lines += [
        f"- Features: {rows[0][2]['features']}. KID: {rows[0][2]['kid_subsets']} "
        "subsets. FID at these sample counts is biased upward; compare it only "
        "under the same protocol.",
        f"- Anchor, not measured here: {ANCHOR}. It translates larger, more "
        "distinct photographs, so its number does not compare directly.",
        "",
        table(rows),
    ]
    return "\n".join(lines)


common.define_entries_flag("every CycleGAN with weights")
flags.DEFINE_string("split", "test", "split of both domains' images")
flags.DEFINE_integer("limit", None, "first N images per domain (not written)")
common.define_fid_weights_flag()
flags.DEFINE_integer("batch-size", 64, "Inception batch")
flags.DEFINE_integer("seed", 0, "seeds the KID subsets")
common.define_data_dir_flag()
common.define_zoo_dir_flag()
common.define_output_flags()


def main(argv):
    args = common.script_args(__name__, argv)
    if not (args.no_write or args.limit):  # it writes: measure this checkout
        common.require_checkout_tfgen()
    zoo_dir = args.zoo_dir or tfgen.zoo.artifacts_dir()
    entries = cyclegan_entries(zoo_dir, common.entry_patterns(args.entries))
    extractor = tfgen.metrics.FeatureExtractor(
        weights=args.weights, batch_size=args.batch_size
    )
    rows = []
    for entry in entries:
        result, protocol = measure(entry, args, extractor)
        rows.append((entry.name, result, protocol))
        logging.info("\n%s", table(rows[-1:]))
    text = section(rows, "python3 benchmarks/translation.py")
    print(text)
    if args.no_write or args.limit:
        return 0
    for entry, (_, result, protocol) in zip(entries, rows, strict=True):
        path = os.path.join(zoo_dir, entry.name, "entry.json")
        tfgen.reporting.replace_metrics(path, records(result, protocol))
    tfgen.reporting.write_section(args.output, text, MARK_START, MARK_END)
    return 0


if __name__ == "__main__":
    app.run(main)
