"""Range coding of images with an autoregressive model's conditionals.

Encoding is one parallel forward pass per batch; decoding runs the
sampler's loop (`tfgen.sampling`: the cached sampler where the network
allows it) with a `choose` step that decodes each position's symbols
instead of drawing them, for a whole batch at once. Each batch is one
range-coded chunk of the file.

The coded probabilities must be the same bits at both ends: the network
runs in float64 (see `tfgen.codec.coding_copy`), its logits are cast to
float32 and rounded to multiples of `LOGIT_QUANTUM`, and the probabilities
come from those by one NumPy function, `probabilities`.

A chunk shorter than `container.min_words` is padded with zero words,
which the range decoder never reads. The decoder counts the
bits its symbols cost at least (`coder.bits_floor`) and stops as soon as
they exceed the chunk's: a corrupted or forged chunk is refused after a few
positions instead of after the whole batch.
"""

import numpy as np
import tensorflow as tf

from tfgen import sampling
from tfgen.codec import coder
from tfgen.codec.container import UNDECODABLE, CodecError, min_words
from tfgen.progress import track

__all__ = ["LOGIT_QUANTUM", "decode", "encode", "network_logits", "probabilities"]

#: Logits are rounded to multiples of this before they become probabilities.
LOGIT_QUANTUM = 2.0**-6


def probabilities(logits, num_levels):
    """float64 (m, L) probabilities from float32 logits ((m,) Bernoulli or
    (m, L) categorical), rounded to `LOGIT_QUANTUM` first: the one function
    both ends of the codec use."""
    logits = np.asarray(logits, np.float32).astype(np.float64)
    logits = np.round(logits / LOGIT_QUANTUM) * LOGIT_QUANTUM
    if num_levels == 2:
        p1 = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
        return np.stack([1.0 - p1, p1], axis=-1)
    logits = logits.reshape(-1, num_levels)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def network_logits(model, levels):
    """float32 logits (n, H, W, C[, L]) of the (float64) model on int levels,
    in one parallel pass."""
    args = model.network_args_from_levels(tf.convert_to_tensor(levels, tf.int32))
    logits = model.network(args, training=False)
    return np.asarray(tf.cast(logits, tf.float32))


def _padded(levels, batch_size):
    pad = batch_size - len(levels)
    if pad:
        levels = np.concatenate(
            [levels, np.zeros((pad, *levels.shape[1:]), levels.dtype)]
        )
    return levels


def encode(model, levels, batch_size, progress=False):
    """Range-coded chunks (uint32 words), one per `batch_size` images of
    int `levels` (n, H, W, C)."""
    constriction = coder.require_constriction()
    family = coder.categorical()
    num_levels = model.num_levels
    dims = int(np.prod(model.image_shape))
    chunks = []
    starts = range(0, len(levels), batch_size)
    for start in track(starts, len(starts), progress, "encode", unit="batch"):
        chunk = levels[start : start + batch_size]
        n = len(chunk)
        logits = network_logits(model, _padded(chunk, batch_size))[:n]
        # Symbols in the decoder's order: position-major, then image.
        symbols = chunk.reshape(n, dims).T.reshape(-1)
        probs = probabilities(logits, num_levels).reshape(n, dims, -1)
        probs = probs.transpose(1, 0, 2).reshape(n * dims, -1)
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(symbols.astype(np.int32), family, probs)
        words = np.asarray(encoder.get_compressed(), "<u4")
        pad = max(0, min_words(n, model.image_shape) - len(words))
        chunks.append(np.concatenate([words, np.zeros(pad, "<u4")]))
    return chunks


#: Bits a chunk may hold beyond its symbols' floor: the range coder's flush.
_FLUSH_BITS = 64


def _position_decoder(model, words, n, batch_size, failures):
    """The step that decodes the n images' symbols at one position from one
    range-coded chunk, given the batch's logits; why it stopped goes in
    `failures`."""
    constriction = coder.require_constriction()
    family = coder.categorical()
    decoder = constriction.stream.queue.RangeDecoder(np.asarray(words, np.uint32))
    num_levels = model.num_levels
    budget = 32 * len(words) + _FLUSH_BITS
    spent = [0.0]

    def decode_position(logits):
        values = np.zeros(batch_size, np.int32)
        probs = probabilities(logits[:n], num_levels)
        try:
            values[:n] = decoder.decode(family, probs)
        except (AssertionError, ValueError) as error:  # the range decoder refused
            failures.append(CodecError(f"{UNDECODABLE} ({error})"))
            raise failures[-1] from error
        spent[0] += coder.bits_floor(probs, values[:n])
        if spent[0] > budget:
            failures.append(
                CodecError(
                    f"Corrupted tfgen codec file: a chunk of {len(words)} words holds "
                    f"at most {budget} bits; its symbols so far cost at least "
                    f"{spent[0]:.0f}. {UNDECODABLE}"
                )
            )
            raise failures[-1]
        return values

    return decode_position


def _decoding_loop(model):
    """`(run, slot)`: the sampler's loop whose `choose` hands each position's
    logits to the step in `slot[0]`. Built once per (float64) model and kept
    on it: tracing the loop costs more than decoding a small file."""
    loop = getattr(model, "_codec_loop", None)
    if loop is None:
        slot = [None]

        def choose(logits, t, noise, temperature):
            values = tf.numpy_function(
                lambda x: slot[0](x), [logits], tf.int32, stateful=True
            )
            return tf.reshape(values, tf.shape(logits)[:1])

        build = (
            sampling.cached_sampler
            if sampling.supports_cached_sampling(model)
            else sampling.compiled_sampler
        )
        loop = (build(model, jit_compile=False, choose=choose), slot)
        # Not a tracked attribute: the loop is no part of the model's state.
        object.__setattr__(model, "_codec_loop", loop)
    return loop


def decode(model, header, payload, progress=False):
    """The int levels (n, H, W, C) that `encode` coded into `payload`, the
    uint32 words of the chunks `header` lists."""
    batch_size = header.batch
    shape = tuple(model.image_shape)
    run, slot = _decoding_loop(model)
    noise_shape = (batch_size, *shape) + ((1,) if model.num_levels > 2 else ())
    noise = tf.zeros(noise_shape, tf.float32)
    labels = tf.zeros([batch_size, 0], tf.float32)
    out, offset = [], 0
    starts = range(0, header.count, batch_size)
    batches = track(starts, len(starts), progress, "decode", unit="batch")
    for index, start in enumerate(batches):
        n = min(batch_size, header.count - start)
        words = payload[offset : offset + header.chunk_words[index]]
        offset += header.chunk_words[index]
        failures = []
        slot[0] = _position_decoder(model, words, n, batch_size, failures)
        try:
            levels = run(
                tf.zeros((batch_size, *shape), tf.int32),
                tf.zeros((batch_size, *shape), tf.bool),
                noise,
                labels,
                tf.constant(1.0, tf.float32),
            )
        except tf.errors.OpError as error:
            # Raised inside the loop: say why, not TF's wrapping of it.
            raise (failures[-1] if failures else CodecError(UNDECODABLE)) from error
        finally:
            slot[0] = None
        out.append(np.asarray(levels)[:n])
    return np.concatenate(out)
