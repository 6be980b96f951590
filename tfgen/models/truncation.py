"""The truncation trick: Gaussian latents drawn closer to the mode.

Each entry of z ~ N(0, I) whose magnitude exceeds the threshold is drawn
again, and again, until every |z_i| <= threshold: z then follows the
standard normal truncated to [-threshold, threshold] in every coordinate.
Smaller thresholds trade variety for typical, cleaner samples (Brock et al.,
BigGAN, arXiv 1809.11096, Section 3.1; Marchesi, arXiv 1702.04782).
"""

import numpy as np

__all__ = ["check_truncation", "truncate"]


def check_truncation(threshold):
    """`threshold` as a positive float, or None (no truncation)."""
    if threshold is None:
        return None
    value = float(threshold)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(
            "`truncation` must be None or a positive threshold on |z_i|, e.g. 1.0. "
            f"Received: truncation={threshold!r}"
        )
    return value


def truncate(z, threshold, rng):
    """`z` with every entry |z_i| > threshold redrawn from N(0, 1) by `rng`
    (a `numpy.random.Generator`) until none is left; entries within the
    threshold are kept as they are. Returns a new float32 array."""
    threshold = check_truncation(threshold)
    z = np.array(z, dtype="float32")
    if threshold is None:
        return z
    outside = np.abs(z) > threshold
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum())).astype("float32")
        outside = np.abs(z) > threshold
    return z
