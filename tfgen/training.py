"""Training: strategies, precision, resumable checkpoints, logs and sample grids.

`train` builds a model under a distribution strategy and a precision policy,
compiles it (building its optimizers inside the strategy's scope, which
MirroredStrategy needs for a `train_step` with several optimizers) and runs
`model.fit` with callbacks that make the run resumable and observable:

- `AtomicBackupAndRestore` (Keras's `BackupAndRestore`, written
  atomically) in `<output_dir>/backup`: rerun the same command after a
  crash or a kill and training continues from the last finished epoch;
- `keras.callbacks.TensorBoard` in `<output_dir>/logs` and a CSV of the
  curves in `<output_dir>/history.csv`;
- `SampleGrid`: a PNG grid of samples per epoch in `<output_dir>/samples`,
  also written to TensorBoard.

Keras 3's `fit` does not run under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585), so for it `train` drives the same `train_step`
and callbacks with its own loop over a distributed dataset.
"""

import contextlib
import json
import os
import shutil
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfgen import files
from tfgen.images import make_grid, save_grid
from tfgen.models.train_core import LinearDecay
from tfgen.validation import check_positive_int

__all__ = [
    "AtomicBackupAndRestore",
    "LinearDecay",
    "SampleGrid",
    "WallClock",
    "get_strategy",
    "precision_policy",
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


@contextlib.contextmanager
def precision_policy(policy):
    """Sets Keras' global dtype policy for the models built inside, then
    restores it. `"mixed_bfloat16"` is the fast choice on CPUs with AMX and
    on recent GPUs; `"float32"` is exact."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose files never exist half
    written, and whose resume falls back to the previous checkpoint.

    Keras rewrites `latest.weights.h5` and `training_metadata.json` in place,
    so a kill during the per-epoch save can leave an empty or truncated file
    that every rerun then fails to read. Here each file is written beside its
    target and renamed into place (`tfgen.files.write_atomic`), and a latest
    checkpoint that cannot be read (damaged by hand or by the disk) is
    replaced by the previous one (`double_checkpoint=True`).

    Args:
        backup_dir, save_freq, double_checkpoint, delete_checkpoint: as for
            `keras.callbacks.BackupAndRestore`.

    Example:

    ```python
    backup = tfgen.training.AtomicBackupAndRestore("runs/x/backup", double_checkpoint=True)
    model.fit(data, epochs=30, callbacks=[backup])   # rerun after a kill: it resumes
    ```
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path in (self._weights_path, self._training_metadata_path):
                if os.path.exists(path):
                    files.write_atomic(
                        f"{path}.bkp",
                        lambda partial, src=path: shutil.copyfile(src, partial),
                    )
        files.write_atomic(
            self._weights_path,
            lambda partial: self.model.save_weights(partial, overwrite=True),
            suffix=".weights.h5",
        )
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        files.write_bytes(self._training_metadata_path, json.dumps(metadata).encode())

    def on_train_begin(self, logs=None):
        try:
            self._load_model()
        except (OSError, ValueError, KeyError) as error:
            if not os.path.exists(self._prev_weights_path):
                raise
            warnings.warn(
                f"The latest checkpoint in {self.backup_dir} cannot be read "
                f"({type(error).__name__}: {error}); resuming from the previous one.",
                stacklevel=2,
            )
            shutil.copyfile(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_training_metadata_path):
                shutil.copyfile(
                    self._prev_training_metadata_path, self._training_metadata_path
                )
            elif os.path.exists(self._training_metadata_path):
                os.remove(self._training_metadata_path)
            self._load_model()


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

    def on_train_begin(self, logs=None):
        if os.path.isfile(self.path):
            try:
                with open(self.path) as f:
                    self.total = float(json.load(f)["seconds"])
            except (ValueError, KeyError, TypeError) as error:
                warnings.warn(
                    f"{self.path} cannot be read ({error}); the wall clock restarts "
                    "at 0 for this run.",
                    stacklevel=2,
                )

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.total += seconds
        if logs is not None:
            logs["wall_seconds"] = self.total
            logs["images_per_second"] = (
                self._steps * self.batch_size / max(seconds, 1e-9)
            )
        record = {"seconds": self.total, "epochs": epoch + 1}
        files.write_bytes(self.path, json.dumps(record).encode())


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
):
    """Builds, compiles and fits a model; returns `(model, history)`.

    Args:
        model: a callable that returns an uncompiled model (it is called
            under the strategy's scope and the precision policy), or a
            model already built under them.
        dataset: a `tf.data.Dataset` of global batches.
        epochs: total epochs; a resumed run stops at the same total.
        output_dir: folder for checkpoints, logs and sample grids; `None`
            trains without them.
        strategy: `"default"`, `"mirrored"`, `"multi_worker"` or a Strategy.
        precision: Keras dtype policy, `"mixed_bfloat16"` by default.
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
    """
    if steps_per_epoch is not None:
        steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")
    epochs = check_positive_int(epochs, "epochs")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    strategy = get_strategy(strategy)
    with precision_policy(precision), strategy.scope():
        kwargs = compile_kwargs() if callable(compile_kwargs) else compile_kwargs
        model = _build(model, kwargs)
    cbs = []
    if output_dir:
        out = _worker_dir(output_dir, strategy)
        os.makedirs(out, exist_ok=True)
        cbs = [
            AtomicBackupAndRestore(
                os.path.join(out, "backup"),
                double_checkpoint=True,
                delete_checkpoint=False,
            ),
            WallClock(out, batch_size or 0),
            keras.callbacks.CSVLogger(os.path.join(out, "history.csv"), append=True),
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
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
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
        )
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
