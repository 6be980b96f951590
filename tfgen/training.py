"""Training: strategies, precision, resumable checkpoints, logs and sample grids.

`train` builds a model under a distribution strategy and a precision policy,
compiles it (building its optimizers inside the strategy's scope, which
MirroredStrategy needs for a `train_step` with several optimizers) and runs
`model.fit` with callbacks that make the run resumable and observable:

- `StopOnNonFinite`: the first NaN or infinite loss ends training with
  `NonFiniteError` (epoch, batch, values) before anything is saved;
- `AtomicBackupAndRestore` (Keras's `BackupAndRestore`, written
  atomically, with the weights' sha256 checked on resume and non-finite
  weights refused) in `<output_dir>/backup`: rerun the same command after a
  crash or a kill and training continues from the last finished epoch,
  printing `resuming from epoch N of M` (N numbered as Keras's `Epoch N/M`);
- `keras.callbacks.TensorBoard` in `<output_dir>/logs` and a CSV of the
  curves in `<output_dir>/history.csv`;
- `SampleGrid`: a PNG grid of samples per epoch in `<output_dir>/samples`,
  also written to TensorBoard.

Keras 3's `fit` does not run under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585), so for it `train` drives the same `train_step`
and callbacks with its own loop over a distributed dataset.
"""

import contextlib
import csv
import io
import json
import os
import shutil
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfgen import files, reporting
from tfgen.finite import NonFiniteError, check_finite_weights, non_finite_logs
from tfgen.images import make_grid, save_grid
from tfgen.models.train_core import LinearDecay
from tfgen.validation import check_positive_int

__all__ = [
    "AtomicBackupAndRestore",
    "LinearDecay",
    "NonFiniteError",
    "ResumableCSVLogger",
    "SampleGrid",
    "StopOnNonFinite",
    "WallClock",
    "check_finite_weights",
    "get_strategy",
    "native_bfloat16",
    "precision_policy",
    "resolve_precision",
    "set_logical_cpus",
    "train",
]

STRATEGIES = ("default", "mirrored", "multi_worker")


def set_logical_cpus(n):
    """Splits the CPU into `n` logical devices (before TF initializes), so a
    MirroredStrategy can be tried on one machine."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    )
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def get_strategy(name="default", devices=None):
    """A `tf.distribute.Strategy` by name: `"default"`, `"mirrored"` (all
    local GPUs, else every logical CPU) or `"multi_worker"` (from
    `$TF_CONFIG`). A Strategy instance is returned as it is.

    Create a multi-worker strategy first thing in the program: TF refuses to
    configure collective ops once it has run any op."""
    if isinstance(name, tf.distribute.Strategy):
        return name
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices is None and not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        # With collective all-reduce, the gradient reductions and the
        # synchronized batch norm's reductions can be issued in different
        # orders on different replicas and mismatch; reducing to one device
        # leaves collectives to batch norm alone.
        return tf.distribute.MirroredStrategy(
            devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy='multi_worker' reads the cluster from $TF_CONFIG, which is unset. "
                'Set it, e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}.'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(
        f"`strategy` must be one of {STRATEGIES}. Received: strategy={name!r}"
    )


def native_bfloat16():
    """Whether this machine computes bfloat16 natively: a GPU, or a CPU with
    AVX512_BF16 or AMX. Without them, `mixed_bfloat16` training of the
    recipes' models ran at 0.08x-0.93x of float32 on an AVX2-only AMD EPYC
    (`benchmarks/train_throughput.py --recipes`, RESULTS.md)."""
    if tf.config.list_physical_devices("GPU"):
        return True
    return bool({"avx512_bf16", "amx_bf16"} & reporting.cpu_flags())


def resolve_precision(policy):
    """`"auto"` becomes `"mixed_bfloat16"` where bfloat16 is native
    (`native_bfloat16`) and `"float32"` elsewhere; other policies pass."""
    if policy == "auto":
        return "mixed_bfloat16" if native_bfloat16() else "float32"
    return policy


@contextlib.contextmanager
def precision_policy(policy):
    """Sets Keras' global dtype policy for the models built inside, then
    restores it. `"mixed_bfloat16"` is the fast choice where bfloat16 is
    native (AVX512_BF16 or AMX CPUs, recent GPUs) and a slow one elsewhere;
    `"float32"` is exact; `"auto"` picks by `native_bfloat16()`."""
    policy = resolve_precision(policy)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose checkpoints are written
    atomically, checked on resume, and never hold non-finite weights.

    Keras rewrites `latest.weights.h5` and `training_metadata.json` in place,
    so a kill during the per-epoch save can leave an empty or truncated file
    that every rerun then fails to read, and it resumes from whatever bytes
    it finds. Here:

    - each file is written beside its target and renamed into place
      (`tfgen.files.write_atomic`); the weights go first and
      `training_metadata.json`, which records the sha256 of the weights,
      goes last, so its rename commits the checkpoint;
    - on resume the weights must match that sha256 and be finite; a latest
      checkpoint that fails (a kill between the two renames, a flipped bit)
      is replaced by the previous one (`double_checkpoint=True`) with a
      warning, and when no checkpoint passes, training refuses to start
      rather than silently starting over;
    - a save whose weights hold NaN or infinities raises `NonFiniteError`
      and leaves the files as they were;
    - a resumed run prints `resuming from epoch N of M`, N being the next
      epoch as Keras numbers it (`Epoch N/M`), unless `fit` is silent
      (verbose=0).

    Args:
        backup_dir, save_freq, double_checkpoint, delete_checkpoint: as for
            `keras.callbacks.BackupAndRestore`.

    Example:

    ```python
    backup = tfgen.training.AtomicBackupAndRestore("runs/x/backup", double_checkpoint=True)
    model.fit(data, epochs=30, callbacks=[backup])   # rerun after a kill: it resumes
    ```
    """

    def __init__(self, backup_dir, *args, **kwargs):
        super().__init__(backup_dir, *args, **kwargs)
        # Epochs held by the newest checkpoint written or resumed from.
        self.saved_epoch = None
        # `(epoch or None,)` once `restore` has loaded a checkpoint before
        # `fit`, for its `on_train_begin`.
        self._restored = None

    def restore(self, model):
        """Loads the newest usable checkpoint into `model` now, before
        `fit` (which then resumes from it without loading it again), and
        returns the epochs it holds (0 when there is none): the epoch a
        resumed run's data stream must start at."""
        self.set_model(model)
        self._restored = (self._load_checkpoint(),)
        return self._restored[0] or 0

    def _save_model(self):
        check_finite_weights(
            self.model, f"The model after epoch {self._current_epoch} (not saved)"
        )
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path in (self._weights_path, self._training_metadata_path):
                if os.path.exists(path):
                    files.write_atomic(
                        f"{path}.bkp",
                        lambda partial, src=path: shutil.copyfile(src, partial),
                    )
        digest = []

        def write_weights(partial):
            self.model.save_weights(partial, overwrite=True)
            digest.append(files.sha256(partial))

        files.write_atomic(self._weights_path, write_weights, suffix=".weights.h5")
        metadata = {
            "epoch": self._current_epoch,
            "batch": self._last_batch_seen,
            "weights_sha256": digest[0],
            "random_states": [np.asarray(v).tolist() for v in self._random_states()],
        }
        files.write_bytes(self._training_metadata_path, json.dumps(metadata).encode())
        self.saved_epoch = self._current_epoch

    def _random_states(self):
        """The noise generators' states (`keras.random.SeedGenerator`):
        variables of the model that `save_weights` leaves out, without which
        a resumed run would draw the first epochs' noise again."""
        saved = {id(v) for v in self.model.weights}
        return [v for v in self.model.variables if id(v) not in saved]

    def _holds(self):
        if self.saved_epoch is None:
            return "holds no checkpoint"
        return f"holds the checkpoint after epoch {self.saved_epoch}"

    def _restore(self, weights_path, metadata_path):
        """Loads one checkpoint into the model; returns its epoch, or raises
        (OSError, ValueError, KeyError) saying why it cannot be used."""
        with open(metadata_path) as f:
            metadata = json.load(f)
        epoch = int(metadata["epoch"])
        expected = metadata.get("weights_sha256")
        if expected is None:
            warnings.warn(
                f"{metadata_path} records no sha256 (written before tfgen checked "
                "checkpoints); its weights are loaded unchecked.",
                stacklevel=3,
            )
        else:
            files.verify(weights_path, expected, "the training checkpoint")
        if weights_path != self._weights_path:
            # Keras loads only files named *.weights.h5, and the next save
            # copies latest to .bkp: the previous checkpoint becomes latest.
            for src, dst in (
                (weights_path, self._weights_path),
                (metadata_path, self._training_metadata_path),
            ):
                files.write_atomic(
                    dst, lambda partial, src=src: shutil.copyfile(src, partial)
                )
            weights_path = self._weights_path
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(weights_path)
        check_finite_weights(self.model, f"The checkpoint {weights_path}")
        states = metadata.get("random_states")
        variables = self._random_states()
        if states is not None and len(states) != len(variables):
            raise ValueError(
                f"{metadata_path} records {len(states)} noise generator states; "
                f"expected {len(variables)}, one per generator of the model."
            )
        for variable, state in zip(variables, states or []):
            variable.assign(np.asarray(state, dtype=variable.dtype))
        return epoch

    def _say_resumed(self, epoch):
        """Prints where a resumed run starts, numbered as Keras's "Epoch N/M"
        lines (unless `fit` runs with verbose=0)."""
        params = self.params or {}
        if params.get("verbose", 1) in (0, "0"):
            return
        total = params.get("epochs")
        if total is not None and epoch >= total:
            print(
                f"{self.backup_dir} holds all {total} epochs: nothing left to train "
                "(raise the epoch count to train on)",
                flush=True,
            )
            return
        of = f" of {total}" if total is not None else ""
        print(
            f"resuming from epoch {epoch + 1}{of} (the checkpoint after epoch "
            f"{epoch} in {self.backup_dir})",
            flush=True,
        )

    def on_train_begin(self, logs=None):
        restored, self._restored = self._restored, None
        epoch = restored[0] if restored else self._load_checkpoint()
        if epoch is not None:
            self.model._initial_epoch = epoch
            self._current_epoch = epoch
            self.saved_epoch = epoch
            self._say_resumed(epoch)

    def _load_checkpoint(self):
        """Loads the newest usable checkpoint; returns its epoch, or None
        when there is none."""
        if not self.model.built:
            raise ValueError(
                "AtomicBackupAndRestore needs a built model before `fit()`. "
                f"Received: the unbuilt model {self.model.name}"
            )
        if os.path.isdir(self.backup_dir):
            # Partial files of a killed save are never complete checkpoints.
            for name in os.listdir(self.backup_dir):
                if ".partial-" in name:
                    os.remove(os.path.join(self.backup_dir, name))
        # Weights without their metadata were never committed (a kill between
        # the first save's two renames): there is nothing to resume.
        candidates = [
            (label, weights, metadata)
            for label, weights, metadata in (
                ("latest", self._weights_path, self._training_metadata_path),
                (
                    "previous",
                    self._prev_weights_path,
                    self._prev_training_metadata_path,
                ),
            )
            if os.path.exists(metadata)
        ]
        failures = []
        for label, weights, metadata in candidates:
            try:
                epoch = self._restore(weights, metadata)
            except (OSError, ValueError, KeyError, TypeError) as error:
                failures.append(f"the {label} one ({type(error).__name__}: {error})")
                continue
            if failures:
                warnings.warn(
                    f"The latest checkpoint in {self.backup_dir} cannot be used "
                    f"({failures[0]}); resuming from the previous one, after "
                    f"epoch {epoch}.",
                    stacklevel=3,
                )
            return epoch
        if failures:
            raise ValueError(
                f"No checkpoint in {self.backup_dir} can be resumed from: "
                f"{'; '.join(failures)}. Expected a checkpoint whose weights match "
                "the sha256 in its training_metadata.json and are finite. Move the "
                "folder away to train from the start."
            )
        return None


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first batch whose logged loss (or any other
    logged value) is NaN or infinite, by raising `NonFiniteError` with the
    epoch, the batch and the values; and at the end of an epoch whose
    weights are no longer finite.

    `keras.callbacks.TerminateOnNaN` only sets `stop_training`, so the epoch
    still ends and its checkpoint is written with the NaN weights; raising
    here ends `fit` before any later callback sees the batch. List it first.

    Example:

    ```python
    model.fit(data, epochs=5, callbacks=[StopOnNonFinite(), backup])
    ```
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _check(self, logs, where):
        bad = non_finite_logs(logs)
        if bad:
            values = ", ".join(f"{name}={value}" for name, value in bad.items())
            raise NonFiniteError(
                f"Training stopped at {where}: non-finite {values}. Expected finite "
                "losses; a learning rate too high, or NaN in the data, are the "
                "usual causes."
            )

    def _epoch_text(self):
        epochs = self.params.get("epochs")
        return f"epoch {self._epoch + 1}" + (f" of {epochs}" if epochs else "")

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps")
        of = f" of {steps}" if steps else ""
        self._check(logs, f"{self._epoch_text()}, batch {batch + 1}{of}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"the end of {self._epoch_text()}")
        # A NaN gradient in an epoch's last step leaves its losses finite.
        check_finite_weights(
            self.model,
            f"Training stopped: the model at the end of {self._epoch_text()}",
        )


class SampleGrid(keras.callbacks.Callback):
    """Writes a PNG grid of `model.preview(n, seed)` (for most models
    `model.sample(n, seed)`) every `every` epochs, to
    `<directory>/epoch_XXXX.png` and, with `log_dir`, to TensorBoard.

    The seed is fixed, so the grids show one set of latents evolving.

    Args:
        directory: folder of the PNG files.
        n: images per grid.
        seed: seed of `model.sample`.
        every: epochs between grids.
        log_dir: TensorBoard folder, or None.
        sample_kwargs: extra arguments of `model.sample` (e.g. `labels`).

    Example:

    ```python
    model.fit(data, epochs=20, callbacks=[SampleGrid("runs/x/samples", every=5)])
    ```
    """

    def __init__(
        self, directory, n=64, seed=0, every=1, log_dir=None, sample_kwargs=None
    ):
        super().__init__()
        self.directory = directory
        self.n = n
        self.seed = seed
        self.every = every
        self.log_dir = log_dir
        self.sample_kwargs = sample_kwargs or {}
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        images, nrow = self.model.preview(self.n, seed=self.seed, **self.sample_kwargs)
        path = os.path.join(self.directory, f"epoch_{epoch + 1:04d}.png")
        save_grid(images, path, nrow=nrow)
        if self.log_dir:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(
                    os.path.join(self.log_dir, "samples")
                )
            with self._writer.as_default():
                tf.summary.image(
                    "samples", make_grid(images, nrow=nrow)[None], step=epoch + 1
                )
            self._writer.flush()


class WallClock(keras.callbacks.Callback):
    """Adds the cumulative training seconds and images/s to the epoch logs,
    carried across resumed runs through `<directory>/wall_clock.json`.

    The file records each epoch's seconds; a resumed run keeps those of the
    epochs before the one it resumes at, so an epoch whose checkpoint a kill
    prevented is not counted twice.

    Args:
        directory: folder of `wall_clock.json`.
        batch_size: global batch size, for images/s.

    Example:

    ```python
    model.fit(data, epochs=5, callbacks=[WallClock("runs/x", batch_size=64)])
    ```
    """

    def __init__(self, directory, batch_size):
        super().__init__()
        self.path = os.path.join(directory, "wall_clock.json")
        self.batch_size = batch_size
        self.total = 0.0
        self.epoch_seconds = None

    def on_train_begin(self, logs=None):
        self._resumed = False
        if os.path.isfile(self.path):
            try:
                with open(self.path) as f:
                    record = json.load(f)
                self.total = float(record["seconds"])
                # Files written before tfgen recorded each epoch hold the sum only.
                seconds = record.get("epoch_seconds")
                self.epoch_seconds = (
                    None if seconds is None else list(map(float, seconds))
                )
            except (ValueError, KeyError, TypeError) as error:
                self.total, self.epoch_seconds = 0.0, None
                warnings.warn(
                    f"{self.path} cannot be read ({error}); the wall clock restarts "
                    "at 0 for this run.",
                    stacklevel=2,
                )
        else:
            self.epoch_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        if not self._resumed:
            self._resumed = True
            if self.epoch_seconds is not None:
                self.epoch_seconds = self.epoch_seconds[:epoch]
                self.total = sum(self.epoch_seconds)
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.total += seconds
        if self.epoch_seconds is not None:
            self.epoch_seconds.append(seconds)
        if logs is not None:
            logs["wall_seconds"] = self.total
            logs["images_per_second"] = (
                self._steps * self.batch_size / max(seconds, 1e-9)
            )
        record = {"seconds": self.total, "epochs": epoch + 1}
        if self.epoch_seconds is not None:
            record["epoch_seconds"] = self.epoch_seconds
        files.write_bytes(self.path, json.dumps(record).encode())


class ResumableCSVLogger(keras.callbacks.CSVLogger):
    """`keras.callbacks.CSVLogger(append=True)` for resumable runs: at the
    first epoch of a run, the rows of that epoch and later ones (written by
    a run killed before it checkpointed them) are dropped, so the file holds
    each epoch once.

    Args:
        filename: the CSV file.
        separator: as for `keras.callbacks.CSVLogger`.

    Example:

    ```python
    model.fit(data, epochs=5, callbacks=[ResumableCSVLogger("runs/x/history.csv"), backup])
    ```
    """

    def __init__(self, filename, separator=","):
        super().__init__(filename, separator=separator, append=True)

    def on_train_begin(self, logs=None):
        self._resumed = False
        super().on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        if self._resumed:
            return
        self._resumed = True
        self.csv_file.close()
        with open(self.filename, newline="") as f:
            rows = list(csv.reader(f, delimiter=self.sep))
        kept = rows[:1] + [
            row for row in rows[1:] if row and row[0].isdigit() and int(row[0]) < epoch
        ]
        if kept != rows:
            text = io.StringIO()
            csv.writer(text, delimiter=self.sep, lineterminator="\r\n").writerows(kept)
            files.write_bytes(self.filename, text.getvalue().encode())
        self.append_header = not kept
        self.csv_file = open(self.filename, "a")  # noqa: SIM115 - closed by on_train_end


def _worker_dir(directory, strategy):
    """Only the chief writes where the user asked; other workers write to a
    scratch subfolder, since every worker must run the same saving code."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if (
        resolver is None
        or resolver.task_type in (None, "chief")
        or (resolver.task_type == "worker" and resolver.task_id == 0)
    ):
        return directory
    return os.path.join(directory, f"worker_{resolver.task_type}_{resolver.task_id}")


def _build(model, compile_kwargs):
    if callable(model) and not isinstance(model, keras.Model):
        model = model()
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras.Model or a callable returning one. "
            f"Received: {type(model).__name__}"
        )
    model.compile(**(compile_kwargs or {}))
    return model


def train(
    model,
    dataset,
    epochs,
    *,
    output_dir=None,
    strategy="default",
    precision="mixed_bfloat16",
    compile_kwargs=None,
    steps_per_epoch=None,
    batch_size=None,
    sample_every=1,
    num_samples=64,
    sample_kwargs=None,
    seed=None,
    callbacks=None,
    verbose="auto",
    validation_data=None,
):
    """Builds, compiles and fits a model; returns `(model, history)`.

    Args:
        model: a callable that returns an uncompiled model (it is called
            under the strategy's scope and the precision policy), or a
            model already built under them.
        dataset: a `tf.data.Dataset` of global batches, or a function of
            the first epoch to train that returns one (a repeated stream,
            e.g. `tfgen.data.load(..., repeat=True, first_epoch=e)`, with
            `steps_per_epoch`): it is called after the checkpoint is
            restored, so that a resumed run continues the data order.
        epochs: total epochs; a resumed run stops at the same total.
        output_dir: folder for checkpoints, logs and sample grids; `None`
            trains without them.
        strategy: `"default"`, `"mirrored"`, `"multi_worker"` or a Strategy.
        precision: Keras dtype policy, `"mixed_bfloat16"` by default;
            `"auto"` picks it where bfloat16 is native, else `"float32"`.
        compile_kwargs: passed to `model.compile` (e.g. named optimizers;
            give a callable returning the dict when the optimizers must be
            created inside the strategy's scope).
        steps_per_epoch: batches per epoch (needed for infinite datasets).
        batch_size: global batch size, for the images/s log.
        sample_every: epochs between sample grids; 0 disables them.
        num_samples: images per grid.
        sample_kwargs: extra arguments of `model.sample` (e.g. `labels`).
        seed: seeds Python, NumPy and TF before building the model.
        callbacks: more Keras callbacks.
        verbose: passed to `fit`.
        validation_data: a `tf.data.Dataset` evaluated after every epoch
            (`val_` columns of the history: the live weights, not their
            average); not with `"multi_worker"`.

    Raises `tfgen.finite.NonFiniteError` at the first NaN or infinite loss
    (or weights at an epoch's end), leaving the last finite checkpoint.
    """
    if steps_per_epoch is not None:
        steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")
    epochs = check_positive_int(epochs, "epochs")
    precision = resolve_precision(precision)
    if precision == "mixed_bfloat16" and not native_bfloat16():
        warnings.warn(
            "Training in mixed_bfloat16 on a CPU without native bfloat16 "
            f"({reporting.cpu_vector_summary()}): the recipes' models trained at "
            "0.08x-0.93x of float32's speed on such a CPU. Pass precision='auto' (CLI: --precision auto) to "
            "pick float32 here and bfloat16 where it is native.",
            stacklevel=2,
        )
    if seed is not None:
        keras.utils.set_random_seed(seed)
    strategy = get_strategy(strategy)
    with precision_policy(precision), strategy.scope():
        kwargs = compile_kwargs() if callable(compile_kwargs) else compile_kwargs
        model = _build(model, kwargs)
    # First, so that a NaN batch ends `fit` before anything saves or logs it.
    cbs = [StopOnNonFinite()]
    backup = None
    if output_dir:
        out = _worker_dir(output_dir, strategy)
        os.makedirs(out, exist_ok=True)
        backup = AtomicBackupAndRestore(
            os.path.join(out, "backup"),
            double_checkpoint=True,
            delete_checkpoint=False,
        )
        # The wall clock and the history log each epoch before its checkpoint
        # (and drop, on resume, what an uncheckpointed epoch wrote), so a kill
        # between the two cannot leave an epoch out of them.
        cbs += [
            WallClock(out, batch_size or 0),
            ResumableCSVLogger(os.path.join(out, "history.csv")),
            backup,
            keras.callbacks.TensorBoard(os.path.join(out, "logs")),
        ]
        if sample_every:
            cbs.append(
                SampleGrid(
                    os.path.join(out, "samples"),
                    n=num_samples,
                    every=sample_every,
                    log_dir=os.path.join(out, "logs"),
                    sample_kwargs=sample_kwargs,
                )
            )
    # The user's callbacks see each epoch after it is checkpointed and logged.
    cbs += list(callbacks or [])
    if callable(dataset):
        # The stream starts at the epoch the checkpoint holds, so a resumed
        # run sees the data an uninterrupted one would have.
        dataset = dataset(backup.restore(model) if backup is not None else 0)
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    if multi_worker and validation_data is not None:
        raise ValueError(
            "Validation runs in Keras' fit, which multi-worker training does not "
            "use (keras#20585). Received: validation_data with "
            "MultiWorkerMirroredStrategy; evaluate the saved model instead."
        )
    try:
        if multi_worker:
            history = _fit_multi_worker(
                model, dataset, epochs, steps_per_epoch, cbs, strategy, verbose
            )
        else:
            history = model.fit(
                dataset,
                epochs=epochs,
                steps_per_epoch=steps_per_epoch,
                callbacks=cbs,
                shuffle=False,  # datasets shuffle themselves (tfgen.data.load(shuffle=True))
                verbose=verbose,
                validation_data=validation_data,
            )
    except NonFiniteError as error:
        if backup is None:
            raise
        raise NonFiniteError(
            f"{error} Nothing non-finite was saved: {backup.backup_dir} "
            f"{backup._holds()}, where a rerun resumes."
        ) from None
    return model, history


def _fit_multi_worker(
    model, dataset, epochs, steps_per_epoch, callbacks, strategy, verbose
):
    """`fit` for MultiWorkerMirroredStrategy: the model's own `train_step`
    under `strategy.run`, with the usual callback hooks."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    dataset = dataset.with_options(options)
    if steps_per_epoch is None:
        steps_per_epoch = int(dataset.cardinality())
        if steps_per_epoch < 0:
            raise ValueError(
                "An infinite or unknown-length dataset needs `steps_per_epoch`. "
                f"Received: steps_per_epoch=None with cardinality {steps_per_epoch}"
            )
    infinite = int(dataset.cardinality()) == tf.data.INFINITE_CARDINALITY
    iterator = None
    distributed = strategy.experimental_distribute_dataset(dataset)
    step = tf.function(model.train_step)
    cb_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose not in (0, "0"),
        model=model,
        epochs=epochs,
        steps=steps_per_epoch,
        verbose=1 if verbose == "auto" else verbose,
    )
    model.stop_training = False
    model._initial_epoch = 0
    cb_list.on_train_begin()
    logs = {}
    for epoch in range(model._initial_epoch or 0, epochs):
        for metric in model.metrics:
            metric.reset_state()
        cb_list.on_epoch_begin(epoch)
        if iterator is None or not infinite:
            # A repeated stream goes on across epochs, as in Keras' fit.
            iterator = iter(distributed)
        for batch in range(steps_per_epoch):
            cb_list.on_train_batch_begin(batch)
            strategy.run(step, args=(next(iterator),))
            logs = {m.name: float(np.asarray(m.result())) for m in model.metrics}
            cb_list.on_train_batch_end(batch, logs)
        cb_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cb_list.on_train_end(logs)
    return model.history
