"""Training throughput of the DCGAN-CIFAR train step: tfgen vs. a keras-io baseline.

What it measures: images per second through `model.fit` for one 32x32x3
DCGAN (base_filters=64, latent_dim=100), in four configurations measured in
the same process:

- tfgen's `tfgen.DCGAN`, compiled with its default Adam(2e-4, beta_1=0.5)
  optimizers, under the `float32` and `mixed_bfloat16` dtype policies;
- a plain Keras baseline in the style of the keras-io DCGAN example
  ("DCGAN to generate face images", `Model.train_step` overridden; two
  `keras.Sequential` networks, BinaryCrossentropy from logits, real and fake
  images concatenated through the discriminator, then a generator step), with
  the same layers and parameter count as tfgen's DCGAN, under the same two
  policies.

How: every configuration is built and compiled under
`tfgen.training.precision_policy`, then warmed up by a separate
`fit(..., steps_per_epoch=--warmup)` so that tracing and the first-call costs
are excluded. The timed part is `time.perf_counter()` around
`fit(ds, epochs=1, steps_per_epoch=--steps, verbose=0)`, repeated
`--repeats` times with the configurations interleaved (and their order
rotated every round) so that slow drifts of the machine's speed hit all of
them alike; the table reports the median. One step consumes `--batch-size`
real images (and generates as many), so img/s = batch_size * steps / seconds.

The data are synthetic: uniform random float32 images in [0, 1] of CIFAR's
shape. Throughput does not depend on pixel values, so no dataset is needed.

Run from the repository root:

    python3 benchmarks/train_throughput.py             # writes benchmarks/RESULTS.md
    python3 benchmarks/train_throughput.py --no-write  # prints only
"""

import argparse
import datetime
import statistics
import sys
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

import tfgen  # noqa: E402
from tfgen.reporting import write_section  # noqa: E402
from tfgen.training import precision_policy  # noqa: E402

IMAGE_SHAPE = (32, 32, 3)
LATENT_DIM = 100
BASE_FILTERS = 64
POLICIES = ("float32", "mixed_bfloat16")
MARK_START = "<!-- train_throughput:start -->"
MARK_END = "<!-- train_throughput:end -->"


# ----------------------------------------------------------------- baseline
def _batch_norm():
    # tfgen's momentum and epsilon, so both compute the same function; the
    # keras-io default `synchronized=False` is kept.
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)


def keras_io_generator():
    """tfgen.DCGAN's generator for 32x32x3, written as a keras.Sequential."""
    return keras.Sequential(
        [
            keras.Input((LATENT_DIM,)),
            layers.Dense(4 * 4 * 256, use_bias=False),
            layers.Reshape((4, 4, 256)),
            _batch_norm(),
            layers.ReLU(),
            layers.Conv2DTranspose(128, 4, strides=2, padding="same", use_bias=False),
            _batch_norm(),
            layers.ReLU(),
            layers.Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False),
            _batch_norm(),
            layers.ReLU(),
            layers.Conv2DTranspose(3, 4, strides=2, padding="same"),
            # float32 output under mixed precision, as in tfgen and the Keras
            # mixed-precision guide.
            layers.Activation("tanh", dtype="float32"),
        ],
        name="generator",
    )


def keras_io_discriminator():
    """tfgen.DCGAN's discriminator for 32x32x3, written as a keras.Sequential."""
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            layers.Conv2D(64, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(128, 4, strides=2, padding="same", use_bias=False),
            _batch_norm(),
            layers.LeakyReLU(0.2),
            layers.Conv2D(256, 4, strides=2, padding="same", use_bias=False),
            _batch_norm(),
            layers.LeakyReLU(0.2),
            layers.Flatten(),
            layers.Dense(1, dtype="float32"),
        ],
        name="discriminator",
    )


class KerasIoGAN(keras.Model):
    """The keras-io DCGAN `train_step`, unchanged in its math."""

    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        # keras-io rescales in its input pipeline; here both implementations
        # read the same [0, 1] batches, and the tanh generator needs [-1, 1].
        real_images = real_images * 2.0 - 1.0
        batch_size = ops.shape(real_images)[0]
        random_latent_vectors = keras.random.normal(
            shape=(batch_size, self.latent_dim), seed=self.seed_generator
        )
        # training=True: keras-io's networks have no batch norm, these do, and
        # tfgen runs them in training mode too.
        generated_images = self.generator(random_latent_vectors, training=True)
        combined_images = ops.concatenate([generated_images, real_images], axis=0)
        labels = ops.concatenate(
            [ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0
        )
        # keras-io's label noise ("important trick!"), kept for the same math.
        labels += 0.05 * keras.random.uniform(
            ops.shape(labels), seed=self.seed_generator
        )

        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images, training=True)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(
            zip(grads, self.discriminator.trainable_weights)
        )

        random_latent_vectors = keras.random.normal(
            shape=(batch_size, self.latent_dim), seed=self.seed_generator
        )
        misleading_labels = ops.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(
                self.generator(random_latent_vectors, training=True), training=True
            )
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {
            "d_loss": self.d_loss_metric.result(),
            "g_loss": self.g_loss_metric.result(),
        }


# ------------------------------------------------------------------- models
def build_tfgen(policy):
    with precision_policy(policy):
        model = tfgen.DCGAN(
            image_shape=IMAGE_SHAPE, base_filters=BASE_FILTERS, latent_dim=LATENT_DIM
        )
        model.compile()
    return model


def build_keras_io(policy):
    with precision_policy(policy):
        model = KerasIoGAN(
            keras_io_discriminator(), keras_io_generator(), latent_dim=LATENT_DIM
        )
        model.compile(
            d_optimizer=keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5),
            g_optimizer=keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5),
            loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
        )
    return model


IMPLEMENTATIONS = {"keras-io": build_keras_io, "tfgen": build_tfgen}


def param_counts(model):
    """(generator, discriminator) parameters, non-trainable BN statistics included."""
    return model.generator.count_params(), model.discriminator.count_params()


# ------------------------------------------------------------------ timing
def synthetic_dataset(batch_size, pool_batches=8, seed=0):
    """An endless dataset cycling over a few cached random batches, so the
    input pipeline costs next to nothing and the train step is what is timed."""
    rng = np.random.default_rng(seed)
    pool = rng.random((pool_batches * batch_size, *IMAGE_SHAPE), dtype=np.float32)
    return (
        tf.data.Dataset.from_tensor_slices(pool)
        .batch(batch_size, drop_remainder=True)
        .cache()
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )


def timed_fit(model, dataset, steps):
    start = time.perf_counter()
    # shuffle=False only silences fit's warning that it cannot shuffle a Dataset.
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return time.perf_counter() - start


# ----------------------------------------------------------------- protocol
def markdown_table(rows, reference):
    lines = [
        "| Implementation | Precision | img/s (median) | vs keras-io float32 |",
        "|---|---|---:|---:|",
    ]
    for impl, policy, ips in rows:
        lines.append(f"| {impl} | {policy} | {ips:.1f} | {ips / reference:.2f}x |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Training throughput (img/s) of tfgen's DCGAN-CIFAR vs. a "
        "keras-io style baseline, float32 and mixed_bfloat16."
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50, help="timed steps per repeat")
    parser.add_argument(
        "--warmup", type=int, default=10, help="untimed steps before timing"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed repeats; the median is reported"
    )
    common.add_output_arguments(parser)
    args = parser.parse_args(argv)
    for name in ("batch_size", "steps", "warmup", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not args.no_write:  # it writes: measure this checkout
        common.require_checkout_tfgen()
    wall_start = time.perf_counter()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load = common.load_line()
    keras.utils.set_random_seed(0)
    dataset = synthetic_dataset(args.batch_size)

    configs = [(impl, policy) for impl in IMPLEMENTATIONS for policy in POLICIES]
    models = {}
    for impl, policy in configs:
        print(f"building and warming up {impl} / {policy} ...", flush=True)
        model = IMPLEMENTATIONS[impl](policy)
        # Traces train_function; the timed fits below reuse it.
        model.fit(
            dataset, epochs=1, steps_per_epoch=args.warmup, verbose=0, shuffle=False
        )
        models[impl, policy] = model

    counts = {impl: param_counts(models[impl, "float32"]) for impl in IMPLEMENTATIONS}
    same = len(set(counts.values())) == 1
    count_lines = [
        f"{impl}: generator {g:,} + discriminator {d:,} = {g + d:,} parameters"
        for impl, (g, d) in counts.items()
    ]

    seconds = {config: [] for config in configs}
    for r in range(args.repeats):
        # Rotated so that no configuration always runs first (or last).
        order = configs[r % len(configs) :] + configs[: r % len(configs)]
        for config in order:
            seconds[config].append(timed_fit(models[config], dataset, args.steps))
        print(f"repeat {r + 1}/{args.repeats} done", flush=True)

    # Each step updates each network once: check that fit ran every step.
    expected = args.warmup + args.repeats * args.steps
    for config, model in models.items():
        done = [int(model.d_optimizer.iterations), int(model.g_optimizer.iterations)]
        if done != [expected, expected]:
            raise RuntimeError(f"{config}: {done} updates, expected {expected} each")

    images = args.batch_size * args.steps
    throughput = {c: [images / s for s in seconds[c]] for c in configs}
    rows = [(*c, statistics.median(throughput[c])) for c in configs]
    reference = statistics.median(throughput["keras-io", "float32"])
    wall = time.perf_counter() - wall_start

    command = "python3 benchmarks/train_throughput.py " + " ".join(
        f"--{k} {v}"
        for k, v in (
            ("batch-size", args.batch_size),
            ("steps", args.steps),
            ("warmup", args.warmup),
            ("repeats", args.repeats),
        )
    )
    per_repeat = "; ".join(
        f"{impl} {policy}: " + ", ".join(f"{x:.1f}" for x in throughput[impl, policy])
        for impl, policy in configs
    )
    section = "\n".join(
        [
            "## DCGAN-CIFAR training throughput",
            "",
            f"`{command}`",
            "",
            f"- Hardware: {common.hardware_line()}",
            f"- {load}",
            f"- Date: {date}",
            f"- Batch size: {args.batch_size}; warm-up: {args.warmup} steps "
            f"(untimed); timed: {args.repeats} repeats x {args.steps} steps per "
            "configuration, interleaved, median reported",
            "- Data: synthetic uniform random float32 images in [0, 1], shape "
            f"{IMAGE_SHAPE} (throughput does not depend on pixel values)",
            "- Model: DCGAN 32x32x3, base_filters 64, latent_dim 100, "
            "Adam(2e-4, beta_1=0.5) for both networks",
            *(f"- {line}" for line in count_lines),
            f"- Parameter counts match: {'yes' if same else 'NO'}",
            f"- Total wall time of the benchmark run: {wall:.0f} s "
            "(building, warm-up and timed fits; imports excluded)",
            "",
            markdown_table(rows, reference),
            "",
            f"img/s per repeat: {per_repeat}",
            "",
        ]
    )
    print()
    print(section)
    if not args.no_write:
        write_section(args.output, section, MARK_START, MARK_END)
        print(f"wrote section to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
