"""The training core: the pieces every family's `train_step` is built from.

Each model's `train_step` says what its losses are; this module says how a
step is taken, once for all families, so that a step behaves the same on
one device and under a `tf.distribute` strategy:

- `replica_info` and `global_mean`: a loss is the sum of its per-example
  values divided by the *global* batch, so the gradients the optimizers sum
  across replicas are those of the global mean, and a step on R replicas
  equals a step on one replica with the same global batch;
- `minimize`: one `GradientTape`, one or more optimizers each applied to its
  own variables;
- `build_optimizers`: named optimizers (the model's defaults where the
  caller gives none) built on their variables inside `compile`, which
  MirroredStrategy needs for a step with several optimizers;
- `unpack_images` and `split_labels`: a batch as `(x, y, sample_weight)`;
- `replica_normal` / `replica_uniform`: per-replica noise drawn so that R
  replicas see exactly the noise one replica sees on the same global batch;
- `LinearDecay`: the learning-rate schedule that ends with the run.

```python
def train_step(self, data):
    x, _ = split_labels(data, None, type(self).__name__)
    nll, _ = minimize(lambda: (self.nll(x, training=True), None),
                      (self.optimizer, self.network.trainable_variables))
```
"""

import keras
import tensorflow as tf
from keras import ops

__all__ = [
    "LinearDecay",
    "build_optimizers",
    "global_mean",
    "minimize",
    "replica_info",
    "replica_normal",
    "replica_uniform",
    "split_labels",
    "unpack_images",
]


def replica_info():
    """`(replica_id, num_replicas)` of the calling replica; `(0, 1)` outside
    a replica context."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None:  # cross-replica context: a single logical replica
        return 0, 1
    return ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync


def global_mean(per_example):
    """Sum of this replica's per-example losses over the global batch size:
    summed across replicas (as optimizers do with gradients), the mean of the
    global batch."""
    _, num_replicas = replica_info()
    global_n = ops.cast(ops.shape(per_example)[0] * num_replicas, "float32")
    return ops.sum(per_example) / global_n


def minimize(loss_fn, *updates):
    """Runs `loss_fn() -> (per_example, aux)` under one tape and applies the
    gradient of `global_mean(per_example)` with each `(optimizer, variables)`
    of `updates`. Returns `(per_example, aux)`."""
    with tf.GradientTape(persistent=len(updates) > 1) as tape:
        per_example, aux = loss_fn()
        loss = global_mean(per_example)
    for optimizer, variables in updates:
        optimizer.apply(tape.gradient(loss, variables), variables)
    del tape
    return per_example, aux


def build_optimizers(given, variables, default_config):
    """Named optimizers, each built on its variables.

    Args:
        given: `{name: optimizer or None}` from `compile`'s arguments.
        variables: `{name: variables}` each optimizer updates.
        default_config: keyword arguments of `keras.optimizers.Adam` for the
            names given as None, or `{name: kwargs}` per name.

    Returns:
        `{name: optimizer}`, every optimizer named and built (its slots
        exist before `fit`, as MirroredStrategy needs).
    """
    out = {}
    for name, optimizer in given.items():
        if optimizer is None:
            config = default_config.get(name, default_config)
            optimizer = keras.optimizers.Adam(name=name, **config)
        optimizer.build(variables[name])
        out[name] = optimizer
    return out


def unpack_images(data):
    """`(x, y, sample_weight)` of a Keras batch: `x`, `(x,)`, `(x, y)` or
    `(x, y, sample_weight)`."""
    if isinstance(data, tuple | list) and not 1 <= len(data) <= 3:
        raise ValueError(
            "Expected batches of `images`, `(images, labels)` or `(images, labels, "
            f"sample_weight)`. Received a sequence of {len(data)} elements."
        )
    return keras.utils.unpack_x_y_sample_weight(data)


def split_labels(data, num_classes, model_name):
    """`(images, labels)` of a batch: labels as int32 (n,) for a conditional
    model (`num_classes` set), which refuses batches without them; None for
    an unconditional one, which ignores them."""
    images, labels, sample_weight = unpack_images(data)
    if sample_weight is not None:
        raise ValueError(
            f"{model_name} weighs every example alike and takes no sample_weight. "
            "Received batches of (images, labels, sample_weight)."
        )
    if num_classes is None:
        return images, None
    if labels is None:
        raise ValueError(
            f"{model_name} is class-conditional (num_classes={num_classes}) and "
            "trains on `(images, labels)` batches. Received images without labels."
        )
    return images, tf.reshape(tf.cast(labels, "int32"), [-1])


def _replica_slice(draw, local_shape, seed):
    """Draws the global batch with one seed on every replica and keeps this
    replica's rows."""
    replica_id, num_replicas = replica_info()
    local_n = local_shape[0]
    values = draw([local_n * num_replicas, *local_shape[1:]], seed)
    start = replica_id * local_n
    return values[start : start + local_n]


def replica_normal(local_shape, seed):
    """Standard normal noise of `local_shape`, consistent across replicas."""
    return _replica_slice(
        lambda s, sd: keras.random.normal(s, seed=sd, dtype="float32"),
        local_shape,
        seed,
    )


def replica_uniform(local_shape, seed):
    """U(0, 1) noise of `local_shape`, consistent across replicas."""
    return _replica_slice(
        lambda s, sd: keras.random.uniform(s, seed=sd, dtype="float32"),
        local_shape,
        seed,
    )


@keras.saving.register_keras_serializable(package="tfgen")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate held constant, then decayed linearly to 0.

    `rate(step) = initial_learning_rate * (1 - clip((step - decay_start) /
    (decay_end - decay_start), 0, 1))`: CycleGAN's schedule, constant for
    the first half of training and linear to zero over the second.

    Args:
        initial_learning_rate: the rate before `decay_start`.
        decay_start: optimizer step at which the decay begins.
        decay_end: optimizer step at which the rate reaches 0.

    Example:

    ```python
    steps = 200 * steps_per_epoch
    rate = tfgen.training.LinearDecay(2e-4, steps // 2, steps)
    optimizer = keras.optimizers.Adam(rate, beta_1=0.5)
    ```

    References:
        Zhu et al., arXiv 1703.10593, Section 4 (training details).
    """

    def __init__(self, initial_learning_rate, decay_start, decay_end):
        if not 0 <= int(decay_start) < int(decay_end):
            raise ValueError(
                "LinearDecay needs 0 <= decay_start < decay_end. Received: "
                f"decay_start={decay_start!r}, decay_end={decay_end!r}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_start = int(decay_start)
        self.decay_end = int(decay_end)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        span = float(self.decay_end - self.decay_start)
        done = keras.ops.clip((step - self.decay_start) / span, 0.0, 1.0)
        return self.initial_learning_rate * (1.0 - done)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_start": self.decay_start,
            "decay_end": self.decay_end,
        }
