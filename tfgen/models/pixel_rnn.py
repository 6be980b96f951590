"""PixelRNN: Row LSTM and Diagonal BiLSTM image models (van den Oord et al. 2016)."""

import keras

from tfgen.layers.diagonal_bilstm import DiagonalBiLSTM
from tfgen.layers.row_lstm import RowLSTM
from tfgen.models.autoregressive import AutoregressiveModel, set_network_sizes
from tfgen.models.pixel_cnn import mask_a_layer, output_head
from tfgen.validation import check_positive_int

__all__ = ["DiagonalBiLSTMPixelRNN", "PixelRNN", "RowLSTMPixelRNN"]


@keras.saving.register_keras_serializable(package="tfgen")
class PixelRNN(AutoregressiveModel):
    """The PixelRNN architecture around a recurrent layer (Table 4 of the
    paper): a 7x7 convolution with mask A to 2h features, `num_layers`
    recurrent layers each wrapped in a residual block (h features projected
    back to 2h by a mask-B 1x1 convolution and added), then ReLU and two 1x1
    mask-B convolutions to a 256-way softmax per colour (R, then G given R,
    then B given R and G) or a Bernoulli per pixel for binary images.

    Use `RowLSTMPixelRNN` or `DiagonalBiLSTMPixelRNN`; subclasses set
    `recurrent_layer` and `layer_kwargs()`.

    Args:
        image_shape: (height, width, channels), channels 1 or 3.
        num_levels: 2 (Bernoulli) to 256 (categorical) levels per channel.
        units: h, hidden features of each recurrent layer; the residual
            stream has 2h. At least 3 for RGB images (features split into
            R, G, B blocks as even as they can be: 16 into 6, 5, 5).
        num_layers: recurrent layers.
        first_kernel_size: of the mask-A convolution.
        head_filters: features of the hidden 1x1 output layer (default 2h).
        seed, **kwargs: see `AutoregressiveModel`.
    """

    recurrent_layer = None

    def __init__(
        self,
        image_shape,
        num_levels=256,
        units=16,
        num_layers=7,
        first_kernel_size=7,
        head_filters=None,
        seed=None,
        **kwargs,
    ):
        if kwargs.get("num_classes") is not None:
            raise ValueError(
                f"{type(self).__name__} is unconditional. "
                f"Received: num_classes={kwargs['num_classes']}"
            )
        kwargs.pop("num_classes", None)
        set_network_sizes(
            self,
            image_shape,
            {"units": units},
            head_filters,
            num_layers=num_layers,
            first_kernel_size=first_kernel_size,
        )
        super().__init__(image_shape, num_levels=num_levels, seed=seed, **kwargs)

    def layer_kwargs(self):
        """Extra arguments of `recurrent_layer`."""
        return {}

    def build_network(self):
        if self.recurrent_layer is None:
            raise NotImplementedError(
                "PixelRNN is the shared architecture; use RowLSTMPixelRNN or "
                "DiagonalBiLSTMPixelRNN."
            )
        inputs, x, _ = self.network_inputs()
        groups = self.image_shape[-1]
        h = mask_a_layer(x, self, 2 * self.units)
        for index in range(self.num_layers):
            h = self.recurrent_layer(
                self.units,
                color_groups=groups,
                residual=True,
                name=f"lstm{index}",
                **self.layer_kwargs(),
            )(h)
        logits = output_head(h, self, self.head_filters or 2 * self.units)
        return keras.Model(inputs, logits, name=type(self).__name__.lower())

    def get_config(self):
        config = super().get_config()
        config.pop("num_classes", None)
        return config


@keras.saving.register_keras_serializable(package="tfgen")
class RowLSTMPixelRNN(PixelRNN):
    """PixelRNN with Row LSTM layers (`tfgen.layers.RowLSTM`): each layer
    runs an LSTM down the image one row at a time, with (1, k) input-to-state
    (mask B) and state-to-state convolutions. Its receptive field is
    triangular (a cone above each pixel), as the paper notes.

    Sampling uses the cached sampler: each Row LSTM layer steps one position
    at a time (`RowLSTM.position_step`), with the previous row's gates
    computed once per row, so a step costs one pixel's work per layer
    instead of a rerun of the network.

    Args:
        image_shape: (height, width, channels), channels 1 or 3.
        num_levels: 2 (Bernoulli) to 256 (categorical) levels per channel.
        units: h, hidden features per layer (residual stream 2h); at least
            3 for RGB images.
        num_layers: Row LSTM layers.
        kernel_size: k of the row convolutions (odd; the paper uses 3).
        first_kernel_size: of the mask-A convolution.
        head_filters: features of the hidden 1x1 output layer (default 2h).
        seed, **kwargs: see `AutoregressiveModel`.

    Example:

    ```python
    model = tfgen.models.RowLSTMPixelRNN(
        image_shape=(28, 28, 1), num_levels=2, units=16, num_layers=7
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(tfgen.data.load("binarized_mnist", batch_size=32), epochs=1)
    nats = model.log_prob(x_test)            # (n,) nats per image
    samples = model.sample(16, seed=0)
    ```

    References:
        van den Oord, Kalchbrenner, Kavukcuoglu, Pixel Recurrent Neural
        Networks, arXiv 1601.06759.
    """

    recurrent_layer = RowLSTM

    def __init__(self, image_shape, num_levels=256, kernel_size=3, **kwargs):
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        super().__init__(image_shape, num_levels=num_levels, **kwargs)

    def layer_kwargs(self):
        return {"kernel_size": self.kernel_size}

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size)
        return config


@keras.saving.register_keras_serializable(package="tfgen")
class DiagonalBiLSTMPixelRNN(PixelRNN):
    """PixelRNN with Diagonal BiLSTM layers (`tfgen.layers.DiagonalBiLSTM`):
    each layer sweeps the skewed image along its diagonals in both
    directions (the right-to-left output shifted down a row), so every
    layer sees the whole past of each pixel.

    Sampling uses the cached sampler: the forward LSTM steps one position at
    a time and the backward one sweeps each finished row once, at the start
    of the next (`DiagonalBiLSTM.position_step` and `step_row`).

    Args:
        image_shape: (height, width, channels), channels 1 or 3.
        num_levels: 2 (Bernoulli) to 256 (categorical) levels per channel.
        units: h, hidden features per direction (residual stream 2h); at
            least 3 for RGB images.
        num_layers: Diagonal BiLSTM layers (the paper's MNIST models: 1
            layer with h = 32, and 7 layers with h = 16).
        first_kernel_size: of the mask-A convolution.
        head_filters: features of the hidden 1x1 output layer (default 2h).
        seed, **kwargs: see `AutoregressiveModel`.

    Example:

    ```python
    # The paper's one-layer MNIST model (h = 32), trained with Adam(1e-3).
    model = tfgen.models.DiagonalBiLSTMPixelRNN((28, 28, 1), 2, units=32, num_layers=1)
    model.compile()
    model.fit(tfgen.data.load("binarized_mnist", batch_size=32), epochs=1)
    bpd = model.bits_per_dim(x_test)
    known = tfgen.sampling.completion_mask(model.image_shape, "bottom_half")
    completions = model.complete(x_test[:4], known, num_samples=2, seed=0)
    ```

    References:
        van den Oord, Kalchbrenner, Kavukcuoglu, Pixel Recurrent Neural
        Networks, arXiv 1601.06759.
    """

    recurrent_layer = DiagonalBiLSTM
