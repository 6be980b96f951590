"""Training throughput of the DCGAN-CIFAR train step: tfgen vs. a keras-io baseline;
with `--recipes`, each recipe's model in float32 against mixed_bfloat16.

What it measures: images per second through the training steps of
`model.fit` for one 32x32x3 DCGAN (base_filters=64, latent_dim=100), in four
configurations measured in the same process:

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
are excluded. Each timed repeat is one `fit(ds, epochs=1,
steps_per_epoch=--steps, verbose=0)` call with a `StepTimer` callback: it
times every train batch (`on_train_batch_begin` to `on_train_batch_end`;
TensorFlow runs the step synchronously in between) and leaves out the first
`--skip-steps` of the call (the iterator's start). A repeat's img/s is
batch_size * timed steps / their summed seconds. Repeats interleave the
configurations (their order rotated every round) so that slow drifts of the
machine's speed hit all of them alike; the table reports medians over
repeats, and each ratio is the median of the ratios within a round, all from
this one run.

Why steps and not the call: with tf.data autotune on, the end of a `fit()`
call sometimes stalls until the call has lasted 5.11 s, which a timer around
the call counted as training (an earlier table's 625.9 img/s was 6400 images
/ 10.22 s). The call-level rate is still printed per repeat, for comparison.

The data are synthetic: uniform random float32 images in [0, 1] of CIFAR's
shape. Throughput does not depend on pixel values, so no dataset is needed.

Run from the repository root, pinned to one core with one TensorFlow thread
on a shared machine:

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 taskset -c 0 \\
        python3 benchmarks/train_throughput.py --note "core 1 busy"  # writes RESULTS.md
    python3 benchmarks/train_throughput.py --no-write  # prints only
    python3 benchmarks/train_throughput.py --recipes all --steps 6 --repeats 2
    python3 benchmarks/train_throughput.py --helpfull  # every flag
"""

import datetime
import os
import statistics
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402
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


class StepTimer(keras.callbacks.Callback):
    """Seconds of each train batch of a `fit` call, from `on_train_batch_begin`
    to `on_train_batch_end`, leaving out the first `skip` batches of the call.

    `clock` returns seconds (`time.perf_counter` by default; tests pass a
    fake). After the call, `seconds` holds one float per timed batch.
    """

    def __init__(self, skip=0, clock=time.perf_counter):
        super().__init__()
        self.skip = skip
        self.clock = clock
        self.seconds = []
        self._started = None

    def on_train_begin(self, logs=None):
        self.seconds = []

    # `batch` counts from 0 in every epoch; a benchmark fit has one.
    def on_train_batch_begin(self, batch, logs=None):
        if batch >= self.skip:
            self._started = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        if batch >= self.skip:
            self.seconds.append(self.clock() - self._started)


def timed_fit(model, dataset, steps, skip):
    """(seconds of the timed steps, seconds of the whole call) of one
    `fit(dataset, epochs=1, steps_per_epoch=steps)`."""
    timer = StepTimer(skip)
    start = time.perf_counter()
    # shuffle=False only silences fit's warning that it cannot shuffle a Dataset.
    model.fit(
        dataset,
        epochs=1,
        steps_per_epoch=steps,
        verbose=0,
        shuffle=False,
        callbacks=[timer],
    )
    call = time.perf_counter() - start
    if len(timer.seconds) != steps - skip:
        raise RuntimeError(
            f"Expected {steps - skip} timed steps ({steps} run, {skip} skipped). "
            f"Received: {len(timer.seconds)}"
        )
    return timer.seconds, call


def images_per_second(batch_size, step_seconds):
    """img/s of steps of `batch_size` images that took `step_seconds`."""
    return batch_size * len(step_seconds) / sum(step_seconds)


def summarize(rates, reference):
    """Medians over repeats, from `rates[config]`: one img/s per repeat,
    repeat r of every configuration measured in the same round r.

    Returns `{config: (median img/s, median over rounds of the ratio to
    `reference` in that round)}`; a ratio within a round compares
    measurements taken minutes apart at most, so drifts of the machine's
    speed between rounds cancel.
    """
    rounds = len(rates[reference])
    if any(len(values) != rounds for values in rates.values()):
        counts = {config: len(values) for config, values in rates.items()}
        raise ValueError(
            f"Expected {rounds} repeats per configuration. Received: {counts}"
        )
    return {
        config: (
            statistics.median(values),
            statistics.median(v / ref for v, ref in zip(values, rates[reference])),
        )
        for config, values in rates.items()
    }


# ----------------------------------------------------------------- protocol
def markdown_table(summary):
    """The table of `summarize`'s result: per configuration its median
    img/s and its median per-round ratio to `reference`."""
    lines = [
        "| Implementation | Precision | img/s (median) | vs keras-io float32 |",
        "|---|---|---:|---:|",
    ]
    for (impl, policy), (ips, ratio) in summary.items():
        lines.append(f"| {impl} | {policy} | {ips:.1f} | {ratio:.2f}x |")
    return "\n".join(lines)


def ratio_lines(rates):
    """The ratios of the question this benchmark asks, each the median of
    its per-round ratios: tfgen against keras-io in each precision, and
    mixed_bfloat16 against float32 in each implementation."""
    lines = []
    for policy in POLICIES:
        summary = summarize(
            {c: rates[c] for c in rates if c[1] == policy}, ("keras-io", policy)
        )
        lines.append(f"tfgen / keras-io, {policy}: {summary['tfgen', policy][1]:.2f}x")
    for impl in IMPLEMENTATIONS:
        summary = summarize(
            {c: rates[c] for c in rates if c[0] == impl}, (impl, "float32")
        )
        lines.append(
            f"{impl} mixed_bfloat16 / float32: "
            f"{summary[impl, 'mixed_bfloat16'][1]:.2f}x"
        )
    return lines


def run_lines(argv, load, notes, date):
    """The lines every section of this script opens with: the command, the
    hardware, the threads, the load, the notes and the date."""
    return [
        f"`{common.command_line(__name__, argv)}`",
        "",
        f"- Hardware: {common.hardware_line()}",
        f"- {threads_line()}",
        f"- {load}",
        *(f"- Note: {note}" for note in notes),
        f"- Date: {date}",
    ]


def threads_line():
    """TensorFlow's thread pools in this run: set by tf.config, else by
    $TF_NUM_INTRAOP_THREADS / $TF_NUM_INTEROP_THREADS (which TensorFlow reads
    when it starts), else TensorFlow's default (one per core)."""
    parts = []
    for kind, configured, variable in (
        (
            "intra-op",
            tf.config.threading.get_intra_op_parallelism_threads(),
            "TF_NUM_INTRAOP_THREADS",
        ),
        (
            "inter-op",
            tf.config.threading.get_inter_op_parallelism_threads(),
            "TF_NUM_INTEROP_THREADS",
        ),
    ):
        if configured:
            parts.append(f"{kind} {configured} (tf.config)")
        elif os.environ.get(variable):
            parts.append(f"{kind} {os.environ[variable]} (${variable})")
        else:
            parts.append(f"{kind} TensorFlow's default")
    return "TensorFlow threads: " + ", ".join(parts)


flags.DEFINE_list(
    "recipes",
    [],
    "measure these recipes' models instead (recipes/NAME.json or a zoo entry's "
    "recipe; 'all' for every recipes/*.json): float32 against mixed_bfloat16 "
    "at each recipe's own batch size, written to their own section",
)
flags.DEFINE_integer("batch-size", 64, "images per step", lower_bound=1)
flags.DEFINE_integer("steps", 50, "steps per timed fit call", lower_bound=1)
flags.DEFINE_integer(
    "skip-steps",
    2,
    "steps at the start of each timed call left out of its timing (the "
    "iterator's start)",
    lower_bound=0,
)
flags.DEFINE_integer("warmup", 10, "untimed steps before timing", lower_bound=1)
flags.DEFINE_integer(
    "repeats", 3, "timed repeats; the median is reported", lower_bound=1
)
common.define_note_flag()
common.define_output_flags()


# ---------------------------------------------------------------- recipes
RECIPE_MARK_START = "<!-- train_throughput_recipes:start -->"
RECIPE_MARK_END = "<!-- train_throughput_recipes:end -->"
RECIPES_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "recipes")


def recipe_spec(name):
    """The RecipeSpec of `recipes/<name>.json`, else of zoo entry `name`."""
    path = os.path.join(RECIPES_DIR, f"{name}.json")
    if os.path.isfile(path):
        return tfgen.recipes.from_file(path)
    if name in tfgen.zoo.list():
        return tfgen.recipes.from_zoo(name)
    known = sorted(f[:-5] for f in os.listdir(RECIPES_DIR) if f.endswith(".json"))
    raise common.usage_error(
        f"Unknown recipe {name!r}. Expected one of recipes/*.json {known} or a "
        "zoo entry"
    )


def recipe_names(values):
    if values == ["all"]:
        return sorted(f[:-5] for f in os.listdir(RECIPES_DIR) if f.endswith(".json"))
    return list(values)


def recipe_dataset(spec, pool_batches=4, seed=0):
    """Endless synthetic batches shaped as the recipe's data: images in
    [0, 1] (0/1 for binarized sets), `(a, b)` pairs for two-domain recipes,
    `(image, label)` where the recipe loads labels."""
    rng = np.random.default_rng(seed)
    n = pool_batches * spec.batch_size
    shape = tuple(spec.config["image_shape"])

    def images():
        x = rng.random((n, *shape), dtype=np.float32)
        binary = spec.dataset.get("binarize") or spec.dataset.get("name") in (
            tfgen.data.BINARY_DATASETS
        )
        return (x > 0.5).astype(np.float32) if binary else x

    if "domain_a" in spec.dataset:
        elements = (images(), images())
    elif spec.dataset.get("labels"):
        classes = int(spec.config.get("num_classes") or 10)
        elements = (images(), rng.integers(0, classes, n).astype(np.int32))
    else:
        elements = images()
    return (
        tf.data.Dataset.from_tensor_slices(elements)
        .batch(spec.batch_size, drop_remainder=True)
        .cache()
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )


def build_recipe_model(spec, policy):
    with precision_policy(policy):
        model = tfgen.models.get(spec.model)(**spec.config)
        model.compile(**tfgen.recipes.compile_kwargs(spec))
    return model


def recipe_table(specs, rates):
    """Per recipe: float32 and mixed_bfloat16 img/s (medians over repeats)
    and the median per-round ratio bf16 / float32."""
    lines = [
        "| Recipe | Model | Batch | float32 img/s | mixed_bfloat16 img/s | "
        "bf16 / float32 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, spec in specs.items():
        summary = summarize(
            {policy: rates[name, policy] for policy in POLICIES}, "float32"
        )
        lines.append(
            f"| `{name}` | {spec.model} | {spec.batch_size} | "
            f"{summary['float32'][0]:.1f} | {summary['mixed_bfloat16'][0]:.1f} | "
            f"{summary['mixed_bfloat16'][1]:.2f}x |"
        )
    return "\n".join(lines)


def measure_recipes(args, argv):
    """The `--recipes` run: each recipe's model in both precisions, warmed
    up, then timed in interleaved repeats."""
    wall_start = time.perf_counter()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load = common.load_line()
    keras.utils.set_random_seed(0)
    specs = {name: recipe_spec(name) for name in recipe_names(args.recipes)}
    configs = [(name, policy) for name in specs for policy in POLICIES]
    models, datasets = {}, {}
    for name, policy in configs:
        logging.info("building and warming up %s / %s ...", name, policy)
        datasets[name] = datasets.get(name) or recipe_dataset(specs[name])
        models[name, policy] = build_recipe_model(specs[name], policy)
        models[name, policy].fit(
            datasets[name],
            epochs=1,
            steps_per_epoch=args.warmup,
            verbose=0,
            shuffle=False,
        )
    rates = {config: [] for config in configs}
    for r in range(args.repeats):
        order = configs[r % len(configs) :] + configs[: r % len(configs)]
        for name, policy in order:
            steps, _ = timed_fit(
                models[name, policy], datasets[name], args.steps, args.skip_steps
            )
            rates[name, policy].append(images_per_second(specs[name].batch_size, steps))
        logging.info("repeat %d/%d done", r + 1, args.repeats)
    wall = time.perf_counter() - wall_start
    section = "\n".join(
        [
            "## Training throughput by recipe: float32 against mixed_bfloat16",
            "",
            *run_lines(argv, load, args.note, date),
            "- Each recipe's model, config, optimizers and batch size as the "
            "recipe gives them (`tfgen.recipes.compile_kwargs`), built under "
            f"each policy; warm-up: {args.warmup} steps (untimed); timed: "
            f"{args.repeats} repeats x {args.steps} steps per configuration, "
            f"interleaved, the first {args.skip_steps} steps of each repeat "
            "untimed; each step timed from the start to the end of its train "
            "batch; medians over repeats, the ratio the median of the "
            "per-round ratios",
            "- Data: synthetic random batches of the recipe's image shape "
            "(0/1 for binarized sets; pairs for two-domain recipes), a few "
            "cached batches cycled, so the input pipeline costs next to nothing",
            f"- Total wall time of the benchmark run: {wall:.0f} s",
            "",
            recipe_table(specs, rates),
            "",
            "img/s per repeat: "
            + "; ".join(
                f"{name} {policy}: "
                + ", ".join(f"{x:.1f}" for x in rates[name, policy])
                for name, policy in configs
            ),
            "",
        ]
    )
    print(section)
    if not args.no_write:
        write_section(args.output, section, RECIPE_MARK_START, RECIPE_MARK_END)
        logging.info("wrote section to %s", args.output)
    return 0


def main(argv):
    args = common.script_args(__name__, argv)
    if args.skip_steps >= args.steps:
        raise common.usage_error(
            f"Expected --skip-steps below --steps ({args.steps}). "
            f"Received: {args.skip_steps}"
        )
    if not args.no_write:  # it writes: measure this checkout
        common.require_checkout_tfgen()
    if args.recipes:
        return measure_recipes(args, argv)
    wall_start = time.perf_counter()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load = common.load_line()
    keras.utils.set_random_seed(0)
    dataset = synthetic_dataset(args.batch_size)

    configs = [(impl, policy) for impl in IMPLEMENTATIONS for policy in POLICIES]
    models = {}
    for impl, policy in configs:
        logging.info("building and warming up %s / %s ...", impl, policy)
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

    rates = {config: [] for config in configs}
    call_rates = {config: [] for config in configs}
    for r in range(args.repeats):
        # Rotated so that no configuration always runs first (or last).
        order = configs[r % len(configs) :] + configs[: r % len(configs)]
        for config in order:
            steps, call = timed_fit(
                models[config], dataset, args.steps, args.skip_steps
            )
            rates[config].append(images_per_second(args.batch_size, steps))
            call_rates[config].append(args.batch_size * args.steps / call)
        logging.info("repeat %d/%d done", r + 1, args.repeats)

    # Each step updates each network once: check that fit ran every step.
    expected = args.warmup + args.repeats * args.steps
    for config, model in models.items():
        done = [int(model.d_optimizer.iterations), int(model.g_optimizer.iterations)]
        if done != [expected, expected]:
            raise RuntimeError(f"{config}: {done} updates, expected {expected} each")

    summary = summarize(rates, ("keras-io", "float32"))
    wall = time.perf_counter() - wall_start

    def per_repeat(values):
        return "; ".join(
            f"{impl} {policy}: " + ", ".join(f"{x:.1f}" for x in values[impl, policy])
            for impl, policy in configs
        )

    section = "\n".join(
        [
            "## DCGAN-CIFAR training throughput",
            "",
            *run_lines(argv, load, args.note, date),
            f"- Batch size: {args.batch_size}; warm-up: {args.warmup} steps "
            f"(untimed); timed: {args.repeats} repeats x {args.steps} steps per "
            f"configuration, interleaved, the first {args.skip_steps} steps of "
            "each repeat untimed; each step timed from the start to the end of "
            "its train batch (not the fit() call); medians over repeats, ratios "
            "the medians of the ratios within a round",
            "- Data: synthetic uniform random float32 images in [0, 1], shape "
            f"{IMAGE_SHAPE} (throughput does not depend on pixel values)",
            "- Model: DCGAN 32x32x3, base_filters 64, latent_dim 100, "
            "Adam(2e-4, beta_1=0.5) for both networks",
            *(f"- {line}" for line in count_lines),
            f"- Parameter counts match: {'yes' if same else 'NO'}",
            f"- Total wall time of the benchmark run: {wall:.0f} s "
            "(building, warm-up and timed fits; imports excluded)",
            "",
            markdown_table(summary),
            "",
            "Ratios (medians of the per-round ratios): "
            + "; ".join(ratio_lines(rates)),
            "",
            f"img/s per repeat (steps timed): {per_repeat(rates)}",
            "",
            "img/s per repeat of the whole fit() call (the old method, which "
            f"counts stalls at the call's end): {per_repeat(call_rates)}",
            "",
        ]
    )
    print(section)
    if not args.no_write:
        write_section(args.output, section, MARK_START, MARK_END)
        logging.info("wrote section to %s", args.output)
    return 0


if __name__ == "__main__":
    app.run(main)
