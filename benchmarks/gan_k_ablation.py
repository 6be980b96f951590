"""The k of Goodfellow et al.'s Algorithm 1 (discriminator steps per
generator step) on gan_mnist: k = 1, 2, 5 at equal generator steps, each
trained model's samples measured.

For each k of `--k`, a fresh `tfgen.GAN` is built from the zoo entry's config
(`--entry`, gan_mnist: MLP 256-512-1024, dropout 0.3, latent 100,
non-saturating generator loss) with `d_steps=k`, and trained with the
entry's recipe (Adam 2e-4, beta_1 0.5, its precision and seed) for
`--generator-steps` generator updates (default the entry's: 20 epochs of
60,000 // 64 = 937 batches, 18,740 steps).

Every discriminator update sees a batch of the recipe's size m (64), as in
the algorithm (k minibatches of m examples, then one generator update on m
latents): `AdversarialModel.train_step` makes its k updates on the slices
`x[i::k]` of the batch it is fed, so the batch fed to each step is k·m, and
k = 5 reads five times the real images of k = 1 in the same number of
generator steps. All runs read one stream of images: the training split
shuffled with the recipe's seed, reshuffled every pass, repeated, then cut
into batches of k·m (batches run across passes, none is dropped), so k = 1's
images are the first fifth of k = 5's, in the same order. Each run starts
from the same initial weights (the recipe's seed set before building).

Measured per k, on `--num-samples` (10,000) samples drawn with seeds
`--seed`, `--seed`+1, ... per batch, through `tfgen.metrics.evaluate` (the
code path of benchmarks/fid.py):

- the MNIST `DomainClassifier`'s classifier score (one split, TF-GAN's
  `mnist_score`) and the Fréchet distance of its penultimate features
  (classifier FD) against the reference split, and the share of the
  samples it assigns to each class (its argmax; the smallest share shows a
  dropped mode: 10% is balanced);
- unless `--no-inception`: FID and KID (100 subsets of 1,000) on FID
  Inception pool3 features against the reference split (`--reference-split`,
  test: all 10,000 MNIST test images).

And of the training: wall time and CPU time (this process, every thread;
building and tracing included), the discriminator and generator updates
taken (the optimizers' iteration counts, checked against k x steps and
steps), and the final losses (the means over the last Keras epoch of
`--epoch-steps` generator steps, default one pass of the data at k = 1).

It writes its section of benchmarks/RESULTS.md (between
`<!-- gan_k_ablation:start -->` and `<!-- gan_k_ablation:end -->`) and every
number with its protocol to benchmarks/records/gan_k_ablation.json;
`--no-write` prints both instead.

Run from the repository root:

    export TFGEN_DATA_DIR=~/tfgen_data TFGEN_FID_WEIGHTS=fid_inception_2015_12_05.pt
    python3 benchmarks/gan_k_ablation.py                     # k = 1, 2, 5; writes
    python3 benchmarks/gan_k_ablation.py --k 1,2 --generator-steps 20 \\
        --num-samples 500 --no-inception --no-write          # quick
"""

import datetime
import json
import os
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
from absl import app, flags, logging

import tfgen  # noqa: E402

MARK_START = "<!-- gan_k_ablation:start -->"
MARK_END = "<!-- gan_k_ablation:end -->"
SCRIPT = "benchmarks/gan_k_ablation.py"
RECORD = os.path.join(common.RECORDS_DIR, "gan_k_ablation.json")

flags.DEFINE_list("k", ["1", "2", "5"], "discriminator steps per generator step")
flags.DEFINE_string("entry", "gan_mnist", "zoo entry whose config and recipe train")
flags.DEFINE_integer(
    "generator-steps",
    None,
    "generator updates per run; default the entry's: epochs x (training "
    "images // batch size), 18,740 for gan_mnist",
)
flags.DEFINE_integer(
    "epoch-steps",
    None,
    "generator steps per Keras epoch, over which the final losses are "
    "averaged; default one pass of the data at k = 1 (937 for MNIST); "
    "--generator-steps must be a multiple of it",
)
flags.DEFINE_string("precision", None, "Keras dtype policy; default the recipe's")
flags.DEFINE_integer("num-samples", 10000, "samples measured per k (n_gen)")
flags.DEFINE_string("reference-split", "test", "split of the reference images")
flags.DEFINE_integer("seed", 0, "seed of the first batch of samples")
flags.DEFINE_boolean("no-inception", False, "skip FID and KID (classifier only)")
flags.DEFINE_integer("batch-size", None, "Inception batch (default 64)")
flags.DEFINE_string(
    "work-dir",
    None,
    "keep the Inception features in resumable chunks here (see benchmarks/fid.py)",
)
flags.DEFINE_string(
    "record", RECORD, "JSON file of the runs' records (default benchmarks/records/)"
)
flags.DEFINE_boolean("quiet", False, "no progress bars or per-epoch lines")
common.define_fid_weights_flag()
common.define_data_dir_flag()
common.define_output_flags()
common.define_note_flag()


# ------------------------------------------------------------- the plan
def parse_k(values):
    """The k values as distinct positive ints, in the order given."""
    try:
        ks = [int(v) for v in values]
    except ValueError:
        ks = []
    if not ks or min(ks) < 1 or len(set(ks)) != len(ks):
        raise common.usage_error(
            "--k must be distinct positive integers, comma-separated, e.g. "
            f"1,2,5. Received: {','.join(values)}"
        )
    return ks


def adversarial_recipe(name):
    """The entry's `RecipeSpec`, refused unless its model takes `d_steps`."""
    spec = tfgen.recipes.from_zoo(name)
    cls = tfgen.models.get(spec.model)
    if not issubclass(cls, tfgen.models.AdversarialModel):
        raise SystemExit(
            f"--entry {name}: Expected a GAN entry (an AdversarialModel, which "
            f"takes d_steps). Received: model {spec.model}"
        )
    return spec


def schedule(args, spec, num_train):
    """(generator steps, generator steps per Keras epoch) of every run."""
    one_pass = num_train // spec.batch_size
    steps = args.generator_steps
    if steps is None:
        steps = spec.epochs * one_pass
    if steps < 1:
        raise common.usage_error(
            "--generator-steps must be >= 1 (the entry's default is epochs x "
            f"(training images // batch) = {spec.epochs} x ({num_train} // "
            f"{spec.batch_size})). Received: {steps}"
        )
    epoch = min(args.epoch_steps or one_pass or steps, steps)
    if epoch < 1 or steps % epoch:
        raise common.usage_error(
            f"--generator-steps ({steps}) must be a multiple of --epoch-steps "
            f"(the final losses' window). Received: --epoch-steps {epoch}"
        )
    return steps, epoch


# ------------------------------------------------------------- training
def image_stream(spec, k, data_dir=None):
    """Batches of k x the recipe's batch size from one image stream, the same
    for every k: shuffled with the recipe's seed, reshuffled each pass,
    repeated before batching (batches run across passes)."""
    return tfgen.data.load(
        data_dir=data_dir,
        batch_size=spec.batch_size * k,
        shuffle=True,
        seed=spec.seed,
        repeat=True,
        drop_remainder=True,
        **spec.dataset,
    )


def train(k, spec, args, steps, epoch_steps):
    """A model trained with d_steps=k for `steps` generator steps, and the
    record of its training."""
    batch = spec.batch_size * k
    dataset = image_stream(spec, k, args.data_dir)
    cls = tfgen.models.get(spec.model)
    config = dict(spec.config, d_steps=k)
    wall, cpu = time.perf_counter(), time.process_time()
    model, history = tfgen.training.train(
        lambda: cls(**config),
        dataset,
        steps // epoch_steps,
        precision=args.precision or spec.precision,
        compile_kwargs=lambda: tfgen.recipes.compile_kwargs(spec),
        steps_per_epoch=epoch_steps,
        batch_size=batch,
        sample_every=0,
        seed=spec.seed,
        verbose=0 if args.quiet else 2,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    d_steps = int(model.d_optimizer.iterations.numpy())
    g_steps = int(model.g_optimizer.iterations.numpy())
    if (d_steps, g_steps) != (k * steps, steps):
        raise RuntimeError(
            f"Expected {k * steps} discriminator and {steps} generator updates "
            f"for k={k}. Received: {d_steps} and {g_steps}"
        )
    curves = {
        name: [float(v) for v in history.history[name]] for name in ("d_loss", "g_loss")
    }
    return model, {
        "k": k,
        "d_batch": spec.batch_size,
        "global_batch": batch,
        "d_steps": d_steps,
        "g_steps": g_steps,
        "real_images": steps * batch,
        "train_wall_seconds": round(wall, 1),
        "train_cpu_seconds": round(cpu, 1),
        "final_d_loss": curves["d_loss"][-1],
        "final_g_loss": curves["g_loss"][-1],
        "loss_curves": curves,
    }


# ------------------------------------------------------------ measuring
def measure(model, reference, args):
    """`{metric name: record}` of the samples and the classifier's class shares."""
    start = time.perf_counter()
    shared = dict(
        num_samples=args.num_samples,
        reference=reference,
        seed=args.seed,
        data_dir=args.data_dir,
    )
    classifier = tfgen.metrics.feature_network(
        "classifier", reference=reference, progress=not args.quiet
    )
    results = tfgen.metrics.evaluate(
        model, ["fid", "is", "classes"], features=classifier, **shared
    )
    # The classifier's argmax labels of the same samples (one pass).
    shares = results[-1].protocol["class_shares"]
    if not args.no_inception:
        inception = tfgen.metrics.feature_network(
            "inception",
            weights=args.weights,
            batch_size=args.batch_size,
            progress=not args.quiet,
        )
        results += tfgen.metrics.evaluate(
            model, ["fid", "kid"], features=inception, work_dir=args.work_dir, **shared
        )
    records = {}
    for result in results:
        result.protocol["script"] = SCRIPT
        records[result.name] = result.to_json()
    return {
        "metrics": records,
        "class_shares": shares,
        "min_class_share": min(shares),
        "measure_wall_seconds": round(time.perf_counter() - start, 1),
    }


# --------------------------------------------------------------- report
def _value(run, name, digits):
    record = run["metrics"].get(name)
    if record is None:
        return "-"
    text = f"{record['value']:.{digits}f}"
    if name == "kid":
        text += f" ± {record['std']:.{digits}f}"
    return text


def section(record):
    """The Markdown section of a finished ablation `record`."""
    p = record["protocol"]
    runs = record["runs"]
    inception = any("fid" in r["metrics"] for r in runs)
    classifier = runs[0]["metrics"]["classifier_score"]["protocol"]
    lines = [
        f"## GAN: k discriminator steps per generator step (`{p['entry']}`)",
        "",
        f"`{p['command']}`",
        "",
        f"- Model: `{p['entry']}`'s config ({p['model']}: {p['config_summary']}), "
        f"d_steps = k; recipe: Adam ({optimizers_summary(p['optimizers'])}), "
        f"{p['precision']}, seed "
        f"{p['train_seed']} (the same initial weights for every k).",
        f"- Training: {p['generator_steps']:,} generator steps for every k "
        f"({p['epochs']} Keras epochs of {p['epoch_steps']:,}). Every "
        f"discriminator update sees {p['d_batch']} real images, as in "
        "Algorithm 1 (k minibatches of m, then one generator update on m "
        f"latents): the step is fed k x {p['d_batch']} images and update i "
        "takes the slice x[i::k], so k = 5 reads 5x the images of k = 1.",
        f"- Data: {p['dataset']}, {p['num_train']:,} images, one stream for "
        f"every k: shuffled with seed {p['train_seed']}, reshuffled each pass, "
        "repeated, then batched (batches run across passes, none dropped), so "
        "each k reads a prefix of the same image sequence.",
        f"- Samples: {p['num_samples']:,} per k, `model.sample` with seeds "
        f"{p['sample_seed']}, {p['sample_seed']}+1, ... per batch; reference: "
        f"{p['reference']} (all of it). Classifier: {classifier['features']}; "
        "score over one split (TF-GAN's mnist_score); class shares: its argmax "
        "over the samples (10% each is balanced)."
        + (
            " FID and KID (100 subsets of 1,000): FID Inception pool3, images "
            "rounded to uint8 and resized bilinearly to 299x299."
            if inception
            else " Inception metrics not measured (--no-inception)."
        ),
        "- Times: wall and CPU time (this process, all threads) of each run's "
        "`fit`, model building and tracing included; final losses: means over "
        "the last Keras epoch.",
        f"- Hardware: {p['hardware']}; {p['load']}. Date: {p['date']}.",
    ]
    lines += [f"- Note: {note}" for note in p["notes"]]
    lines += [
        "",
        "| k | D steps | G steps | images fed per step | real images read | "
        "train wall (s) | train CPU (s) | final D loss | final G loss | "
        "classifier score | min class share | classifier FD | FID | KID |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['k']} | {r['d_steps']:,} | {r['g_steps']:,} | "
            f"{r['global_batch']} | {r['real_images']:,} | "
            f"{r['train_wall_seconds']:.0f} | {r['train_cpu_seconds']:.0f} | "
            f"{r['final_d_loss']:.4f} | {r['final_g_loss']:.4f} | "
            f"{_value(r, 'classifier_score', 3)} | "
            f"{100 * r['min_class_share']:.1f}% | "
            f"{_value(r, 'classifier_fd', 2)} | {_value(r, 'fid', 2)} | "
            f"{_value(r, 'kid', 4)} |"
        )
    classes = len(runs[0]["class_shares"])
    lines += [
        "",
        "Class shares of the samples (MNIST classifier's argmax):",
        "",
        "| k | " + " | ".join(str(c) for c in range(classes)) + " |",
        "|---:|" + "---:|" * classes,
    ]
    for r in runs:
        shares = " | ".join(f"{100 * s:.1f}%" for s in r["class_shares"])
        lines.append(f"| {r['k']} | {shares} |")
    return "\n".join(lines)


def config_summary(config):
    keys = ("hidden_units", "dropout", "latent_dim", "generator_loss")
    return ", ".join(f"{key} {config[key]}" for key in keys if key in config)


def optimizers_summary(optimizers):
    """'d_optimizer learning_rate 0.0002, beta_1 0.5, ...; g_optimizer ...'."""
    if not optimizers:
        return "the model's default Adam"
    return "; ".join(
        f"{name} " + ", ".join(f"{key} {value}" for key, value in kwargs.items())
        for name, kwargs in optimizers.items()
    )


# ----------------------------------------------------------------- main
def main(argv):
    args = common.script_args(__name__, argv, arguments=None)
    ks = parse_k(args.k)
    if args.num_samples < 2:
        raise common.usage_error(
            f"--num-samples must be >= 2 (covariances need 2 samples). "
            f"Received: {args.num_samples}"
        )
    args.weights = args.weights or os.environ.get("TFGEN_FID_WEIGHTS")
    if not args.no_write:  # it writes: measure this checkout
        common.require_checkout_tfgen()
    command = common.command_line(__name__, argv)
    spec = adversarial_recipe(args.entry)
    images, _ = tfgen.data.load_arrays(
        spec.dataset["name"], spec.dataset.get("split", "train"), args.data_dir
    )
    steps, epoch_steps = schedule(args, spec, len(images))
    reference = f"{spec.dataset['name']}:{args.reference_split}"
    hardware, load = common.hardware_line(), common.load_line()
    runs = []
    for k in ks:
        logging.info("== k=%d: %d generator steps", k, steps)
        model, run = train(k, spec, args, steps, epoch_steps)
        logging.info(
            "k=%d trained: %.0f s wall, %.0f s CPU",
            k,
            run["train_wall_seconds"],
            run["train_cpu_seconds"],
        )
        run.update(measure(model, reference, args))
        runs.append(run)
    record = {
        "protocol": {
            "entry": args.entry,
            "model": spec.model,
            "config": spec.config,
            "config_summary": config_summary(spec.config),
            "optimizers": spec.optimizers,
            "precision": args.precision or spec.precision,
            "train_seed": spec.seed,
            "dataset": ":".join(
                [spec.dataset["name"], spec.dataset.get("split", "train")]
            ),
            "num_train": len(images),
            "d_batch": spec.batch_size,
            "generator_steps": steps,
            "epoch_steps": epoch_steps,
            "epochs": steps // epoch_steps,
            "num_samples": args.num_samples,
            "sample_seed": args.seed,
            "reference": reference,
            "hardware": hardware,
            "load": load,
            "notes": list(args.note),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "tfgen_version": tfgen.__version__,
            "command": command,
            "script": SCRIPT,
        },
        "runs": runs,
    }
    text = section(record)
    print(text)
    if args.no_write:
        print(json.dumps(record, indent=2))
        return 0
    tfgen.reporting.write_section(args.output, text, MARK_START, MARK_END)
    os.makedirs(os.path.dirname(os.path.abspath(args.record)), exist_ok=True)
    with open(args.record, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    logging.info("wrote %s and %s", args.output, args.record)
    return 0


if __name__ == "__main__":
    app.run(main)
