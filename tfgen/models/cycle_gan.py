"""CycleGAN: unpaired image-to-image translation between two domains."""

import keras
import numpy as np
from keras import layers, ops

from tfgen.layers import ImagePool, ReflectionPadding2D
from tfgen.models.base import GenerativeModel
from tfgen.models.diff_augment import check_policy, diff_augment
from tfgen.models.train_core import (
    LinearDecay,
    build_optimizers,
    minimize,
    unpack_images,
)
from tfgen.progress import batch_starts
from tfgen.validation import check_image_batch, check_images, check_positive_int

__all__ = ["CycleGAN", "cycle_loss", "identity_loss", "least_squares_loss"]

_DIRECTIONS = ("a2b", "b2a")
_OPTIMIZERS = ("g_ab_optimizer", "g_ba_optimizer", "d_a_optimizer", "d_b_optimizer")


def least_squares_loss(logits, target):
    """Per-example LSGAN loss: mean over patches of (D(x) - target)^2."""
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.square(logits - target), axis=list(range(1, len(logits.shape))))


def _l1(x, y):
    return ops.mean(ops.abs(x - y), axis=list(range(1, len(x.shape))))


def cycle_loss(real, reconstructed, weight=10.0):
    """Per-example cycle-consistency loss: weight * mean |F(G(x)) - x|."""
    return weight * _l1(ops.cast(reconstructed, "float32"), real)


def identity_loss(real, same, weight=5.0):
    """Per-example identity loss: weight * mean |G(y) - y| for y already in
    G's target domain (the paper's weight is 0.5 * lambda)."""
    return weight * _l1(ops.cast(same, "float32"), real)


def _instance_norm(name=None):
    # Per-image statistics, no affine terms, as the reference's InstanceNorm2d.
    return layers.GroupNormalization(
        groups=-1, epsilon=1e-5, center=False, scale=False, name=name
    )


@keras.saving.register_keras_serializable(package="tfgen")
class CycleGAN(GenerativeModel):
    """CycleGAN: two generators G: A -> B and F: B -> A, two PatchGANs.

    Each generator is the ResNet of Johnson et al.: a reflection-padded 7x7
    convolution, `num_downsamplings` stride-2 convolutions, `num_blocks`
    residual blocks (reflection padding, 3x3 convolutions, instance norm),
    as many stride-2 transposed convolutions, and a 7x7 convolution with
    tanh. Each discriminator is a PatchGAN: 4x4 stride-2 convolutions with
    LeakyReLU(0.2) and instance norm (none on the first), a stride-1 layer,
    and one logit per patch.

    Losses (per image, averaged over the global batch):

    ```
    L_G = (D_B(G(a)) - 1)^2 + (D_A(F(b)) - 1)^2                  LSGAN
        + lambda * (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)           cycle
        + identity_weight * lambda * (|G(b) - b|_1 + |F(a) - a|_1)   identity
    L_D_B = ((D_B(b) - 1)^2 + D_B(pool_B(G(a)))^2) / 2   (and L_D_A alike)
    ```

    The discriminators train on `ImagePool` histories of generated images.
    With `diff_augment`, every image a discriminator sees (real, pooled or
    fresh fake, in both networks' steps) is DiffAugmented first: at 32x32 a
    3-layer PatchGAN's 70-pixel receptive field covers the whole image, so
    its patches are whole images and, without augmentation, it can memorise
    a few thousand training images instead of learning the domain.
    `train_step` takes `(a, b)` batches of unpaired images in [0, 1] (see
    `tfgen.data.load_unpaired`) and updates the four networks with four
    optimizers, which `compile` builds on their variables (so the model
    trains under `MirroredStrategy`). `compile(decay_steps=...)` gives the
    default Adam(2e-4, beta_1=0.5) optimizers the paper's schedule:
    constant for the first half, then linear decay to 0.

    Args:
        image_shape: (height, width, channels) of both domains; height and
            width divisible by 2**num_downsamplings.
        base_filters: channels of the first generator and discriminator layers.
        num_blocks: residual blocks per generator (6 for 128x128 in the paper,
            9 for 256x256).
        num_downsamplings: stride-2 stages of each generator.
        discriminator_layers: stride-2 layers of each PatchGAN.
        cycle_weight: lambda, 10 in the paper.
        identity_weight: identity loss weight relative to lambda (0.5).
        pool_size: images in each discriminator's history pool (50).
        diff_augment: a DiffAugment policy, e.g. `"translation,cutout"`
            (`tfgen.models.diff_augment`, Zhao et al.), applied to every
            discriminator input; None (the paper) for none.
        seed: seed of the pools' and the augmentation's random draws.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    data = tfgen.data.load_unpaired("cifar10:cat", "cifar10:dog", batch_size=1,
                                    shuffle=True, seed=0)
    model = tfgen.CycleGAN(image_shape=(32, 32, 3), base_filters=32, num_blocks=6)
    steps = 200 * int(data.cardinality())                 # 200 epochs
    model.compile(decay_steps=(steps // 2, steps))        # linear decay, 2nd half
    model.fit(data, epochs=200)
    dogs = model.translate(cats, direction="a2b")
    ```

    References:
        Zhu et al., Unpaired Image-to-Image Translation using
        Cycle-Consistent Adversarial Networks, arXiv 1703.10593;
        Mao et al., Least Squares GANs, arXiv 1611.04076;
        Johnson et al., Perceptual Losses for Real-Time Style Transfer,
        arXiv 1603.08155;
        Zhao et al., Differentiable Augmentation for Data-Efficient GAN
        Training, arXiv 2006.10738.
    """

    default_optimizer = {"learning_rate": 2e-4, "beta_1": 0.5, "beta_2": 0.999}

    def __init__(
        self,
        image_shape,
        base_filters=64,
        num_blocks=6,
        num_downsamplings=2,
        discriminator_layers=3,
        cycle_weight=10.0,
        identity_weight=0.5,
        pool_size=50,
        diff_augment=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(image_shape, **kwargs)
        self.base_filters = check_positive_int(base_filters, "base_filters")
        self.num_blocks = check_positive_int(num_blocks, "num_blocks")
        self.num_downsamplings = check_positive_int(
            num_downsamplings, "num_downsamplings"
        )
        self.discriminator_layers = check_positive_int(
            discriminator_layers, "discriminator_layers"
        )
        factor = 2**self.num_downsamplings
        if self.image_shape[0] % factor or self.image_shape[1] % factor:
            raise ValueError(
                f"With num_downsamplings={self.num_downsamplings}, image height and "
                f"width must be divisible by {factor}. Received: "
                f"image_shape={self.image_shape}"
            )
        for name, value in (
            ("cycle_weight", cycle_weight),
            ("identity_weight", identity_weight),
        ):
            if not float(value) >= 0.0:
                raise ValueError(f"`{name}` must be >= 0. Received: {name}={value!r}")
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        self.pool_size = int(pool_size)
        policy = check_policy(diff_augment)
        self.diff_augment = ",".join(policy) if policy else None
        self.seed = seed
        self.generator_ab = self.build_generator("generator_ab")
        self.generator_ba = self.build_generator("generator_ba")
        self.discriminator_a = self.build_discriminator("discriminator_a")
        self.discriminator_b = self.build_discriminator("discriminator_b")
        pool_seeds = (None, None) if seed is None else (seed, seed + 1)
        self.pool_a = ImagePool(pool_size, seed=pool_seeds[0], name="pool_a")
        self.pool_b = ImagePool(pool_size, seed=pool_seeds[1], name="pool_b")
        self.pool_a.build((None, *self.image_shape))
        self.pool_b.build((None, *self.image_shape))
        if self.diff_augment is not None:
            # Only with a policy, so the paper's model keeps its variables.
            self.augment_seed = keras.random.SeedGenerator(
                None if seed is None else seed + 2
            )
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in (
                "g_loss",
                "d_a_loss",
                "d_b_loss",
                "cycle_loss",
                "identity_loss",
            )
        }
        self.built = True

    # ----------------------------------------------------------------- networks
    def build_generator(self, name):
        channels = self.image_shape[-1]
        filters = self.base_filters
        x = keras.Input(self.image_shape, name="image")
        h = ReflectionPadding2D(3)(x)
        h = layers.Conv2D(filters, 7, use_bias=False)(h)
        h = layers.ReLU()(_instance_norm()(h))
        for _ in range(self.num_downsamplings):
            filters *= 2
            h = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(h)
            h = layers.ReLU()(_instance_norm()(h))
        for _ in range(self.num_blocks):
            r = ReflectionPadding2D(1)(h)
            r = layers.Conv2D(filters, 3, use_bias=False)(r)
            r = layers.ReLU()(_instance_norm()(r))
            r = ReflectionPadding2D(1)(r)
            r = layers.Conv2D(filters, 3, use_bias=False)(r)
            h = layers.Add()([h, _instance_norm()(r)])
        for _ in range(self.num_downsamplings):
            filters //= 2
            h = layers.Conv2DTranspose(
                filters, 3, strides=2, padding="same", use_bias=False
            )(h)
            h = layers.ReLU()(_instance_norm()(h))
        h = ReflectionPadding2D(3)(h)
        h = layers.Conv2D(channels, 7)(h)
        images = layers.Activation("tanh", dtype="float32")(h)
        return keras.Model(x, images, name=name)

    def build_discriminator(self, name):
        x = keras.Input(self.image_shape, name="image")
        h, filters = x, self.base_filters
        for i in range(self.discriminator_layers):
            h = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=i == 0)(h)
            if i:
                h = _instance_norm()(h)
            h = layers.LeakyReLU(0.2)(h)
            filters *= 2
        h = layers.Conv2D(filters, 4, padding="same", use_bias=False)(h)
        h = layers.LeakyReLU(0.2)(_instance_norm()(h))
        logits = layers.Conv2D(1, 4, padding="same", dtype="float32")(h)
        return keras.Model(x, logits, name=name)

    def call(self, inputs, training=False):
        """G(a): domain-A images in [-1, 1] to domain B."""
        return self.generator_ab(inputs, training=training)

    # ---------------------------------------------------------------- training
    def compile(
        self,
        g_ab_optimizer=None,
        g_ba_optimizer=None,
        d_a_optimizer=None,
        d_b_optimizer=None,
        decay_steps=None,
        **kwargs,
    ):
        """Sets the four optimizers and builds them on their variables.

        Args:
            g_ab_optimizer, g_ba_optimizer, d_a_optimizer, d_b_optimizer: the
                optimizers of G, F, D_A and D_B; default Adam(2e-4, 0.5).
            decay_steps: `(start, end)` optimizer steps of the default
                optimizers' linear decay to 0 (the paper: the second half
                of training); None keeps their rate constant.
        """
        given = dict(
            zip(
                _OPTIMIZERS,
                (g_ab_optimizer, g_ba_optimizer, d_a_optimizer, d_b_optimizer),
            )
        )
        variables = {
            "g_ab_optimizer": self.generator_ab.trainable_variables,
            "g_ba_optimizer": self.generator_ba.trainable_variables,
            "d_a_optimizer": self.discriminator_a.trainable_variables,
            "d_b_optimizer": self.discriminator_b.trainable_variables,
        }
        config = dict(self.default_optimizer)
        if decay_steps is not None:
            start, end = decay_steps
            config["learning_rate"] = LinearDecay(config["learning_rate"], start, end)
        for name, optimizer in build_optimizers(given, variables, config).items():
            setattr(self, name, optimizer)
        kwargs.setdefault("optimizer", self.g_ab_optimizer)
        super().compile(**kwargs)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _unpack(self, data):
        a, b, sample_weight = unpack_images(data)
        if b is None or sample_weight is not None:
            raise ValueError(
                "CycleGAN trains on `(a, b)` batches of unpaired images from the two "
                "domains (see tfgen.data.load_unpaired). Received: "
                + ("images alone" if b is None else "(a, b, sample_weight)")
            )
        a = check_image_batch(a, self.image_shape, name="domain A images")
        b = check_image_batch(b, self.image_shape, name="domain B images")
        return a * 2.0 - 1.0, b * 2.0 - 1.0

    def _augment(self, images):
        """Images as a discriminator sees them: DiffAugmented if asked."""
        if self.diff_augment is None:
            return images
        return diff_augment(images, self.diff_augment, self.augment_seed)

    def _generator_losses(self, a, b):
        fake_b = self.generator_ab(a, training=True)
        fake_a = self.generator_ba(b, training=True)
        adversarial = least_squares_loss(
            self.discriminator_b(self._augment(fake_b), training=True), 1.0
        ) + least_squares_loss(
            self.discriminator_a(self._augment(fake_a), training=True), 1.0
        )
        cycle = cycle_loss(
            a, self.generator_ba(fake_b, training=True), self.cycle_weight
        ) + cycle_loss(b, self.generator_ab(fake_a, training=True), self.cycle_weight)
        weight = self.identity_weight * self.cycle_weight
        if weight > 0.0:
            identity = identity_loss(
                b, self.generator_ab(b, training=True), weight
            ) + identity_loss(a, self.generator_ba(a, training=True), weight)
        else:
            identity = ops.zeros_like(cycle)
        return fake_a, fake_b, adversarial, cycle, identity

    def _discriminator_step(self, discriminator, optimizer, real, fake):
        def loss():
            per_example = 0.5 * (
                least_squares_loss(
                    discriminator(self._augment(real), training=True), 1.0
                )
                + least_squares_loss(
                    discriminator(self._augment(fake), training=True), 0.0
                )
            )
            return per_example, None

        per_example, _ = minimize(loss, (optimizer, discriminator.trainable_variables))
        return per_example

    def train_step(self, data):
        a, b = self._unpack(data)
        n = ops.shape(a)[0]

        def loss():
            fake_a, fake_b, adversarial, cycle, identity = self._generator_losses(a, b)
            return adversarial + cycle + identity, (fake_a, fake_b, cycle, identity)

        per_example, (fake_a, fake_b, cycle, identity) = minimize(
            loss,
            (self.g_ab_optimizer, self.generator_ab.trainable_variables),
            (self.g_ba_optimizer, self.generator_ba.trainable_variables),
        )
        d_b = self._discriminator_step(
            self.discriminator_b, self.d_b_optimizer, b, self.pool_b(fake_b)
        )
        d_a = self._discriminator_step(
            self.discriminator_a, self.d_a_optimizer, a, self.pool_a(fake_a)
        )
        weight = ops.cast(n, "float32")
        for name, values in (
            ("g_loss", per_example),
            ("d_a_loss", d_a),
            ("d_b_loss", d_b),
            ("cycle_loss", cycle),
            ("identity_loss", identity),
        ):
            self.trackers[name].update_state(ops.mean(values), sample_weight=weight)
        return {m.name: m.result() for m in self.metrics}

    # ------------------------------------------------------------- translation
    def translate(self, images, direction="a2b", batch_size=64, progress=False):
        """Translates images in [0, 1] (n, H, W, C) from one domain to the
        other: `direction="a2b"` applies G, `"b2a"` applies F. Returns float32
        images in [0, 1] of the input's shape."""
        if direction not in _DIRECTIONS:
            raise ValueError(
                f"`direction` must be one of {_DIRECTIONS}. Received: direction={direction!r}"
            )
        x = check_images(images, self.image_shape, name="images")
        batch_size = check_positive_int(batch_size, "batch_size")
        generator = self.generator_ab if direction == "a2b" else self.generator_ba
        starts = batch_starts(len(x), batch_size, progress, desc="translate")
        out = [
            np.asarray(
                ops.cast(
                    generator(x[s : s + batch_size] * 2.0 - 1.0, training=False),
                    "float32",
                )
            )
            for s in starts
        ]
        y = np.concatenate(out) if out else np.zeros_like(x)
        return np.clip((y + 1.0) / 2.0, 0.0, 1.0).astype("float32")

    def cycle(self, images, direction="a2b", batch_size=64):
        """(translated, reconstructed): x -> G(x) -> F(G(x)) for "a2b"."""
        forward = self.translate(images, direction, batch_size)
        back = "b2a" if direction == "a2b" else "a2b"
        return forward, self.translate(forward, back, batch_size)

    def translation_grid(self, a=None, b=None):
        """`(images, nrow)` of rows a | G(a) | F(G(a)) and b | F(b) | G(F(b))."""
        rows = []
        for x, direction in ((a, "a2b"), (b, "b2a")):
            if x is None or not len(x):
                continue
            forward, back = self.cycle(x, direction)
            rows.append(np.stack([x, forward, back], axis=1).reshape(-1, *x.shape[1:]))
        if not rows:
            raise ValueError("Give images of domain A, domain B, or both.")
        return np.concatenate(rows), 3

    def preview(
        self, n, seed=0, domain_a=None, domain_b=None, split="test", data_dir=None
    ):
        """Translation rows of `n` images, half of each domain, drawn with
        `seed` from `split` of the domains (see `tfgen.data.load_domain`)."""
        from tfgen.data import load_domain

        picked = []
        rng = np.random.default_rng(seed)
        for domain, count in ((domain_a, (n + 1) // 2), (domain_b, n // 2)):
            if domain is None:
                picked.append(None)
                continue
            x = load_domain(domain, split, data_dir=data_dir)
            index = np.sort(rng.choice(len(x), size=min(count, len(x)), replace=False))
            picked.append(x[index].astype("float32") / 255.0)
        if all(p is None for p in picked):
            raise ValueError(
                "CycleGAN previews translations of real images: give `domain_a` "
                "and/or `domain_b` (e.g. sample_kwargs of a recipe)."
            )
        return self.translation_grid(*picked)

    def get_config(self):
        config = super().get_config()
        config.update(
            base_filters=self.base_filters,
            num_blocks=self.num_blocks,
            num_downsamplings=self.num_downsamplings,
            discriminator_layers=self.discriminator_layers,
            cycle_weight=self.cycle_weight,
            identity_weight=self.identity_weight,
            pool_size=self.pool_size,
            diff_augment=self.diff_augment,
            seed=self.seed,
        )
        return config
