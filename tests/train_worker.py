"""A tiny training run in its own process, for the resume and multi-worker tests.

python train_worker.py OUTPUT_DIR --epochs 3 [--kill-after-epoch 2]
    [--strategy multi_worker] [--dump weights.npz]
"""

import argparse
import os
import signal

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
    parser.add_argument("output_dir")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--kill-after-epoch", type=int)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--dump")
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
