"""Latent-space helpers shared by the families with a Gaussian latent."""

import numpy as np

from tfgen.validation import check_positive_int

__all__ = ["interpolate_latents"]

_METHODS = ("linear", "slerp")


def interpolate_latents(z0, z1, steps, method="slerp"):
    """`steps` latents from `z0` to `z1` (both ends included), float32.

    `method` is `"linear"` or `"slerp"` (spherical, which keeps the norm
    typical of a Gaussian latent; White 2016, arXiv 1609.04468).
    """
    steps = check_positive_int(steps, "steps")
    if method not in _METHODS:
        raise ValueError(
            f"`method` must be 'linear' or 'slerp'. Received: method={method!r}"
        )
    z0 = np.asarray(z0, "float32").reshape(-1)
    z1 = np.asarray(z1, "float32").reshape(-1)
    if z0.shape != z1.shape:
        raise ValueError(
            "The two latents must have the same size. "
            f"Received: z0.shape={z0.shape}, z1.shape={z1.shape}"
        )
    t = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    if method == "linear":
        return ((1 - t) * z0 + t * z1).astype("float32")
    cos = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1) + 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * z0 + t * z1).astype("float32")
    z = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)
    return z.astype("float32")
