"""Entropy coding of images with an autoregressive model's conditionals.

Encoding is one parallel forward pass per batch; decoding runs the
sampler's loop (`tfgen.sampling`: the cached sampler where the network
allows it) with a `choose` step that decodes each position's symbols
instead of drawing them, for a whole batch at once.

Files are written in format version 3: all batches on one ANS stack
(`constriction`'s `AnsCoder`; the last batch pushed first, each batch's
symbols in reverse, so the decoder pops them in order), stored top word
first so that, as a range-coded chunk, it is read from its start. ANS codes
each symbol exactly (its state is a bijection), so the stack costs the
symbols' bits plus one flush of under two words. Versions 1 and 2 (still
decoded) range-coded each batch as a chunk of its own: a flush (about 18
bits) and a chunk-table word per batch, and the range coder's truncation
of its 64-bit range to 24-bit probabilities, about 1.2e-4 bits per value on
binarized MNIST (0.07% of its bits); `benchmarks/compression.py --account`
measures each part.

The coded probabilities must be the same bits at both ends: the network
runs in float64 (see `tfgen.codec.coding_copy`), its logits are cast to
float32 and rounded to multiples of `LOGIT_QUANTUM`, and the probabilities
come from those by one NumPy function, `probabilities`.

A chunk shorter than `container.min_words` is padded with zero words at its
end (below the stack), which the decoder never reads. The decoder counts
the bits its symbols cost at least (`coder.bits_floor`) and stops as soon
as they exceed the chunk's: a corrupted or forged chunk is refused once its
symbols cost more than it holds instead of after the whole file.
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


def _stack(model, levels, batch_size, progress, state):
    """The ANS stack's words after pushing int `levels` (n, H, W, C),
    `batch_size` images at a time, the last batch first, onto the stack
    `state` (uint32 words)."""
    constriction = coder.require_constriction()
    family = coder.categorical()
    num_levels = model.num_levels
    dims = int(np.prod(model.image_shape))
    stack = constriction.stream.stack.AnsCoder(state)
    starts = range(0, len(levels), batch_size)[::-1]
    for start in track(starts, len(starts), progress, "encode", unit="batch"):
        chunk = levels[start : start + batch_size]
        n = len(chunk)
        logits = network_logits(model, _padded(chunk, batch_size))[:n]
        # Symbols in the decoder's order: position-major, then image.
        symbols = chunk.reshape(n, dims).T.reshape(-1)
        probs = probabilities(logits, num_levels).reshape(n, dims, -1)
        probs = probs.transpose(1, 0, 2).reshape(n * dims, -1)
        stack.encode_reverse(symbols.astype(np.int32), family, probs)
    return np.asarray(stack.get_compressed(), "<u4")


#: An ANS state of 2^32 (low word, high word). A stack pushed onto the empty
#: state (0) has a state under 2^32 at its bottom, where the decoder refills
#: its state from whatever words lie below: zero words of padding would be
#: read. Pushed onto this one, the state never drops under 2^32 and the
#: decoder never reads below the stack.
_FULL_STATE = np.array([0, 1], np.uint32)


def encode(model, levels, batch_size, progress=False):
    """The one chunk (a list of one uint32 array: format version 3) of int
    `levels` (n, H, W, C): an ANS stack, `batch_size` images per batch."""
    least = min_words(len(levels), model.image_shape)
    words = _stack(model, levels, batch_size, progress, np.zeros(0, np.uint32))
    if len(words) < least:
        # Padding needed (images of under 1/32 bit per value): push them
        # again onto a full state, which costs a word, and pad below it.
        words = _stack(model, levels, batch_size, progress, _FULL_STATE)
    pad = max(0, least - len(words))
    # Top word first: the chunk is read from its start, as a range-coded one.
    return [np.concatenate([words[::-1], np.zeros(pad, "<u4")])]


#: Bits a chunk may hold beyond its symbols' floor: a coder's flush.
_FLUSH_BITS = 64


class _ChunkReader:
    """One chunk being decoded: an ANS stack of all batches (format version
    3) or the range-coded chunk of one batch (versions 1 and 2); its
    decoder, and the bits its symbols so far cost at least, refused once
    they pass what the chunk holds."""

    def __init__(self, words, num_levels, stack):
        constriction = coder.require_constriction()
        words = np.asarray(words, np.uint32)
        try:
            if stack:  # stored top word first
                self.decoder = constriction.stream.stack.AnsCoder(words[::-1])
            else:
                self.decoder = constriction.stream.queue.RangeDecoder(words)
        except ValueError as error:  # an ANS stack never ends in a zero word
            raise CodecError(f"{UNDECODABLE} ({error})") from error
        self.family = coder.categorical()
        self.num_levels = num_levels
        self.words = len(words)
        self.budget = 32 * len(words) + _FLUSH_BITS
        self.spent = 0.0

    def position_step(self, n, batch_size, failures):
        """The step that decodes the n images' symbols at one position, given
        the batch's logits; why it stopped goes in `failures`."""

        def decode_position(logits):
            values = np.zeros(batch_size, np.int32)
            probs = probabilities(logits[:n], self.num_levels)
            try:
                values[:n] = self.decoder.decode(self.family, probs)
            except (AssertionError, ValueError) as error:  # the decoder refused
                failures.append(CodecError(f"{UNDECODABLE} ({error})"))
                raise failures[-1] from error
            self.spent += coder.bits_floor(probs, values[:n])
            if self.spent > self.budget:
                failures.append(
                    CodecError(
                        f"Corrupted tfgen codec file: a chunk of {self.words} words "
                        f"holds at most {self.budget} bits; its symbols so far cost "
                        f"at least {self.spent:.0f}. {UNDECODABLE}"
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
    out, offset, reader = [], 0, None
    starts = range(0, header.count, batch_size)
    batches = track(starts, len(starts), progress, "decode", unit="batch")
    for index, start in enumerate(batches):
        n = min(batch_size, header.count - start)
        if reader is None or not header.one_stack:  # a chunk per batch before v3
            words = payload[offset : offset + header.chunk_words[index]]
            offset += header.chunk_words[index]
            reader = _ChunkReader(words, model.num_levels, header.one_stack)
        failures = []
        slot[0] = reader.position_step(n, batch_size, failures)
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
