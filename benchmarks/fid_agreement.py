"""Agreement of tfgen's Keras FID Inception with the TorchScript original.

What it measures, on N real CIFAR-10 images (set A: the first N of the
training split; set B: the first N of the test split), in one run:

- the pool3 features (n, 2048) of both sets from
  1. the TorchScript FID network (`fid_inception_2015_12_05.pt`, TF's
     inception-2015-12-05 weights) run by PyTorch on CPU, after
     `F.interpolate(size=(299, 299), mode="bilinear", align_corners=False)`
     and `(x - 128) / 128` (StyleGAN's preprocessing), and
  2. `tfgen.metrics.FIDInceptionV3` with the same file's weights, converted
     by tfgen without PyTorch, preprocessing inside the Keras model;
- the largest relative feature difference, per image
  `max|f_keras - f_torch| / max|f_torch|` (target <= 1e-4), and the same
  with L2 norms;
- FID(A, B) from each network's features, both through
  `tfgen.metrics.frechet_distance` (float64, scipy sqrtm), and their relative
  difference (target <= 0.1%);
- features throughput (img/s) of both, preprocessing included, first batch
  (tracing, warm-up) excluded, with the same number of CPU threads;
- a reader check: PyTorch saves the same weights as a pytorch-fid-style
  state dict (torchvision names) in its zip and its legacy layouts; tfgen
  reads both without PyTorch, and their features must equal those of the
  TorchScript conversion.

PyTorch runs in a throwaway virtualenv (default /tmp/torchvenv, created with
`python3 -m venv` and `pip install torch==2.13.0 numpy` when missing), in a
subprocess, so tfgen itself never imports torch.

Run from the repository root:

    TFGEN_DATA_DIR=~/tfgen_data python3 benchmarks/fid_agreement.py \\
        --weights fid_inception_2015_12_05.pt             # N=500, writes RESULTS.md
    python3 benchmarks/fid_agreement.py --n 64 --no-write  # quick check
    python3 benchmarks/fid_agreement.py --helpfull         # every flag
"""

import datetime
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
from absl import app, flags, logging

MARK_START = "<!-- fid_agreement:start -->"
MARK_END = "<!-- fid_agreement:end -->"
TORCH_VERSION = "2.13.0"

TORCH_WORKER = textwrap.dedent(
    '''
    """Runs in the torch virtualenv: TorchScript features, or .pth exports."""
    import json, sys, time
    import numpy as np
    import torch
    import torch.nn.functional as F

    args = json.loads(sys.argv[1])
    torch.set_num_threads(args["threads"])
    net = torch.jit.load(args["model"], map_location="cpu").eval()

    if args["mode"] == "features":
        images = np.load(args["images"])  # uint8 (n, H, W, 3)
        out, seconds, timed = [], 0.0, 0
        with torch.no_grad():
            for i, start in enumerate(range(0, len(images), args["batch_size"])):
                batch = images[start : start + args["batch_size"]]
                t0 = time.perf_counter()
                x = torch.from_numpy(batch).permute(0, 3, 1, 2).to(torch.float32)
                x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
                x = (x - 128) / 128
                f = net(x).numpy()
                if i > 0:  # the first batch warms up
                    seconds += time.perf_counter() - t0
                    timed += len(batch)
                out.append(f)
        np.save(args["out"], np.concatenate(out))
        print(json.dumps({"seconds": seconds, "timed": timed, "torch": torch.__version__}))
    else:  # export the weights as pytorch-fid state dicts
        names = json.loads(open(args["names"]).read())  # TF unit -> torchvision
        params = dict(net.named_parameters())
        state = {}
        for unit, tv in names.items():
            p = "net.layers." + unit
            state[tv + ".conv.weight"] = params[p + ".weight"].detach().clone()
            state[tv + ".bn.weight"] = torch.ones_like(params[p + ".beta"])
            state[tv + ".bn.bias"] = params[p + ".beta"].detach().clone()
            state[tv + ".bn.running_mean"] = params[p + ".mean"].detach().clone()
            state[tv + ".bn.running_var"] = params[p + ".var"].detach().clone()
            state[tv + ".bn.num_batches_tracked"] = torch.tensor(0)
        g = torch.Generator().manual_seed(0)
        state["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.01
        state["fc.bias"] = torch.randn(1008, generator=g) * 0.01
        torch.save(state, args["zip"])
        torch.save(state, args["legacy"], _use_new_zipfile_serialization=False)
        np.save(args["fc"], state["fc.weight"].numpy())
        print(json.dumps({"tensors": len(state)}))
    '''
)


# ------------------------------------------------------------- torch side
def ensure_venv(venv):
    python = os.path.join(venv, "bin", "python")
    probe = [python, "-c", "import torch, numpy; print(torch.__version__)"]
    if os.path.isfile(python):
        result = subprocess.run(probe, capture_output=True, text=True)
        if result.returncode == 0 and result.stdout.strip().startswith(TORCH_VERSION):
            return python
    logging.info("creating %s with torch==%s (CPU) ...", venv, TORCH_VERSION)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", f"torch=={TORCH_VERSION}", "numpy"],
        check=True,
    )
    return python


def run_torch(python, worker, **args):
    result = subprocess.run(
        [python, worker, json.dumps(args)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"torch worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------- keras side
def keras_features(extractor, images):
    """Features, timed like the torch side: first batch excluded."""
    import numpy as np

    bs = extractor.batch_size
    first = extractor.features(images[:bs])
    start = time.perf_counter()
    rest = extractor.features(images[bs:]) if len(images) > bs else first[:0]
    seconds = time.perf_counter() - start
    return np.concatenate([first, rest]), seconds, len(images) - min(bs, len(images))


def relative_differences(keras_f, torch_f):
    import numpy as np

    diff = np.abs(keras_f.astype("float64") - torch_f.astype("float64"))
    scale_inf = np.abs(torch_f).max(axis=1)
    rel_inf = diff.max(axis=1) / scale_inf
    rel_l2 = np.linalg.norm(diff, axis=1) / np.linalg.norm(torch_f, axis=1)
    return float(rel_inf.max()), float(rel_l2.max()), float(diff.max())


# ----------------------------------------------------------------- report
flags.DEFINE_integer("n", 500, "images per set (2 sets)")
common.define_fid_weights_flag()
common.define_data_dir_flag()
flags.DEFINE_integer("batch-size", 50, "images per batch, both sides", lower_bound=1)
flags.DEFINE_integer(
    "threads", os.cpu_count(), "CPU threads of each side", lower_bound=1
)
flags.DEFINE_string("venv", "/tmp/torchvenv", "the torch virtualenv (made if missing)")
common.define_output_flags()
flags.DEFINE_boolean("skip-pth-check", False, "skip the .pth reader check")


def main(argv):
    args = common.script_args(__name__, argv)
    args.weights = args.weights or os.environ.get("TFGEN_FID_WEIGHTS")
    if not args.weights or not os.path.isfile(args.weights):
        raise common.usage_error(
            "--weights (or $TFGEN_FID_WEIGHTS) must name the TorchScript "
            f"fid_inception_2015_12_05.pt. Received: {args.weights!r}"
        )
    if args.n < 2:
        raise common.usage_error(
            f"--n must be >= 2 (FID needs covariances). Received: {args.n}"
        )
    if not args.no_write:  # it writes: measure this checkout's tfgen
        common.require_checkout_tfgen()
    wall_start = time.perf_counter()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load = common.load_line()

    python = ensure_venv(args.venv)

    import numpy as np
    import tensorflow as tf

    # Before TF starts: each framework gets the same number of threads.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import tfgen

    inception = tfgen.metrics.inception

    real_a = tfgen.data.load_arrays("cifar10", "train", data_dir=args.data_dir)[0]
    real_b = tfgen.data.load_arrays("cifar10", "test", data_dir=args.data_dir)[0]
    sets = {"A": real_a[: args.n], "B": real_b[: args.n]}
    del real_a, real_b

    with tempfile.TemporaryDirectory(prefix="fid_agreement_") as tmp:
        worker = os.path.join(tmp, "torch_worker.py")
        with open(worker, "w") as f:
            f.write(TORCH_WORKER)
        cache = os.path.join(tmp, "cache")

        start = time.perf_counter()
        network = inception.load_fid_inception(args.weights, cache_dir=cache)
        convert_seconds = time.perf_counter() - start
        extractor = tfgen.metrics.FeatureExtractor(
            network=network, batch_size=args.batch_size, progress=False
        )

        feats, speed = {}, {"torch": [0.0, 0], "keras": [0.0, 0]}
        torch_version = None
        for name, images in sets.items():
            path = os.path.join(tmp, f"{name}.npy")
            np.save(path, images)
            logging.info("set %s: torch ...", name)
            info = run_torch(
                python,
                worker,
                mode="features",
                model=args.weights,
                images=path,
                out=path + ".torch.npy",
                batch_size=args.batch_size,
                threads=args.threads,
            )
            torch_version = info["torch"]
            speed["torch"][0] += info["seconds"]
            speed["torch"][1] += info["timed"]
            logging.info("set %s: keras ...", name)
            f_keras, seconds, timed = keras_features(extractor, images)
            speed["keras"][0] += seconds
            speed["keras"][1] += timed
            feats[name] = (f_keras, np.load(path + ".torch.npy"))

        f_all_keras = np.concatenate([feats["A"][0], feats["B"][0]])
        f_all_torch = np.concatenate([feats["A"][1], feats["B"][1]])
        rel_inf, rel_l2, abs_max = relative_differences(f_all_keras, f_all_torch)

        def fid_of(index):
            a = tfgen.metrics.compute_statistics(feats["A"][index])
            b = tfgen.metrics.compute_statistics(feats["B"][index])
            return tfgen.metrics.frechet_distance(a.mu, a.sigma, b.mu, b.sigma)

        fid_keras, fid_torch = fid_of(0), fid_of(1)
        fid_rel = abs(fid_keras - fid_torch) / abs(fid_torch)

        pth_lines = []
        if not args.skip_pth_check:
            logging.info("reader check: torch.save zip + legacy .pth ...")
            names_path = os.path.join(tmp, "names.json")
            with open(names_path, "w") as f:
                json.dump(inception.torchvision_names(), f)
            exports = {
                "zip": os.path.join(tmp, "pt_zip.pth"),
                "legacy": os.path.join(tmp, "pt_legacy.pth"),
            }
            run_torch(
                python,
                worker,
                mode="export",
                model=args.weights,
                names=names_path,
                fc=os.path.join(tmp, "fc.npy"),
                threads=args.threads,
                **exports,
            )
            fc = np.load(os.path.join(tmp, "fc.npy"))
            probe = sets["A"][: min(8, args.n)]
            reference = np.asarray(network(probe.astype("float32")))
            for layout, path in exports.items():
                archive = tfgen.metrics.read_torch_archive(path)
                net = inception.load_fid_inception(path, cache_dir=cache)
                same = np.array_equal(
                    np.asarray(net(probe.astype("float32"))), reference
                )
                fc_same = net.output_layer is not None and np.array_equal(
                    np.asarray(net.output_layer.kernel).T, fc
                )
                pth_lines.append(
                    f"- torch.save, {layout} layout (read as `{archive.layout}`): "
                    f"{len(archive.tensors)} tensors; features "
                    f"{'identical' if same else 'DIFFERENT'} to the TorchScript "
                    f"conversion; fc layer {'identical' if fc_same else 'DIFFERENT'}"
                )

    ips = {k: (n / s if s > 0 else float("nan")) for k, (s, n) in speed.items()}
    wall = time.perf_counter() - wall_start
    ok_features = rel_inf <= 1e-4
    ok_fid = fid_rel <= 1e-3
    command = (
        f"python3 benchmarks/fid_agreement.py --n {args.n} --batch-size "
        f"{args.batch_size} --threads {args.threads}"
    )
    section = "\n".join(
        [
            "## FID Inception: Keras port vs. TorchScript",
            "",
            f"`{command}`",
            "",
            f"- Hardware: {common.hardware_line()}; PyTorch {torch_version} (CPU); "
            f"{args.threads} threads per framework; {load}",
            f"- Date: {date}",
            f"- Weights: `{os.path.basename(args.weights)}` (sha256 "
            f"{tfgen.files.sha256(args.weights)[:16]}...), converted by tfgen "
            f"without PyTorch in {convert_seconds:.1f} s",
            f"- Images: CIFAR-10 uint8, set A = first {args.n} of train, set B = "
            f"first {args.n} of test; resized to 299x299 (bilinear, "
            "align_corners=False), then (x - 128) / 128",
            f"- Total wall time: {wall:.0f} s",
            "",
            "| Check | Value | Target | |",
            "|---|---:|---:|---|",
            f"| max relative feature difference, max-norm | {rel_inf:.2e} | <= 1e-4 | "
            f"{'pass' if ok_features else 'FAIL'} |",
            f"| max relative feature difference, L2 | {rel_l2:.2e} | | |",
            f"| max absolute feature difference | {abs_max:.2e} | | |",
            f"| FID(A, B), TorchScript features | {fid_torch:.4f} | | |",
            f"| FID(A, B), Keras features | {fid_keras:.4f} | | |",
            f"| FID relative difference | {fid_rel:.2e} | <= 1e-3 | "
            f"{'pass' if ok_fid else 'FAIL'} |",
            "",
            "| Features (preprocessing included) | img/s |",
            "|---|---:|",
            f"| PyTorch TorchScript | {ips['torch']:.1f} |",
            f"| tfgen Keras | {ips['keras']:.1f} |",
            "",
            f"Timed: {speed['torch'][1]} images per side, batch {args.batch_size}, "
            "first batch of each set excluded"
            + (
                ""
                if args.n % args.batch_size == 0
                else " (n is not a multiple of the batch: the Keras side pads its "
                "last batch, which slows it)"
            )
            + ". FID at this n is far above the "
            "50k-image values (FID is biased upward for small n); it is here only "
            "to compare the two networks.",
            *([""] + pth_lines if pth_lines else []),
            "",
        ]
    )
    print()
    print(section)
    if not args.no_write:
        tfgen.reporting.write_section(args.output, section, MARK_START, MARK_END)
        logging.info("wrote section to %s", args.output)
    return 0 if ok_features and ok_fid else 1


if __name__ == "__main__":
    app.run(main)
