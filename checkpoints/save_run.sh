#!/bin/bash
# Copies a run's resumable state into its fixed checkpoint folder and writes progress.json.
# Usage: SESSIONS=N checkpoints/save_run.sh NAME RUN_DIR RECIPE_JSON
set -e
cd "$(dirname "$0")/.."
NAME=$1; RUN=$2; RECIPE=$3; CK=checkpoints/$NAME
mkdir -p $CK
cp $RUN/backup/latest.weights.h5 $RUN/backup/training_metadata.json $CK/
cp $RUN/history.csv $RUN/wall_clock.json $RUN/run.json $CK/
CK=$CK RUN=$RUN RECIPE=$RECIPE python3 - <<'PY'
import csv, json, os
ck, run, recipe = os.environ["CK"], os.environ["RUN"], os.environ["RECIPE"]
wall = json.load(open(f"{ck}/wall_clock.json"))
meta = json.load(open(f"{ck}/training_metadata.json"))
rows = list(csv.DictReader(open(f"{ck}/history.csv")))
progress = {
    "run": run,
    "recipe": recipe,
    "epochs_done": wall["epochs"],
    "epochs_total": json.load(open(recipe))["epochs"],
    "resume_epoch_in_checkpoint": meta["epoch"] + 1,
    "sessions": int(os.environ.get("SESSIONS", "1")),
    "cpu_hours": round(wall["seconds"] / 3600.0, 2),
    "hardware": os.environ.get("HARDWARE", "one core of a 2-core AMD EPYC (taskset -c 1, 1 TF thread)"),
    "last_epoch": {k: v for k, v in rows[-1].items()} if rows else {},
    "note": "the curves are in history.csv (live weights, as logged by fit); test metrics are measured at export with the weight average",
}
if rows and "nll" in rows[0]:
    progress["train_nll_per_epoch_nats"] = [round(float(r["nll"]), 3) for r in rows]
    progress["val_nll_per_epoch_nats"] = [round(float(r["val_nll"]), 3) for r in rows if r.get("val_nll") not in (None, "", "NA")]
json.dump(progress, open(f"{ck}/progress.json", "w"), indent=1)
print(open(f"{ck}/progress.json").read())
PY
