"""Kernel Inception Distance."""

import collections

import numpy as np

from tfgen.metrics.features import default_extractor, features_of
from tfgen.validation import check_positive_int

__all__ = ["KID", "kid", "kid_from_features", "mmd2_unbiased", "polynomial_kernel"]

KID = collections.namedtuple("KID", ["mean", "std"])
KID.__doc__ = (
    """KID over subsets: mean and standard deviation of the subset estimates."""
)


def polynomial_kernel(x, y, degree=3, coef0=1.0):
    """k(x, y) = (x . y / d + coef0) ** degree, the KID kernel, in float64."""
    x = np.asarray(x, "float64")
    y = np.asarray(y, "float64")
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x, y, degree=3, coef0=1.0):
    """Unbiased estimate of the squared MMD between the samples x (m, d), y (n, d):

        MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1))
                + sum_{i != j} k(y_i, y_j) / (n (n - 1))
                - 2 sum_{i, j} k(x_i, y_j) / (m n)

    with `polynomial_kernel`. Its expectation is the true squared MMD, so it is
    0 on average (and can be negative) for samples of one distribution.
    """
    x = np.asarray(x, "float64")
    y = np.asarray(y, "float64")
    m, n = x.shape[0], y.shape[0]
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or m < 2 or n < 2:
        raise ValueError(
            "Expected two feature arrays (m, d) and (n, d) with m, n >= 2 and one d. "
            f"Received shapes: {x.shape} and {y.shape}"
        )
    k_xx = polynomial_kernel(x, x, degree, coef0)
    k_yy = polynomial_kernel(y, y, degree, coef0)
    k_xy = polynomial_kernel(x, y, degree, coef0)
    return float(
        (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
        - 2.0 * k_xy.mean()
    )


def kid_from_features(
    features_a, features_b, num_subsets=100, subset_size=1000, seed=0
):
    """`KID(mean, std)` of `mmd2_unbiased` over random subsets of two feature sets.

    Each of `num_subsets` rounds draws `min(subset_size, n_a, n_b)` rows of
    each set without replacement (StyleGAN's and torch-fidelity's protocol).
    """
    num_subsets = check_positive_int(num_subsets, "num_subsets")
    subset_size = check_positive_int(subset_size, "subset_size")
    a = np.asarray(features_a, "float64")
    b = np.asarray(features_b, "float64")
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(
            f"KID needs at least 2 samples in each set. Received: {a.shape[0]} and {b.shape[0]}"
        )
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            mmd2_unbiased(
                a[rng.choice(a.shape[0], m, replace=False)],
                b[rng.choice(b.shape[0], m, replace=False)],
            )
            for _ in range(num_subsets)
        ]
    )
    return KID(float(values.mean()), float(values.std()))


def kid(
    a,
    b,
    num_subsets=100,
    subset_size=1000,
    num_samples=None,
    seed=0,
    extractor=None,
    weights=None,
    batch_size=64,
    progress=True,
):
    """Kernel Inception Distance between two image sources.

    The unbiased squared MMD between the pool3 features of the two sets,
    with the cubic polynomial kernel k(x, y) = (x . y / 2048 + 1)^3,
    averaged over random subsets (`kid_from_features`). Unlike FID it is
    unbiased, so it is comparable across sample counts; it is often
    reported x 1000.

    Args:
        a, b: each uint8 images, float images in [0, 1], a
            `tf.data.Dataset`, a model with `sample(n, seed=...)`, or a 2-D
            float array of features.
        num_subsets: subsets averaged (100 in StyleGAN and torch-fidelity).
        subset_size: samples per subset (1000 there).
        num_samples: images drawn from a model (required for model sources).
        seed: seeds a model's batches and the subset draws.
        extractor, weights, batch_size, progress: see `fid`.

    Returns:
        `KID(mean, std)`.

    Example:

    ```python
    result = tfgen.metrics.kid(model, real_images, num_samples=10000)
    print(f"KID x 1000 = {1000 * result.mean:.2f} +- {1000 * result.std:.2f}")
    ```

    References:
        Bińkowski et al., Demystifying MMD GANs, arXiv 1801.01401.
    """
    get = default_extractor(extractor, weights, batch_size, progress)
    features_a = features_of(a, get, num_samples, seed)
    features_b = features_of(b, get, num_samples, seed)
    return kid_from_features(features_a, features_b, num_subsets, subset_size, seed)
