"""Improved precision and recall (k-nearest-neighbour manifolds)."""

import collections

import numpy as np

from tfgen.metrics.features import default_extractor, features_of
from tfgen.validation import check_positive_int

__all__ = [
    "PrecisionRecall",
    "knn_radii",
    "manifold_coverage",
    "precision_recall",
    "precision_recall_from_features",
]

PrecisionRecall = collections.namedtuple("PrecisionRecall", ["precision", "recall"])
PrecisionRecall.__doc__ = """Fractions in [0, 1]: generated samples inside the real
manifold (precision) and real samples inside the generated one (recall)."""


def _squared_distances(x, y):
    """Pairwise squared Euclidean distances (len(x), len(y)) in float32."""
    xx = np.einsum("ij,ij->i", x, x)[:, None]
    yy = np.einsum("ij,ij->i", y, y)[None, :]
    return np.maximum(xx + yy - 2.0 * (x @ y.T), 0.0)


def knn_radii(features, k=3, block_size=1024):
    """Distance from each row to its k-th nearest other row (n,)."""
    features = np.asarray(features, "float32")
    n = features.shape[0]
    if n <= k:
        raise ValueError(
            f"k-NN radii need more than k={k} samples. Received: {n} samples"
        )
    radii = np.empty(n, "float32")
    for start in range(0, n, block_size):
        d = _squared_distances(features[start : start + block_size], features)
        # Column k of the sorted row: column 0 is the sample itself (distance 0).
        radii[start : start + block_size] = np.sqrt(np.partition(d, k, axis=1)[:, k])
    return radii


def manifold_coverage(manifold, radii, queries, block_size=1024):
    """Fraction of `queries` within the union of balls (manifold_i, radii_i)."""
    manifold = np.asarray(manifold, "float32")
    queries = np.asarray(queries, "float32")
    squared_radii = np.square(radii)[None, :]
    inside = 0
    for start in range(0, queries.shape[0], block_size):
        d = _squared_distances(queries[start : start + block_size], manifold)
        inside += int(np.any(d <= squared_radii, axis=1).sum())
    return inside / queries.shape[0]


def precision_recall_from_features(real, generated, k=3, block_size=1024):
    """`PrecisionRecall` of two feature sets (n, d) with k-NN manifolds."""
    k = check_positive_int(k, "k")
    real = np.asarray(real, "float32")
    generated = np.asarray(generated, "float32")
    if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != generated.shape[1]:
        raise ValueError(
            "Expected two feature arrays (n, d) with one d. "
            f"Received shapes: {real.shape} and {generated.shape}"
        )
    precision = manifold_coverage(
        real, knn_radii(real, k, block_size), generated, block_size
    )
    recall = manifold_coverage(
        generated, knn_radii(generated, k, block_size), real, block_size
    )
    return PrecisionRecall(precision, recall)


def precision_recall(
    real,
    generated,
    k=3,
    num_samples=None,
    seed=0,
    extractor=None,
    weights=None,
    batch_size=64,
    progress=True,
):
    """Improved precision and recall of generated images against real ones.

    Each set's manifold is the union of balls around its feature vectors,
    each with the radius to that vector's k-th nearest neighbour in the set:

        precision = fraction of generated samples inside the real manifold
        recall    = fraction of real samples inside the generated manifold

    Precision measures fidelity, recall diversity. The paper (and StyleGAN's
    `pr50k3`) uses VGG-16 fc2 features; here the features are Inception
    pool3, so the numbers are not comparable to VGG-based ones. Distances are
    computed in float32 blocks, as in StyleGAN.

    Args:
        real, generated: each uint8 images, float images in [0, 1], a
            `tf.data.Dataset`, a model with `sample(n, seed=...)`, or a 2-D
            float array of features.
        k: neighbourhood size (3 in the paper).
        num_samples: images drawn from a model (required for model sources).
        seed, extractor, weights, batch_size, progress: see `fid`.

    Returns:
        `PrecisionRecall(precision, recall)`.

    Example:

    ```python
    real = tfgen.data.load_arrays("cifar10", "test")[0]
    p, r = tfgen.metrics.precision_recall(real, model, num_samples=10000)
    ```

    References:
        Kynkäänniemi et al., Improved Precision and Recall Metric for
        Assessing Generative Models, arXiv 1904.06991.
    """
    get = default_extractor(extractor, weights, batch_size, progress)
    real_features = features_of(real, get, num_samples, seed)
    generated_features = features_of(generated, get, num_samples, seed)
    return precision_recall_from_features(real_features, generated_features, k)
