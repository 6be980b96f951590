"""Pinned outputs of the shipped zoo entries.

For every entry: a slice of `sample(1, seed=0)` (CycleGAN: of `translate`
on a fixed image) and, for likelihood models, `log_prob` on a fixed batch.
The values in `pinned_outputs.json` were recorded from the code before the
refactor of issue 17 and must keep passing: any change in weight loading,
sampling or likelihood code that changes what a user gets shows up here.

Rerecord only when an entry's weights change on purpose (a retrained model):

    python tests/pinned_outputs.py --write [NAME ...]
"""

import json
import os
import sys

import numpy as np

PINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pinned_outputs.json")


def fixed_batch(model, n=2):
    """`n` images on the model's level grid from a fixed NumPy generator."""
    shape = tuple(model.image_shape)
    levels = int(getattr(model, "num_levels", 256))
    rng = np.random.default_rng(1234)
    return (rng.integers(0, levels, (n, *shape)) / (levels - 1)).astype("float32")


def row_slice(image):
    """The middle row of one image, all channels, as a flat list."""
    image = np.asarray(image, dtype="float64")
    return image[image.shape[0] // 2].reshape(-1).tolist()


def compute(name):
    """The pinned quantities of zoo entry `name` (a dict of lists/floats)."""
    import tfgen

    model = tfgen.zoo.load(name)
    out = {}
    if hasattr(model, "translate"):
        x = fixed_batch(model, 1)
        out["translate_row"] = row_slice(model.translate(x, direction="a2b")[0])
        out["translate_mean"] = float(np.mean(model.translate(x, direction="b2a")))
        return out
    image = np.asarray(model.sample(1, seed=0))[0]
    out["sample_row"] = row_slice(image)
    out["sample_mean"] = float(image.mean())
    if hasattr(model, "complete"):  # autoregressive: exact log-likelihood
        out["log_prob"] = np.asarray(model.log_prob(fixed_batch(model))).tolist()
    elif hasattr(model, "elbo"):  # VAE: a seeded IWAE bound
        out["log_prob"] = np.asarray(
            model.log_prob(fixed_batch(model), num_samples=8, seed=0)
        ).tolist()
    return out


def load():
    with open(PINS) as f:
        return json.load(f)


def main(argv):
    import tfgen

    write = "--write" in argv
    names = [a for a in argv if not a.startswith("--")] or tfgen.zoo.list()
    pins = load() if os.path.isfile(PINS) else {}
    for name in names:
        pins[name] = compute(name)
        print(name, {k: np.round(np.mean(v), 6) for k, v in pins[name].items()})
    if write:
        with open(PINS, "w") as f:
            json.dump(pins, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
