"""Gradient-based causality checks for autoregressive layers and networks.

`dependencies(fn, x, groups_out)` returns the matrix D[p, q] = sum |d out_p /
d x_q| where p and q index positions (row, column, colour group) in raster ×
colour order; `check_causal` asserts that D is exactly zero wherever the
order forbids a dependency, and nonzero somewhere it allows one.

Shared by the autoregressive test files:

```python
from causality import check_causal
check_causal(network, (4, 4, 3), strict=True)      # logits vs image
check_causal(layer, (4, 4, 6), groups=3, strict=False)  # mask-B features
```

`tests/autoregressive_checks.py` applies it to whole models (`assert_causal`).
"""

import numpy as np
import tensorflow as tf

from tfgen.layers.masked_conv import colour_blocks


def _group_matrix(channels, groups):
    """(channels, groups) 0/1: which colour block holds each channel, as the
    layers split features (`colour_blocks`: as even as they can be)."""
    return np.eye(groups, dtype="float32")[
        np.repeat(np.arange(groups), colour_blocks(channels, groups))
    ]


def dependencies(fn, x, groups_out, groups_in):
    """D[p, q] for out = fn(x), positions ordered (row, column, group).

    `fn` maps (N, H, W, C_in) to (N, H, W, C_out) or (N, H, W, C, levels);
    its batch elements must be independent. Output channels (or the C axis of
    5-D outputs) are split into `groups_out` contiguous blocks; input channels
    into `groups_in`; blocks need not be equal (64 into 3: 22, 21, 21). Every
    output position gets its own copy of `x` in one batch, so one gradient
    call gives the whole matrix.
    """
    x = np.asarray(x, dtype="float32")
    height, width, channels_in = x.shape
    positions = height * width * groups_out
    batch = tf.constant(np.repeat(x[None], positions, axis=0))
    rng = np.random.default_rng(0)
    with tf.GradientTape() as tape:
        tape.watch(batch)
        out = tf.cast(fn(batch), tf.float32)
        out = tf.reshape(out, (positions, height * width, -1))
        # A random projection of each colour block's features, so that no
        # sum of logits cancels by accident.
        weights = rng.normal(size=(out.shape[-1], 1)).astype("float32")
        weights = weights * _group_matrix(out.shape[-1], groups_out)
        picked = tf.reshape(out @ weights, (positions, positions))
        picked = tf.reduce_sum(picked * tf.eye(positions))
    grad = np.abs(tape.gradient(picked, batch).numpy())
    grad = grad.reshape(positions, height * width, channels_in)
    grad = grad @ _group_matrix(channels_in, groups_in)
    return grad.reshape(positions, height * width * groups_in)


def allowed(height, width, groups, strict):
    """A[p, q]: may output position p depend on input position q?"""
    order = np.arange(height * width * groups)
    if strict:
        return order[None, :] < order[:, None]
    return order[None, :] <= order[:, None]


def check_causal(
    fn, shape, groups=None, strict=True, full=False, seed=0, num_inputs=1, name=None
):
    """Asserts raster × colour causality of `fn` on random inputs of `shape`.

    Args:
        fn: the network or layer (batch elements independent).
        shape: (H, W, C) of the input.
        groups: colour groups of inputs and outputs (default: C, i.e. one
            group per image channel).
        strict: outputs see only strictly earlier positions (a network from
            image to logits) instead of earlier-or-equal ones (mask-B layers).
        full: also require a nonzero dependency on *every* allowed position
            (a model whose receptive field covers the whole past).
        seed: seeds the inputs, drawn uniformly in (0.05, 0.95), off any
            level grid, so that every path carries a gradient.
        num_inputs: |gradients| are summed over this many inputs, so that a
            ReLU that is off at one input hides no dependence.
        name: names `fn` in the messages.

    Returns:
        D, the dependency matrix.
    """
    height, width, channels = shape
    groups = groups or channels
    rng = np.random.default_rng(seed)
    deps = sum(
        dependencies(fn, rng.uniform(0.05, 0.95, shape), groups, groups)
        for _ in range(num_inputs)
    )
    ok = allowed(height, width, groups, strict)
    where = (height, width, groups)

    def at(index):
        return tuple(int(i) for i in np.unravel_index(index, where))

    name = name or getattr(fn, "name", type(fn).__name__)
    leaks = np.argwhere((deps > 0) & ~ok)
    if leaks.size:
        p, q = leaks[0]
        raise AssertionError(
            f"{name}: output {at(p)} depends on input "
            f"{at(q)} (row, column, group), which it may not "
            f"see ({len(leaks)} leaking pairs; gradient {deps[p, q]:.3g})"
        )
    for p in range(deps.shape[0]):
        seen = deps[p][ok[p]]
        if not seen.size:
            continue
        if seen.max() == 0:
            raise AssertionError(f"{name}: output {at(p)} depends on no earlier input")
        if full and seen.min() == 0:
            missed = np.flatnonzero(ok[p] & (deps[p] == 0))
            raise AssertionError(
                f"{name}: output {at(p)} misses earlier inputs "
                f"{[at(q) for q in missed[:5]]}"
            )
    return deps
