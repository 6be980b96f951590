"""Sampling speed of PixelCNN and PixelRNN: a keras-io style loop vs. tfgen's
samplers.

What it measures: images per second to sample 16 binarized-MNIST images
(28x28x1, Bernoulli pixels) and 4 CIFAR-10 images (32x32x3, a 256-way softmax
per colour) from one PixelCNN each, in one run, side by side:

- keras-io: the loop of the keras-io PixelCNN example ("PixelCNN", ADMoreau):
  a Python loop over rows, columns and colours that calls
  `model.predict(pixels)` on the whole batch for every position and draws
  that position's value on the host;
- compiled: tfgen's one-graph `tf.while_loop` over positions that reruns the
  whole network per step (`model.sample(method="compiled")`);
- cached: tfgen's cached sampler (Ramachandran et al. 2017) that computes
  each layer at the current position only, as a plain TF graph
  (`method="cached", jit_compile=False`) and compiled by XLA
  (`method="cached"`, the default).

Each tfgen loop is built by `tfgen.sampling.sampler(model, method,
jit_compile)` (the loop `model.sample` runs). All four read the same
pre-drawn noise (`tfgen.sampling.sampling_noise`), so they must draw the
same images; the run checks it and reports the fraction of identical pixels
against the compiled loop.

How: each tfgen sampler is called once untimed (tracing and XLA compilation;
reported as "first call") and then timed over `--repeats` calls (median).
The keras-io loop is timed once, with `predict`'s first-call cost included.
It is by far the slowest (~0.1-0.3 s per `predict` call here, 3072 calls for
a CIFAR image), so by default it runs on the first 4 rows of the CIFAR
images and the time is scaled to 32 rows; every `predict` call runs the
whole network on the whole batch, so its cost does not depend on the
position. img/s = images / seconds.

Models: the MNIST model is the `pixelcnn_mnist` zoo entry (trained weights if
present); the CIFAR model is a PixelCNN with the `--cifar-config`
architecture and random weights. Sampling time does not depend on the
weights' values.

PixelRNN part (`--parts pixelrnn`): the `row_lstm_mnist` and
`diagonal_bilstm_mnist` zoo entries (trained weights), `--rnn-n` binarized
MNIST images each, the compiled loop (what sampled PixelRNNs before their
layers could step one position at a time) against the cached sampler as a
TF graph and under XLA, with the same noise and the same timing protocol;
the speed-up is against the compiled loop (the keras-io loop is left out:
at ~0.1 s per `predict` it would take hours).

PixelCNN++ part (`--parts pixelcnn_pp`, not in the default run): the
untrained `recipes/pixelcnn_pp_cifar.json` network (float32) and a smaller
one on 16x16x3 images (`PP_SMALL`), `--cifar-n` images each, the compiled loop
against the cached sampler with its down/up-sampling caches
(`tfgen.models.pixel_cnn_pp_steps`) as a TF graph and under XLA, same noise,
same timing. On the recipe's network the compiled loop (3072 whole-network
passes) is timed on its first `PP_COMPILED_ROWS` rows, the rest of the
image given (positions known in every image skip the network), and scaled
to 32 rows; the identical-pixel check covers those rows.

Run from the repository root:

    python3 benchmarks/sampling_speed.py             # writes benchmarks/RESULTS.md
    python3 benchmarks/sampling_speed.py --no-write  # prints only
    python3 benchmarks/sampling_speed.py --parts pixelrnn   # one part
    python3 benchmarks/sampling_speed.py --parts pixelcnn_pp --repeats 1 --no-write
    python3 benchmarks/sampling_speed.py --helpfull         # every flag
"""

import datetime
import json
import os
import statistics
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

import tfgen  # noqa: E402
from tfgen import sampling, zoo  # noqa: E402
from tfgen.reporting import write_section  # noqa: E402

MARK_START = "<!-- sampling_speed:start -->"
MARK_END = "<!-- sampling_speed:end -->"
README_START = "<!-- sampling_speed_summary:start -->"
README_END = "<!-- sampling_speed_summary:end -->"
RNN_START = "<!-- sampling_speed_pixelrnn:start -->"
RNN_END = "<!-- sampling_speed_pixelrnn:end -->"
RNN_README_START = "<!-- sampling_speed_pixelrnn_summary:start -->"
RNN_README_END = "<!-- sampling_speed_pixelrnn_summary:end -->"
PP_START = "<!-- sampling_speed_pixelcnn_pp:start -->"
PP_END = "<!-- sampling_speed_pixelcnn_pp:end -->"
PP_README_START = "<!-- sampling_speed_pixelcnn_pp_summary:start -->"
PP_README_END = "<!-- sampling_speed_pixelcnn_pp_summary:end -->"
PARTS = ("pixelcnn", "pixelrnn", "pixelcnn_pp")
DEFAULT_PARTS = ("pixelcnn", "pixelrnn")
PP_RECIPE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "recipes",
    "pixelcnn_pp_cifar.json",
)
PP_SMALL = {
    "image_shape": [16, 16, 3],
    "num_levels": 256,
    "filters": 16,
    "num_blocks": 1,
    "num_mixtures": 5,
    "dropout": 0.0,
    "num_downsamplings": 2,
}
PP_COMPILED_ROWS = 2
SAMPLERS = [
    ("compiled loop (tf.while_loop, full network per step)", "compiled", False),
    ("cached sampler (TF graph)", "cached", False),
    ("cached sampler (XLA, default)", "cached", True),
]
DEFAULT_CIFAR = {"filters": 48, "num_blocks": 5}


def keras_io_loop(model, n, noise, rows=None, temperature=1.0):
    """The keras-io example's sampling loop: `predict` per position, over
    the first `rows` rows (all by default)."""
    height, width, channels = model.image_shape
    # The network as a stand-alone Keras model on images in [0, 1].
    inputs = keras.Input(model.image_shape)
    predictor = keras.Model(inputs, model.network(model.network_input(inputs)))
    pixels = np.zeros((n, height, width, channels), "float32")
    noise = np.asarray(noise)
    for row in range(rows or height):
        for col in range(width):
            for channel in range(channels):
                logits = predictor.predict(pixels, verbose=0)[:, row, col, channel]
                scaled = logits / temperature + noise[:, row, col, channel]
                if model.num_levels == 2:
                    value = (scaled > 0).astype("float32")
                else:
                    value = np.argmax(scaled, axis=-1) / (model.num_levels - 1)
                pixels[:, row, col, channel] = value
    return pixels


def tfgen_sampler(model, method, jit_compile, rows=None):
    """The loop `model.sample` runs, on pre-drawn noise; with `rows`, only
    the first rows are drawn (the rest given, as in completion)."""
    run = sampling.sampler(model, method, jit_compile=jit_compile)

    def sample(noise):
        n = int(noise.shape[0])
        levels = tf.zeros((n, *model.image_shape), tf.int32)
        known = np.zeros((n, *model.image_shape), bool)
        if rows is not None:
            known[:, rows:] = True
        known = tf.constant(known)
        labels = tf.zeros([n, 0], tf.float32)
        out = run(levels, known, noise, labels, tf.constant(1.0))
        return np.asarray(out) / (model.num_levels - 1)

    return sample


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def time_samplers(label, model, noise, repeats, compiled_rows=None):
    """{sampler name: (first call s, median s, images)} for `SAMPLERS`; the
    compiled loop on its first `compiled_rows` rows where given."""
    results = {}
    for name, method, jit in SAMPLERS:
        rows = compiled_rows if method == "compiled" else None
        sample = tfgen_sampler(model, method, jit, rows)
        first, out = timed(sample, noise)
        times = []
        for _ in range(repeats):
            seconds, out = timed(sample, noise)
            times.append(seconds)
        results[name] = (first, statistics.median(times), out)
        logging.info(
            "%s %s: first %.2f s, median %.3f s",
            label,
            name,
            first,
            statistics.median(times),
        )
    return results


def table_rows(rows, baseline_seconds, reference, n):
    table = []
    for name, first, seconds, out in rows:
        same = float(np.mean(np.isclose(out, reference)))
        table.append(
            dict(
                sampler=name,
                first=first,
                seconds=seconds,
                images_per_second=n / seconds,
                speedup=baseline_seconds / seconds,
                identical=same,
            )
        )
    return table


def measure(label, model, n, repeats, seed, keras_io_rows=None):
    noise = sampling.sampling_noise((n, *model.image_shape), model.num_levels, seed)
    rows = []
    configs = SAMPLERS
    results = time_samplers(label, model, noise, repeats)
    reference = results[configs[0][0]][2]
    height = model.image_shape[0]
    keras_rows = min(keras_io_rows or height, height)
    keras_seconds, keras_out = timed(keras_io_loop, model, n, noise, keras_rows)
    # Every predict call costs the same (the whole network on the whole
    # batch), so the time of the first rows scales to the whole image.
    keras_seconds *= height / keras_rows
    logging.info("%s keras-io loop: %.1f s", label, keras_seconds)
    name = "keras-io loop (`model.predict` per position)"
    if keras_rows < height:
        name += (
            f", timed on rows 0-{keras_rows - 1} and scaled x{height / keras_rows:g}"
        )
    keras_out[:, keras_rows:] = reference[:, keras_rows:]
    rows.append((name, None, keras_seconds, keras_out))
    for name, _, _ in configs:
        first, median, out = results[name]
        rows.append((name, first, median, out))
    return table_rows(rows, keras_seconds, reference, n)


def measure_rnn(label, model, n, repeats, seed):
    """The samplers of a PixelRNN; speed-up against the compiled loop."""
    noise = sampling.sampling_noise((n, *model.image_shape), model.num_levels, seed)
    results = time_samplers(label, model, noise, repeats)
    compiled = results[SAMPLERS[0][0]]
    rows = [(name, *results[name]) for name, _, _ in SAMPLERS]
    return table_rows(rows, compiled[1], compiled[2], n)


def measure_pp(label, model, n, repeats, seed, compiled_rows=None):
    """The samplers of a PixelCNN++; speed-up against the compiled loop,
    whose time on `compiled_rows` rows (where given) is scaled to the
    image, and pixels compared on the rows it drew."""
    noise = sampling.sampling_noise((n, *model.image_shape), model.num_levels, seed)
    results = time_samplers(label, model, noise, repeats, compiled_rows)
    height = model.image_shape[0]
    rows = compiled_rows or height
    compiled_name = SAMPLERS[0][0]
    first, seconds, out = results[compiled_name]
    if rows < height:
        compiled_name += f", timed on rows 0-{rows - 1} and scaled x{height / rows:g}"
    table = [(compiled_name, first, seconds * height / rows, out[:, :rows])]
    # PixelCNN++'s cached sampler runs as a TF graph by default (its step
    # program's `xla_by_default`), not under XLA.
    shown = {
        "cached sampler (TF graph)": "cached sampler (TF graph, default)",
        "cached sampler (XLA, default)": "cached sampler (XLA)",
    }
    table += [
        (shown[name], *results[name][:2], results[name][2][:, :rows])
        for name, _, _ in SAMPLERS[1:]
    ]
    return table_rows(table, table[0][2], table[0][3], n)


def pixelcnn_pp_part(args, load):
    start = time.perf_counter()
    with open(PP_RECIPE) as f:
        recipe = json.load(f)["config"]
    tables = []
    for title, config, rows in (
        ("recipes/pixelcnn_pp_cifar.json", recipe, PP_COMPILED_ROWS),
        ("a smaller PixelCNN++ on 16x16 images", PP_SMALL, None),
    ):
        keras.utils.set_random_seed(args.seed)
        model = tfgen.models.PixelCNNPlusPlus(**{**config, "seed": args.seed})
        table = measure_pp(title, model, args.cifar_n, args.repeats, args.seed, rows)
        shown = {k: v for k, v in config.items() if k not in ("image_shape", "seed")}
        height, width, channels = model.image_shape
        line = (
            f"PixelCNN++ {json.dumps(shown)} ({model.count_params():,} parameters, "
            f"random weights), {height}x{width}x{channels}, a coupled logistic "
            f"mixture per pixel, {height * width * channels} steps"
        )
        tables.append((title, line, table))
    wall = time.perf_counter() - start
    lines = [
        "## PixelCNN++ sampling speed",
        "",
        "`python3 benchmarks/sampling_speed.py --parts pixelcnn_pp "
        f"--repeats {args.repeats} --cifar-n {args.cifar_n}`",
        "",
        f"- Hardware: {common.hardware_line()}",
        f"- {load} (the CPU is shared; ratios are measured in one run)",
        f"- Date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
        "- Protocol: each sampler reads the same pre-drawn noise (seed "
        f"{args.seed}), so all must draw the same images; one untimed first call "
        f"(tracing, XLA compilation), then the median of {args.repeats} timed "
        "call(s). The baseline is the compiled loop (the whole network per "
        f"colour of each pixel); on the recipe's network it draws the first "
        f"{PP_COMPILED_ROWS} rows only (the rest given, so those positions skip "
        "the network), its time is scaled to the image and the pixels are "
        "compared on those rows. float32 throughout.",
        f"- Total wall time of this part: {wall:.0f} s",
    ]
    for title, line, table in tables:
        lines += ["", markdown(title, line, args.cifar_n, table, "compiled")]
    short = versus_compiled_summary(
        "PixelCNN++",
        "pixelcnn_pp",
        [(title, args.cifar_n, table) for title, _, table in tables],
    )
    return "\n".join(lines), short


def versus_compiled_summary(family, part, tables):
    """README lines of a part measured against the compiled loop: per
    (title, images, table), each sampler's img/s and speed-up."""
    date = datetime.date.today().isoformat()
    lines = [
        f"{family} sampling on the same CPU ({date}, "
        f"`python3 benchmarks/sampling_speed.py --parts {part}`):",
        "",
    ]
    for title, n, table in tables:
        compiled, graph, xla = table
        lines.append(
            f"- {title}, {n} images: compiled loop "
            f"{compiled['images_per_second']:.3g} img/s, cached sampler "
            f"{graph['images_per_second']:.3g} img/s as a TF graph "
            f"({graph['speedup']:.0f}x) and {xla['images_per_second']:.3g} img/s "
            f"under XLA ({xla['speedup']:.0f}x the compiled loop); "
            f"{100 * min(r['identical'] for r in table):.2f}% of pixels identical."
        )
    return "\n".join(lines)


def markdown(title, model_line, n, table, baseline="keras-io"):
    lines = [
        f"**{title}** — {n} images; {model_line}",
        "",
        f"| Sampler | first call (s) | time (s) | img/s | vs {baseline} | pixels identical to compiled |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in table:
        first = "–" if row["first"] is None else f"{row['first']:.1f}"
        lines.append(
            f"| {row['sampler']} | {first} | {row['seconds']:.2f} | "
            f"{row['images_per_second']:.3g} | {row['speedup']:.0f}x | "
            f"{100 * row['identical']:.2f}% |"
        )
    return "\n".join(lines)


def summary(mnist_table, cifar_table, args):
    """Two lines for the README: each sampler's img/s and the cached
    sampler's speed-up over the keras-io loop, measured in this run."""
    date = datetime.date.today().isoformat()
    lines = [
        f"Sampling speed on this project's shared 2-core CPU ({date}, "
        "`python3 benchmarks/sampling_speed.py`; protocol in benchmarks/RESULTS.md):",
        "",
    ]
    for title, n, table in (
        ("binarized MNIST", args.mnist_n, mnist_table),
        ("CIFAR-10 (256-way)", args.cifar_n, cifar_table),
    ):
        keras_io, compiled, cached_graph, cached_xla = table
        lines.append(
            f"- {title}, {n} images: keras-io loop {keras_io['images_per_second']:.3g} img/s, "
            f"compiled loop {compiled['images_per_second']:.3g} img/s "
            f"({compiled['speedup']:.0f}x), cached sampler "
            f"{cached_graph['images_per_second']:.3g} img/s as a TF graph "
            f"({cached_graph['speedup']:.0f}x) and {cached_xla['images_per_second']:.3g} "
            f"img/s under XLA ({cached_xla['speedup']:.0f}x the keras-io loop; "
            f"first call {cached_xla['first']:.0f} s with compilation); "
            f"{100 * min(r['identical'] for r in table):.2f}% of pixels identical across samplers."
        )
    return "\n".join(lines)


def rnn_entry_line(name, model):
    entry = zoo.get(name)
    config = {k: v for k, v in entry.config.items() if k != "image_shape"}
    return (
        f"`{name}` ({json.dumps(config)}, {model.count_params():,} parameters, "
        "trained weights), 28x28x1, Bernoulli pixels, 784 steps"
    )


def pixelrnn_part(args, load):
    start = time.perf_counter()
    tables = []
    for name in [e for e in args.rnn_entries if e]:
        model = zoo.load(name)
        table = measure_rnn(name, model, args.rnn_n, args.rnn_repeats, args.seed)
        tables.append((name, model, table))
    wall = time.perf_counter() - start
    lines = [
        "## PixelRNN sampling speed",
        "",
        "`python3 benchmarks/sampling_speed.py --parts pixelrnn`",
        "",
        f"- Hardware: {common.hardware_line()}",
        f"- {load} (the CPU is shared; ratios are measured in one run)",
        f"- Date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
        "- Protocol: each sampler reads the same pre-drawn noise (seed "
        f"{args.seed}), so all must draw the same images; one untimed first call "
        f"(tracing, XLA compilation), then the median of {args.rnn_repeats} timed "
        "call(s). The baseline is the compiled loop, which reruns the whole "
        "network (every row or diagonal scan) at each of the 784 positions: "
        "how tfgen sampled PixelRNNs before their layers stepped one position "
        "at a time (`PixelLSTMLayer.position_step`). float32 throughout.",
        f"- Total wall time of this part: {wall:.0f} s",
    ]
    for name, model, table in tables:
        lines += [
            "",
            markdown(name, rnn_entry_line(name, model), args.rnn_n, table, "compiled"),
        ]
    short = versus_compiled_summary(
        "PixelRNN",
        "pixelrnn",
        [(f"`{name}`", args.rnn_n, table) for name, _, table in tables],
    )
    return "\n".join(lines), short


def pixelcnn_part(args, load):
    start = time.perf_counter()
    entry = zoo.get(args.mnist_entry)
    trained = bool(entry.weights) and os.path.isfile(entry.weights_path or "")
    mnist = zoo.load(args.mnist_entry, weights=trained)
    cifar_config = json.loads(args.cifar_config)
    keras.utils.set_random_seed(args.seed)
    cifar = tfgen.models.PixelCNN(
        image_shape=(32, 32, 3), num_levels=256, seed=args.seed, **cifar_config
    )
    mnist_table = measure(
        "mnist", mnist, args.mnist_n, args.repeats, args.seed, args.keras_io_rows_mnist
    )
    cifar_table = measure(
        "cifar", cifar, args.cifar_n, args.repeats, args.seed, args.keras_io_rows_cifar
    )
    wall = time.perf_counter() - start
    mnist_line = (
        f"`{args.mnist_entry}` ({json.dumps({k: v for k, v in entry.config.items() if k != 'image_shape'})}, "
        f"{mnist.count_params():,} parameters, {'trained' if trained else 'untrained'} weights), "
        "28x28x1, Bernoulli pixels, 784 steps"
    )
    cifar_line = (
        f"PixelCNN {json.dumps(cifar_config)} ({cifar.count_params():,} parameters, "
        "random weights), 32x32x3, 256-way softmax per colour, 3072 steps"
    )
    section = "\n".join(
        [
            "## PixelCNN sampling speed",
            "",
            "`python3 benchmarks/sampling_speed.py`",
            "",
            f"- Hardware: {common.hardware_line()}",
            f"- {load} (the CPU is shared; ratios are measured in one run)",
            f"- Date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
            "- Protocol: every sampler reads the same pre-drawn noise (seed "
            f"{args.seed}), so all must draw the same images. tfgen samplers: one "
            f"untimed first call (tracing, XLA compilation), then the median of "
            f"{args.repeats} timed calls; the keras-io loop (`predict` on the batch "
            "for every position and colour, value drawn on the host) is timed once, "
            f"on its first {args.keras_io_rows_mnist} (MNIST) and "
            f"{args.keras_io_rows_cifar} (CIFAR) rows, scaled to the whole image where "
            "fewer (each `predict` call does the same work wherever the position); "
            "its identical-pixel check covers the rows it ran. "
            "float32 throughout. img/s = images / seconds.",
            f"- Total wall time of the benchmark run: {wall:.0f} s",
            "",
            markdown("Binarized MNIST", mnist_line, args.mnist_n, mnist_table),
            "",
            markdown("CIFAR-10", cifar_line, args.cifar_n, cifar_table),
        ]
    )
    return section, summary(mnist_table, cifar_table, args)


flags.DEFINE_string("mnist-entry", "pixelcnn_mnist", "zoo entry of the MNIST model")
flags.DEFINE_integer("mnist-n", 16, "MNIST images per sampler", lower_bound=1)
flags.DEFINE_integer("cifar-n", 4, "CIFAR images per sampler", lower_bound=1)
flags.DEFINE_string(
    "cifar-config",
    json.dumps(DEFAULT_CIFAR),
    "JSON of PixelCNN arguments of the CIFAR model",
)
flags.DEFINE_integer("repeats", 3, "timed calls per sampler (median)", lower_bound=1)
flags.DEFINE_integer(
    "keras-io-rows-mnist",
    28,
    "rows the keras-io loop is timed on (the rest is scaled; 0: all)",
    lower_bound=0,
)
flags.DEFINE_integer(
    "keras-io-rows-cifar", 4, "as --keras-io-rows-mnist, for CIFAR", lower_bound=0
)
flags.DEFINE_integer("seed", 0, "seed of the pre-drawn noise")
flags.DEFINE_list(
    "parts",
    list(DEFAULT_PARTS),
    f"comma-separated parts to measure, of {', '.join(PARTS)}",
)
flags.DEFINE_list(
    "rnn-entries",
    ["row_lstm_mnist", "diagonal_bilstm_mnist"],
    "comma-separated PixelRNN zoo entries of the pixelrnn part",
)
flags.DEFINE_integer("rnn-n", 16, "images per PixelRNN", lower_bound=1)
flags.DEFINE_integer(
    "rnn-repeats", 1, "timed calls per PixelRNN sampler", lower_bound=1
)
common.define_output_flags(readme="a short summary")


def main(argv):
    args = common.script_args(__name__, argv)
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown or not args.parts:
        raise common.usage_error(
            f"Expected --parts among {PARTS}. Received: --parts={args.parts}"
        )
    if not args.no_write:  # it writes: measure this checkout
        common.require_checkout_tfgen()
    load = common.load_line()
    parts = {
        "pixelcnn": (pixelcnn_part, MARK_START, MARK_END, README_START, README_END),
        "pixelrnn": (
            pixelrnn_part,
            RNN_START,
            RNN_END,
            RNN_README_START,
            RNN_README_END,
        ),
        "pixelcnn_pp": (
            pixelcnn_pp_part,
            PP_START,
            PP_END,
            PP_README_START,
            PP_README_END,
        ),
    }
    for part in args.parts:
        run, start, end, readme_start, readme_end = parts[part]
        section, short = run(args, load)
        print(section)
        if not args.no_write:
            write_section(args.output, section, start, end)
            write_section(args.readme, short, readme_start, readme_end)
            logging.info("wrote %s and %s", args.output, args.readme)
    return 0


if __name__ == "__main__":
    app.run(main)
