#!/bin/bash
# Copies the run's resumable state into the fixed checkpoint folder and writes progress.json.
set -e
cd "$(dirname "$0")/.."
RUN=runs/pixelcnn_mnist_v2; CK=checkpoints/pixelcnn_mnist
mkdir -p $CK
cp $RUN/backup/latest.weights.h5 $RUN/backup/training_metadata.json $CK/
cp $RUN/history.csv $RUN/wall_clock.json $RUN/run.json $CK/
python3 - <<'PY'
import csv, json
ck = "checkpoints/pixelcnn_mnist"
wall = json.load(open(f"{ck}/wall_clock.json"))
meta = json.load(open(f"{ck}/training_metadata.json"))
rows = list(csv.DictReader(open(f"{ck}/history.csv")))
curve = [round(float(r["nll"]), 3) for r in rows]
json.dump({
    "run": "runs/pixelcnn_mnist_v2",
    "recipe": "recipes/pixelcnn_mnist.json",
    "epochs_done": wall["epochs"],
    "epochs_total": 30,
    "resume_epoch_in_checkpoint": meta["epoch"] + 1,
    "sessions": int(__import__("os").environ.get("SESSIONS", "1")),
    "cpu_hours": round(wall["seconds"] / 3600.0, 2),
    "hardware": "one core of a 2-core AMD EPYC (taskset -c 1, 1 TF thread), mixed_bfloat16",
    "train_nll_per_epoch_nats": curve,
    "note": "training-set NLL of the live weights, as logged by fit; the test NLL is measured at export with the weight average",
}, open(f"{ck}/progress.json", "w"), indent=1)
print(open(f"{ck}/progress.json").read())
PY
