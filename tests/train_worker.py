"""Tiny training runs in their own processes, for the resume, multi-worker
and fault-injection tests.

python train_worker.py OUTPUT_DIR --epochs 3 [--kill-after-epoch 2]
    [--strategy multi_worker] [--dump weights.npz]

python train_worker.py --faults PLAN.json
    imports TensorFlow once, then forks one training process per run: an
    uninterrupted reference run, then runs SIGKILLed at drawn moments and
    rerun until they finish, until PLAN["kills"] kills have happened. A kill
    comes either at the k-th traced event (a callback hook, or before or
    after a rename, copy or removal of a file, so inside checkpoint writes)
    or after a drawn number of seconds. Writes PLAN["report"].
"""

import argparse
import json
import os
import signal
import threading
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfgen  # noqa: E402
from tfgen import training  # noqa: E402


class KillAfterEpoch(keras.callbacks.Callback):
    """SIGKILLs this process once epoch `n` is done and checkpointed."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir", nargs="?")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--kill-after-epoch", type=int)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--dump")
    parser.add_argument("--faults", help="a JSON plan: fork, kill and rerun")
    args = parser.parse_args()
    if args.faults:
        with open(args.faults) as f:
            return run_faults(json.load(f))

    # MultiWorkerMirroredStrategy must exist before TF runs any op.
    strategy = training.get_strategy(args.strategy)
    images = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).repeat().batch(8)
    callbacks = [KillAfterEpoch(args.kill_after_epoch)] if args.kill_after_epoch else []
    model, _ = training.train(
        lambda: tfgen.DCGAN(
            image_shape=(28, 28, 1), latent_dim=8, base_filters=4, seed=0
        ),
        dataset,
        args.epochs,
        output_dir=args.output_dir,
        strategy=strategy,
        precision="float32",
        steps_per_epoch=args.steps,
        batch_size=8,
        sample_every=1,
        num_samples=4,
        seed=0,
        callbacks=callbacks,
        verbose=0,
    )
    if args.dump:
        arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
        np.savez(
            args.dump,
            g_iterations=int(model.g_optimizer.iterations.numpy()),
            d_iterations=int(model.d_optimizer.iterations.numpy()),
            **arrays,
        )


# Fault injection ---------------------------------------------------------


def state_arrays(model):
    """Every variable a resumed run must get back: the model's weights, its
    noise generators' states and both optimizers' variables."""
    variables = list(model.variables)
    variables += list(model.d_optimizer.variables) + list(model.g_optimizer.variables)
    return {f"v{i:03d}": np.asarray(v) for i, v in enumerate(variables)}


class Tracer:
    """Counts traced events in a training process; SIGKILLs it at event
    `kill_at`; records the events' names when `record`."""

    def __init__(self, kill_at=None, record=False, note_path=None):
        self.count = 0
        self.kill_at = kill_at
        self.names = [] if record else None
        self.note_path = note_path

    def __call__(self, name):
        self.count += 1
        if self.names is not None:
            self.names.append(name)
        if self.count == self.kill_at:
            if self.note_path:
                with open(self.note_path, "w") as f:
                    f.write(name)
            os.kill(os.getpid(), signal.SIGKILL)

    def patch_files(self):
        """Traces each rename, copy and removal (the steps of a checkpoint
        write) before and after it happens."""
        import shutil

        def traced(module, attribute):
            original = getattr(module, attribute)

            def wrapper(path, *args, **kwargs):
                name = (
                    f"{attribute}:{os.path.basename(str(path)).split('.partial-')[0]}"
                )
                self(f"{name} before")
                result = original(path, *args, **kwargs)
                self(f"{name} after")
                return result

            setattr(module, attribute, wrapper)

        traced(os, "replace")
        traced(os, "remove")
        traced(shutil, "copyfile")


class RunLog(keras.callbacks.Callback):
    """Traces the callback hooks and logs, for the test, the epoch a run
    starts at with the state it restored, and each epoch that ended (after
    its checkpoint: this callback comes after the checkpointing one)."""

    def __init__(self, tracer, log_path, dump_prefix):
        super().__init__()
        self.tracer = tracer
        self.log_path = log_path
        self.dump_prefix = dump_prefix
        self.started = False

    def log(self, **record):
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def on_train_begin(self, logs=None):
        np.savez(f"{self.dump_prefix}_start.npz", **state_arrays(self.model))
        self.tracer("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        if not self.started:
            self.started = True
            self.log(event="start", epoch=epoch)
        self.log(event="epoch_begin", epoch=epoch)
        self.tracer("epoch_begin")

    def on_train_batch_begin(self, batch, logs=None):
        self.tracer("batch_begin")

    def on_train_batch_end(self, batch, logs=None):
        self.tracer("batch_end")

    def on_epoch_end(self, epoch, logs=None):
        np.savez(f"{self.dump_prefix}_epoch{epoch + 1}.npz", **state_arrays(self.model))
        self.log(event="epoch_end", epoch=epoch)
        self.tracer("epoch_end")

    def on_train_end(self, logs=None):
        if not self.started:  # resumed with every epoch done
            self.log(event="start", epoch=self.params["epochs"])


def fault_run(plan, run_dir, log_path, dump_prefix, tracer):
    """One training process of the fault test: a tiny MLP GAN (two
    optimizers, dropout noise), 1-step epochs over the same seeded batches."""
    tracer.patch_files()
    images = np.random.default_rng(0).random((64, 4, 4, 1)).astype("float32")
    dataset = (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(64, seed=0, reshuffle_each_iteration=False)
        .batch(8)
        .take(plan.get("steps", 1))
    )
    training.train(
        lambda: tfgen.GAN(
            image_shape=(4, 4, 1), latent_dim=2, hidden_units=(8,), seed=0
        ),
        dataset,
        plan["epochs"],
        output_dir=run_dir,
        precision="float32",
        batch_size=8,
        sample_every=0,
        seed=0,
        callbacks=[RunLog(tracer, log_path, dump_prefix)],
        verbose=0,
    )


def fork_run(target, *args):
    """Runs `target(*args)` in a forked child; returns 'finished', 'killed'
    or 'failed: <traceback>'."""
    error_path = f"{args[2]}_error.txt"
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            target(*args)
        except BaseException:  # noqa: BLE001 - reported to the parent
            with open(error_path, "w") as f:
                f.write(traceback.format_exc())
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return "killed"
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return "finished"
    detail = ""
    if os.path.exists(error_path):
        with open(error_path) as f:
            detail = f.read()[-3000:]
    return f"failed (status {status}): {detail}"


def run_faults(plan):
    root = plan["root"]
    os.makedirs(root, exist_ok=True)
    reference = Tracer(record=True)
    start = time.perf_counter()
    status = fork_run(
        _traced_run,
        plan,
        os.path.join(root, "reference"),
        os.path.join(root, "reference"),
        reference,
        None,
    )
    seconds = time.perf_counter() - start
    with open(os.path.join(root, "reference_events.json")) as f:
        events = json.load(f)
    report = {"reference": {"status": status, "events": events, "seconds": seconds}}
    rng = np.random.default_rng(plan.get("seed", 0))
    runs = []
    kills = scenario = 0
    run_dir = None
    while kills < plan["kills"] and len(runs) < 4 * plan["kills"] + 4:
        if run_dir is None:
            run_dir = os.path.join(root, f"scenario{scenario}")
        index = len(runs)
        if index % 2 == 0:
            kill = {"event": int(rng.integers(1, len(events) + 1))}
        else:
            kill = {"seconds": float(rng.uniform(0.0, seconds))}
        prefix = os.path.join(root, f"run{index:03d}")
        status = fork_run(_traced_run, plan, run_dir, prefix, None, kill)
        note = f"{prefix}_killed_at.txt"
        if os.path.exists(note):
            with open(note) as f:
                kill["at"] = f.read()
        runs.append(
            {"scenario": scenario, "kill": kill, "status": status, "prefix": prefix}
        )
        if status == "killed":
            kills += 1
        else:
            scenario += 1
            run_dir = None
    if run_dir is not None:  # the last scenario runs to its end
        prefix = os.path.join(root, f"run{len(runs):03d}")
        status = fork_run(_traced_run, plan, run_dir, prefix, None, None)
        runs.append(
            {"scenario": scenario, "kill": None, "status": status, "prefix": prefix}
        )
    report["runs"] = runs
    with open(plan["report"], "w") as f:
        json.dump(report, f, indent=1)


def _traced_run(plan, run_dir, prefix, tracer, kill):
    """The child's side of `fork_run`: trace (and maybe kill) one run."""
    if tracer is None:
        tracer = Tracer(
            kill_at=(kill or {}).get("event"), note_path=f"{prefix}_killed_at.txt"
        )
    if kill and "seconds" in kill:
        timer = threading.Timer(
            kill["seconds"], lambda: os.kill(os.getpid(), signal.SIGKILL)
        )
        timer.daemon = True
        timer.start()
    fault_run(plan, run_dir, f"{prefix}.jsonl", prefix, tracer)
    if tracer.names is not None:
        with open(f"{prefix}_events.json", "w") as f:
            json.dump(tracer.names, f)


if __name__ == "__main__":
    main()
