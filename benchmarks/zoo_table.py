"""Writes the README's zoo table from the entries in zoo/*/entry.json.

Every number in the table is read from an entry, and every entry's numbers
come from `tfgen zoo export` (training) or the metric scripts here. Run
from the repository root:

    python3 benchmarks/zoo_table.py            # rewrite the README section
    python3 benchmarks/zoo_table.py --print    # print only
    python3 benchmarks/zoo_table.py --helpfull # every flag
"""

import glob
import json
import os

import common
from absl import app, flags

START, END = "<!-- zoo_table:start -->", "<!-- zoo_table:end -->"


# Records whose protocol is a dict (benchmarks/fid.py) show these names here;
# the rest (KID, precision, recall) are in benchmarks/RESULTS.md.
HEADLINE_METRICS = (
    "fid",
    "inception_score",
    "classifier_fd",
    "classifier_score",
    "nll_iwae",
    "test_nll",
    "test_bits_per_dim",
    "bits_per_dim",
    "elbo_test",
    "linear_probe_accuracy",
    "fid_a2b",
    "fid_b2a",
    "success_rate_a2b",
    "success_rate_b2a",
    "compressed_bits_per_dim",
    "transfer_success_rate",
    "nll_iwae_given_label",
)
# Training curves: the last epoch's value of each of these columns present.
LOSS_COLUMNS = ("d_loss", "g_loss", "elbo", "kl", "nll")


def _metric_text(metric):
    """`fid 37.70 (cifar10:train, 50000 vs 50000, inception pool3)`."""
    protocol = metric["protocol"]
    value = metric["value"]
    if not isinstance(protocol, dict):
        return f"{metric['name']} {value} ({protocol})"
    if protocol.get("summary"):  # scripts that state their protocol in a line
        return f"{metric['name']} {value} ({protocol['summary']})"
    if protocol.get("likelihood"):  # benchmarks/bits_per_dim.py
        unit = f" {metric['unit']}" if metric.get("unit") else ""
        return (
            f"{metric['name']} {value}{unit} ({protocol['dataset']}:{protocol['split']}, "
            f"{protocol['images']} images)"
        )
    if protocol.get("domains"):  # benchmarks/translation.py
        success = metric["name"].startswith("success")
        judge = "classifier" if success else "Inception"
        shown = f"{value:.3f}" if success else f"{value:.1f}"
        return (
            f"{metric['name']} {shown} ({protocol['split']}, "
            f"{protocol['n_a']} + {protocol['n_b']} images; {judge})"
        )
    if protocol.get("model_rate"):  # benchmarks/compression.py
        return (
            f"{metric['name']} {value} bits/dim ({protocol['dataset']}:{protocol['split']}, "
            f"{protocol['images']} images; model {protocol['model_rate']})"
        )
    parts = []
    if protocol.get("reference"):
        parts.append(protocol["reference"])
    n = f"n_gen {protocol.get('n_gen')}"
    if protocol.get("n_ref") is not None:
        n += f", n_ref {protocol['n_ref']}"
    parts.append(n)
    features = str(protocol.get("features", ""))
    parts.append("classifier" if "Classifier" in features else features.split(" (")[0])
    return f"{metric['name']} {value:.2f} ({'; '.join(parts)})"


def _last_losses(entry_dir, entry):
    path = os.path.join(entry_dir, entry["training"].get("curves") or "history.csv")
    if not os.path.isfile(path):
        return "-"
    with open(path) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    header, last = rows[0], rows[-1]
    values = dict(zip(header, last))
    keys = [k for k in LOSS_COLUMNS if k in values]
    return ", ".join(f"{k} {float(values[k]):.3f}" for k in keys)


def _data_text(data):
    split = data.get("split", "train")
    if "domain_a" in data:  # two-domain (CycleGAN) recipes
        return f"{data['domain_a']} ↔ {data['domain_b']} ({split})"
    return f"{data['name']} ({split})"


def table():
    lines = [
        "| name | model | data | epochs | train time | final losses | measured metrics | samples |",
        "|---|---|---|---:|---|---|---|---|",
    ]
    for path in sorted(
        glob.glob(os.path.join(common.REPO_ROOT, "zoo", "*", "entry.json"))
    ):
        entry_dir = os.path.dirname(path)
        with open(path) as f:
            entry = json.load(f)
        training = entry["training"]
        data = _data_text(entry["dataset"])
        if not entry.get("weights"):
            lines.append(
                f"| `{entry['name']}` | {entry['model']} | {data} | - | "
                "not trained yet | - | - | - |"
            )
            continue
        hours = training.get("wall_hours")
        time = (
            f"{hours:.2f} h on {training.get('hardware', '?')}"
            if hours is not None
            else "-"
        )
        metrics = (
            "; ".join(
                _metric_text(m)
                for m in entry.get("metrics", [])
                if m["name"] in HEADLINE_METRICS or not isinstance(m["protocol"], dict)
            )
            or "none yet (see the metrics issue)"
        )
        samples = (
            f"[grid](zoo/{entry['name']}/{entry['samples']})"
            if entry.get("samples")
            else "-"
        )
        lines.append(
            f"| `{entry['name']}` | {entry['model']} | {data} | "
            f"{training.get('epochs_trained', '-')} | {time} | {_last_losses(entry_dir, entry)} | "
            f"{metrics} | {samples} |"
        )
    return "\n".join(lines)


flags.DEFINE_boolean("print", False, "print, do not write README.md")


def main(argv):
    args = common.script_args(__name__, argv)
    text = table()
    print(text)
    if args.print:
        return
    # Only writing needs tfgen (and TensorFlow): --print stays quick.
    common.require_checkout_tfgen()
    import tfgen

    tfgen.reporting.write_section(common.README, text, START, END)


if __name__ == "__main__":
    app.run(main)
