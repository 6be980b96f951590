"""Latent-space tools shared by the families with a Gaussian latent: the
adversarial models (a generator from z) and the VAE (an encoder to z and a
decoder from it). Codes are float32 arrays (n, latent_dim); a model passed
here needs `latents(n, seed)`, its prior draws."""

import numpy as np

from tfgen.validation import check_positive_int

__all__ = [
    "apply_attribute",
    "attribute_vector",
    "check_latents",
    "interpolate_latents",
    "latent_path",
]

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


def latent_path(model, z0=None, z1=None, steps=10, method="slerp", seed=None):
    """`interpolate_latents(z0, z1, steps, method)`, with the missing ends
    drawn from the prior: `model.latents(2, seed)`, the first draw for `z0`
    and the second for `z1`."""
    if z0 is None or z1 is None:
        pair = model.latents(2, seed)
        z0 = pair[0] if z0 is None else z0
        z1 = pair[1] if z1 is None else z1
    return interpolate_latents(z0, z1, steps, method)


def check_latents(z, latent_dim, name="z"):
    """`z` as float32 numpy (n, latent_dim), or a ValueError."""
    z = np.asarray(z, dtype="float32")
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(
            f"`{name}` must have shape (n, {latent_dim}). "
            f"Received: {name}.shape={z.shape}"
        )
    return z


def attribute_vector(codes, labels, source, target):
    """The mean code of class `target` minus the mean code of class `source`.

    Added to a code (`apply_attribute`) it moves the decoded or generated
    image from `source` towards `target` (e.g. MNIST digit 1 -> 7; White
    2016, arXiv 1609.04468; the vector arithmetic of Radford et al.,
    arXiv 1511.06434). `codes` (n, latent_dim) are a VAE's encodings or the
    latents behind a GAN's images; `labels` (n,) are their classes.

    Returns:
        float32 array (latent_dim,).
    """
    codes = np.asarray(codes, dtype="float32")
    if codes.ndim != 2:
        raise ValueError(
            f"`codes` must have shape (n, latent_dim). Received: codes.shape={codes.shape}"
        )
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != codes.shape[0]:
        raise ValueError(
            f"`labels` must have one entry per code ({codes.shape[0]}). "
            f"Received: labels.shape={labels.shape}"
        )
    means = []
    for cls in (source, target):
        mask = labels == cls
        if not mask.any():
            raise ValueError(
                f"No code with label {cls!r}. "
                f"Received labels {sorted(set(labels.tolist()))}"
            )
        means.append(codes[mask].mean(axis=0))
    return (means[1] - means[0]).astype("float32")


def apply_attribute(codes, vector, strength=1.0):
    """codes + strength * vector: the codes (n, latent_dim) moved along an
    attribute vector (`attribute_vector`), float32."""
    codes = np.asarray(codes, dtype="float32")
    vector = np.asarray(vector, dtype="float32").reshape(-1)
    if codes.ndim != 2 or vector.shape[0] != codes.shape[1]:
        raise ValueError(
            f"`vector` must have one entry per latent dimension of the codes "
            f"{codes.shape}. Received: vector.shape={vector.shape}"
        )
    return codes + float(strength) * vector
