"""tfgen's model families."""

from tfgen.models.autoregressive import AutoregressiveModel
from tfgen.models.base import GenerativeModel
from tfgen.models.cvae import CVAE
from tfgen.models.cycle_gan import CycleGAN
from tfgen.models.dcgan import DCGAN, ConditionalDCGAN
from tfgen.models.gan import GAN, AdversarialModel
from tfgen.models.pixel_cnn import GatedPixelCNN, PixelCNN
from tfgen.models.pixel_cnn_pp import PixelCNNPlusPlus
from tfgen.models.pixel_rnn import DiagonalBiLSTMPixelRNN, PixelRNN, RowLSTMPixelRNN
from tfgen.models.sngan import SNGAN
from tfgen.models.vae import VAE
from tfgen.models.wgan_gp import WGANGP

__all__ = [
    "CVAE",
    "DCGAN",
    "GAN",
    "SNGAN",
    "VAE",
    "WGANGP",
    "AdversarialModel",
    "AutoregressiveModel",
    "GatedPixelCNN",
    "PixelCNN",
    "PixelCNNPlusPlus",
    "PixelRNN",
    "RowLSTMPixelRNN",
    "DiagonalBiLSTMPixelRNN",
    "ConditionalDCGAN",
    "CycleGAN",
    "GenerativeModel",
    "get",
]


def get(name):
    """Returns the model class registered under `name` (e.g. "DCGAN")."""
    import keras

    cls = keras.saving.get_registered_object(f"tfgen>{name}")
    if cls is None:
        known = sorted(n for n in __all__ if n[0].isupper())
        raise ValueError(
            f"Unknown model class {name!r}. Expected one of {known}. Received: {name!r}"
        )
    return cls
