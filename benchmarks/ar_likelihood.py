"""Test-set likelihood of autoregressive zoo entries, written into their entries.

For each entry: the model loads in float32 (the zoo's default policy, whatever
precision it trained in), the test split of the entry's dataset is read with
the entry's own dataset options (for `binarized_mnist`, the fixed
Larochelle–Murray binarization, 10,000 test images), and the exact negative
log-likelihood `-model.log_prob(x)` is averaged over every test image. The
script records `test_nll` (nats per image) and `test_bits_per_dim` in
`zoo/<entry>/entry.json`, replacing older records of the same names, with the
protocol: data, split, image count, precision, batch size, weights sha256,
hardware and wall time.

    python benchmarks/ar_likelihood.py row_lstm_mnist diagonal_bilstm_mnist \\
        --data-dir /work/data

(A stop-gap written by the PixelRNN work until `benchmarks/bits_per_dim.py`,
generic over the autoregressive entries, lands; the records are the same.)
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tfgen  # noqa: E402
from tfgen import zoo  # noqa: E402
from tfgen.reporting import hardware_summary  # noqa: E402

SCRIPT = "benchmarks/ar_likelihood.py"
BINARIZATION = {"binarized_mnist": "fixed (Larochelle & Murray 2011), as shipped"}


def evaluate(name, data_dir=None, batch_size=256, limit=None):
    """Returns the entry's metric records: test NLL (nats) and bits/dim."""
    entry = zoo.get(name)
    model = zoo.load(name)
    if not isinstance(model, tfgen.models.AutoregressiveModel):
        raise SystemExit(f"{name} is not an autoregressive model ({entry.model}).")
    options = {k: v for k, v in entry.dataset.items() if k not in ("split",)}
    dataset = tfgen.data.load(
        split="test", data_dir=data_dir, batch_size=batch_size, **options
    )
    start = time.time()
    nats = []
    for batch in dataset:
        images = batch[0] if isinstance(batch, tuple) else batch
        nats.append(-model.log_prob(np.asarray(images), batch_size=batch_size))
        if limit and sum(len(n) for n in nats) >= limit:
            break
    nats = np.concatenate(nats)[:limit] if limit else np.concatenate(nats)
    wall = time.time() - start
    mean = float(nats.mean())
    sem = float(nats.std(ddof=1) / math.sqrt(len(nats)))
    dims = int(np.prod(model.image_shape))
    protocol = {
        "script": SCRIPT,
        "dataset": entry.dataset.get("name"),
        "split": "test",
        "n": int(len(nats)),
        "binarization": BINARIZATION.get(entry.dataset.get("name")),
        "num_levels": model.num_levels,
        "precision": "float32",
        "batch_size": batch_size,
        "standard_error_nats": round(sem, 4),
        "weights_sha256": entry.sha256,
        "hardware": hardware_summary(),
        "wall_seconds": round(wall, 1),
    }
    return [
        {
            "name": "test_nll",
            "value": round(mean, 4),
            "unit": "nats/image",
            "protocol": protocol,
        },
        {
            "name": "test_bits_per_dim",
            "value": round(mean / (dims * math.log(2)), 5),
            "unit": "bits/dim",
            "protocol": protocol,
        },
    ]


def update_entry(name, records):
    path = os.path.join(zoo.artifacts_dir(), name, "entry.json")
    with open(path) as f:
        data = json.load(f)
    names = {r["name"] for r in records}
    kept = [m for m in data.get("metrics", []) if m.get("name") not in names]
    data["metrics"] = kept + records
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help="autoregressive zoo entries")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--limit", type=int, default=None, help="first N test images only (not written)"
    )
    args = parser.parse_args(argv)
    for name in args.names:
        records = evaluate(name, args.data_dir, args.batch_size, args.limit)
        for r in records:
            print(
                f"{name}: {r['name']} = {r['value']} {r['unit']} "
                f"(n={r['protocol']['n']}, {r['protocol']['wall_seconds']} s)"
            )
        if args.limit is None:
            update_entry(name, records)


if __name__ == "__main__":
    main()
