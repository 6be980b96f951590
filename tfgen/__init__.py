"""tfgen: a Keras 3 / TensorFlow model zoo of generative image models."""

import os as _os

# Keras 3 on TensorFlow; TFP needs tf-keras for its own Keras 2 internals.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from tfgen import (  # noqa: E402
    codec,
    data,
    distributions,
    files,
    images,
    layers,
    levels,
    metrics,
    models,
    probe,
    recipes,
    reporting,
    sampling,
    training,
    zoo,
)
from tfgen.models import (  # noqa: E402
    DCGAN,
    GAN,
    VAE,
    WGANGP,
    ConditionalDCGAN,
    CycleGAN,
    GatedPixelCNN,
    PixelCNN,
)

__all__ = [
    "DCGAN",
    "GAN",
    "VAE",
    "WGANGP",
    "ConditionalDCGAN",
    "CycleGAN",
    "GatedPixelCNN",
    "PixelCNN",
    "codec",
    "data",
    "distributions",
    "files",
    "images",
    "levels",
    "layers",
    "metrics",
    "models",
    "probe",
    "recipes",
    "reporting",
    "sampling",
    "training",
    "zoo",
    "__version__",
]
