"""tfgen: a Keras 3 / TensorFlow model zoo of generative image models."""

import importlib as _importlib
import os as _os
import sys as _sys

# Keras 3 on TensorFlow; TFP needs tf-keras for its own Keras 2 internals.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

_SUBMODULES = (
    "codec", "data", "distributions", "files", "images", "layers", "levels",
    "metrics", "models", "probe", "recipes", "reporting", "sampling",
    "training", "zoo",
)  # fmt: skip
_MODELS = (
    "DCGAN", "GAN", "VAE", "WGANGP", "ConditionalDCGAN", "CycleGAN",
    "GatedPixelCNN", "PixelCNN", "PixelCNNPlusPlus", "RowLSTMPixelRNN",
    "DiagonalBiLSTMPixelRNN", "SNGAN", "CVAE",
)  # fmt: skip
__all__ = [*_MODELS, *_SUBMODULES, "__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return _importlib.import_module(f"tfgen.{name}")
    if name in _MODELS:
        return getattr(_importlib.import_module("tfgen.models"), name)
    raise AttributeError(f"module 'tfgen' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


def _started_by_the_command():
    return _os.path.basename(_sys.argv[0] if _sys.argv else "") == "tfgen"


# `import tfgen` loads every submodule, so every model class is registered
# with Keras before `keras.saving.load_model` needs it. The `tfgen` command
# (whose script imports this package before its parser runs) loads them on
# first use instead, so `tfgen --help` answers without starting TensorFlow.
if not _started_by_the_command():
    # TensorFlow's C++ warnings and errors only; the `tfgen` command sets
    # the level itself (all of it with `tfgen --verbose`).
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for _name in _SUBMODULES:
        _importlib.import_module(f"tfgen.{_name}")
