"""Bits-back coding with ANS (BB-ANS) for tfgen's VAEs: the codec's latent
variable half (`tfgen.codec.container` holds the file format, `tfgen.codec`
the public API).

Townsend et al. (2019) code an image x with a VAE on one ANS stack:

1. pop z from the stack with the discretized posterior q(z|x): this *takes*
   about -log q(z|x) bits off the stack (the "bits back");
2. push x with the decoder's likelihood p(x|z): -log p(x|z) bits;
3. push z with the discretized prior p(z): -log p(z) bits.

The net cost is -log p(x|z) - log p(z) + log q(z|x), the negative ELBO of
one posterior sample, so the rate tends to the model's negative ELBO (not
its IWAE likelihood). Decoding runs the three steps backwards, image by
image, in reverse order.

- **Latents** are discretized into `2 ** LATENT_BITS` buckets of equal mass
  under the N(0, 1) prior, per dimension; z is the bucket's median, so the
  prior is uniform over buckets and the posterior's table is the normal
  CDF's differences at the bucket edges.
- **Pixels**: Bernoulli and 256-way categorical tables come straight from
  the decoder; a discretized logistic mixture couples the channels of a
  pixel, so channel c is coded with the mixture weights updated by the
  channels before it (`tfgen.distributions.logistic_mixture_level_probs`).
- **Initial bits**: the first image has nothing on the stack to pop its z
  from. The stack starts with `INITIAL_WORDS` seeded pseudo-random 32-bit
  words, popped as the first posterior sample's bits; they stay in the file
  (that is their cost: 32 x `INITIAL_WORDS` bits per file, stated by the
  compression benchmark) and decoding checks that exactly they remain.
- **Padding**: a file holds at least `container.min_words` words for its
  images, and no image after the first pops its posterior from a stack
  run dry (under `DRY_BITS`). When either fails, the images are coded again
  on a stack with more zero words below the initial ones (rare); the
  decoder accepts zero words below them. A decoder whose stack runs dry
  before the last image is decoding garbage and stops there. When the stack ends shorter, the images are
  coded again on a stack with zero words below the initial ones; the
  decoder accepts zero words below them.

Networks run on one image at a time at both ends, so the coded tables are
the same bits there (see `tfgen.codec`).
"""

import numpy as np
import tensorflow as tf
from scipy.special import ndtr, ndtri

from tfgen.codec import coder
from tfgen.codec.container import CodecError, min_words
from tfgen.distributions import logistic_mixture_level_probs
from tfgen.levels import from_levels
from tfgen.progress import track

__all__ = [
    "DRY_BITS",
    "INITIAL_WORDS",
    "LATENT_BITS",
    "decode",
    "encode",
    "latent_grid",
]

#: Buckets per latent dimension: 2 ** LATENT_BITS.
LATENT_BITS = 12
#: Seeded words on the stack before the first image.
INITIAL_WORDS = 32
_SEED = 20190111
#: A stack holding fewer bits than this is dry: popping reads nothing.
DRY_BITS = 32


def latent_grid(bits=LATENT_BITS):
    """`(edges, centres)`: the 2**bits + 1 bucket edges (with -inf, inf) and
    the 2**bits bucket medians of N(0, 1), float64."""
    buckets = 2**bits
    edges = ndtri(np.arange(buckets + 1) / buckets)
    centres = ndtri((np.arange(buckets) + 0.5) / buckets)
    return edges, centres


def _posterior_table(model, levels, edges):
    """(d, buckets) float64 probabilities of the posterior over buckets."""
    x = np.asarray(from_levels(levels[None], model.num_levels), "float32")
    mean, scale = (np.asarray(t, "float32") for t in model.posterior_params(x))
    mean = mean[0].astype(np.float64)[:, None]
    scale = scale[0].astype(np.float64)[:, None]
    cdf = ndtr((edges[None, :] - mean) / scale)
    return np.maximum(np.diff(cdf, axis=1), 0.0)


class _PixelTables:
    """The likelihood p(x|z) of one image as coding tables, in the order the
    decoder pops them: channel by channel, every pixel of a channel at once."""

    def __init__(self, model, z):
        params = model.decoder(tf.constant(z[None], tf.float32))
        self.model = model
        self.shape = tuple(model.image_shape)
        likelihood = model.likelihood
        if likelihood == "logistic_mixture":
            logits, tables = logistic_mixture_level_probs(
                params, model.num_mixtures, self.shape[-1], model.num_levels
            )
            pixels = self.shape[0] * self.shape[1]
            logits = np.asarray(logits, np.float64).reshape(pixels, -1)
            self.log_weights = logits - logits.max(axis=1, keepdims=True)
            # (pixels, K, C, L)
            self.tables = np.asarray(tables, np.float64).reshape(
                pixels, model.num_mixtures, self.shape[-1], -1
            )
        elif likelihood == "bernoulli":
            p1 = 1.0 / (1.0 + np.exp(-np.asarray(params, np.float64).reshape(-1)))
            self.flat = np.stack([1.0 - p1, p1], axis=-1)
        else:
            logits = np.asarray(params, np.float64).reshape(-1, model.num_levels)
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            self.flat = e / e.sum(axis=1, keepdims=True)

    @property
    def mixture(self):
        return self.model.likelihood == "logistic_mixture"

    def channel_table(self, c, known):
        """(pixels, L) table of channel c given `known` (pixels, C) levels of
        the channels before it."""
        weights = self.log_weights.copy()
        pixels = np.arange(len(weights))
        for prev in range(c):
            weights += np.log(
                np.maximum(self.tables[pixels, :, prev, known[:, prev]], 1e-300)
            )
        weights = np.exp(weights - weights.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("pk,pkl->pl", weights, self.tables[:, :, c, :])

    def push(self, stack, family, levels):
        if not self.mixture:
            stack.encode_reverse(levels.reshape(-1).astype(np.int32), family, self.flat)
            return
        channels = self.shape[-1]
        known = levels.reshape(-1, channels)
        probs = np.concatenate([self.channel_table(c, known) for c in range(channels)])
        symbols = known.T.reshape(-1)
        stack.encode_reverse(symbols.astype(np.int32), family, probs)

    def pop(self, stack, family):
        if not self.mixture:
            return stack.decode(family, self.flat).reshape(self.shape)
        channels = self.shape[-1]
        known = np.zeros((self.shape[0] * self.shape[1], channels), np.int64)
        for c in range(channels):
            known[:, c] = stack.decode(family, self.channel_table(c, known))
        return known.reshape(self.shape)


def _initial_words():
    rng = np.random.default_rng(_SEED)
    return rng.integers(0, 2**32, INITIAL_WORDS, dtype=np.uint64).astype(np.uint32)


def _uniform_prior(model, buckets):
    return np.full((model.latent_dim, buckets), 1.0 / buckets)


def _encode_on(model, levels, bottom, progress):
    """`(words, dry)`: the stack `bottom` zero words + initial words after
    coding `levels`, and whether an image after the first popped its
    posterior dry."""
    constriction = coder.require_constriction()
    family = coder.categorical()
    edges, centres = latent_grid()
    prior = _uniform_prior(model, len(centres))
    start = np.concatenate([np.zeros(bottom, np.uint32), _initial_words()])
    stack = constriction.stream.stack.AnsCoder(start)
    dry = False
    for index, x in enumerate(track(levels, len(levels), progress, "encode")):
        posterior = _posterior_table(model, x, edges)
        z = stack.decode(family, posterior)
        dry = dry or (index > 0 and stack.num_valid_bits() < DRY_BITS)
        _PixelTables(model, centres[z].astype("float32")).push(stack, family, x)
        stack.encode_reverse(z.astype(np.int32), family, prior)
    return np.asarray(stack.get_compressed(), "<u4"), dry


def encode(model, levels, progress=False):
    """One chunk of uint32 words coding `levels` (n, H, W, C) with a VAE."""
    bottom = 0
    while True:
        words, dry = _encode_on(model, levels, bottom, progress)
        short = min_words(len(levels), model.image_shape) - len(words)
        if short <= 0 and not dry:
            return [words]
        # Rare: pad below and code again (doubling when a pop ran dry).
        bottom = max(bottom + short, 2 * bottom + 8 if dry else 0)


def decode(model, header, payload, progress=False):
    """The levels (n, H, W, C) that `encode` coded into `payload`."""
    constriction = coder.require_constriction()
    family = coder.categorical()
    edges, centres = latent_grid()
    prior = _uniform_prior(model, len(centres))
    stack = constriction.stream.stack.AnsCoder(np.asarray(payload, np.uint32))
    out = []
    count = header.count
    for index in track(range(count), count, progress, "decode"):
        z = stack.decode(family, prior)
        x = _PixelTables(model, centres[z].astype("float32")).pop(stack, family)
        # Here the stack is the encoder's after it popped this image's
        # posterior, never dry but for the first image (see `encode`).
        if index < count - 1 and stack.num_valid_bits() < DRY_BITS:
            raise CodecError(
                f"Corrupted tfgen codec file: the header announces {count} images; "
                f"the bits-back stack ran dry after {index + 1}."
            )
        posterior = _posterior_table(model, x, edges)
        stack.encode_reverse(z.astype(np.int32), family, posterior)
        out.append(x)
    rest = np.asarray(stack.get_compressed(), np.uint32)
    initial = _initial_words()
    below = rest[: len(rest) - len(initial)]
    if not (np.array_equal(rest[len(below) :], initial) and not below.any()):
        raise CodecError(
            "Corrupted tfgen codec file: the bits-back stack does not end on its "
            "initial words."
        )
    return np.stack(out[::-1]).astype(np.int32)
