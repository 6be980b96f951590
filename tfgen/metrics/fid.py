"""Fréchet Inception Distance."""

import dataclasses
import json
import os

import numpy as np

from tfgen.metrics.features import default_extractor, features_of

__all__ = [
    "FID_METHODS",
    "Statistics",
    "compute_statistics",
    "fid",
    "frechet_distance",
    "statistics_from_features",
]

#: Matrix square roots `frechet_distance` offers.
FID_METHODS = ("sqrtm", "eigh")


@dataclasses.dataclass
class Statistics:
    """Mean and covariance of Inception features, in float64.

    Saved as `.npz` with keys `mu` and `sigma` (the layout of TTUR's and
    pytorch-fid's statistics files, so theirs load too), `num_samples`, and
    `metadata` (a JSON string, so the file loads with `allow_pickle=False`).
    `save(..., packed=True)` stores only sigma's upper triangle
    (`sigma_upper`, row by row), half the size, for shipped files.

    Args:
        mu: (d,) feature mean.
        sigma: (d, d) feature covariance (unbiased, ddof=1).
        num_samples: number of images they summarize (0 when unknown).
        metadata: a JSON-serializable dict describing how they were made
            (dataset, split, feature network, resize, input dtype, ...).
    """

    mu: np.ndarray
    sigma: np.ndarray
    num_samples: int = 0
    metadata: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.mu = np.asarray(self.mu, dtype="float64")
        self.sigma = np.asarray(self.sigma, dtype="float64")
        d = self.mu.shape[0] if self.mu.ndim == 1 else None
        if d is None or self.sigma.shape != (d, d):
            raise ValueError(
                "Statistics need mu of shape (d,) and sigma of shape (d, d). "
                f"Received: mu.shape={self.mu.shape}, sigma.shape={self.sigma.shape}"
            )

    def save(self, path, compressed=False, packed=False):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write = np.savez_compressed if compressed else np.savez
        if packed:
            covariance = {"sigma_upper": self.sigma[np.triu_indices(len(self.mu))]}
        else:
            covariance = {"sigma": self.sigma}
        write(
            path,
            mu=self.mu,
            **covariance,
            num_samples=self.num_samples,
            metadata=np.array(json.dumps(self.metadata, sort_keys=True)),
        )
        return path

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as data:
            if "mu" not in data.files or not {"sigma", "sigma_upper"} & set(data.files):
                raise ValueError(
                    f"{path} is not a statistics file. Expected arrays 'mu' and 'sigma' "
                    f"(or 'sigma_upper'). Received keys: {sorted(data.files)}"
                )
            n = int(data["num_samples"]) if "num_samples" in data.files else 0
            metadata = {}
            if "metadata" in data.files:
                metadata = json.loads(str(data["metadata"]))
                if not isinstance(metadata, dict):
                    raise ValueError(
                        f"{path} holds metadata that is not a JSON object. "
                        f"Received: {type(metadata).__name__}"
                    )
            if "sigma" in data.files:
                return cls(data["mu"], data["sigma"], n, metadata)
            return cls(
                data["mu"], _unpack_upper(data["sigma_upper"], path), n, metadata
            )


def _unpack_upper(upper, path):
    # n(n+1)/2 values fill an n x n symmetric matrix.
    d = int((np.sqrt(8 * upper.size + 1) - 1) / 2)
    if upper.ndim != 1 or d * (d + 1) // 2 != upper.size:
        raise ValueError(
            f"{path}: 'sigma_upper' must hold the d(d+1)/2 values of an upper "
            f"triangle. Received shape {upper.shape}"
        )
    sigma = np.zeros((d, d), "float64")
    sigma[np.triu_indices(d)] = upper
    return sigma + np.triu(sigma, 1).T


def statistics_from_features(features):
    """`Statistics` (float64 mean and unbiased covariance) of features
    (n, d), n >= 2."""
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(
            "Statistics need at least 2 feature vectors of shape (n, d). "
            f"Received: shape={features.shape}"
        )
    return Statistics(
        features.mean(axis=0), np.cov(features, rowvar=False), features.shape[0]
    )


def compute_statistics(
    source,
    num_samples=None,
    seed=0,
    extractor=None,
    weights=None,
    batch_size=64,
    progress=True,
):
    """`Statistics` (float64 mean and covariance) of pool3 features.

    Args:
        source: uint8 images (n, H, W[, C]), float images in [0, 1], a
            `tf.data.Dataset` of either, a model with `sample(n, seed=...)`,
            or a 2-D float array of features.
        num_samples: images drawn from a model (required then); at most this
            many are read from arrays and datasets.
        seed: seed of a model's first batch (later batches add 1 each).
        extractor: a `FeatureExtractor`; default one over `weights`.
        weights, batch_size, progress: see `FeatureExtractor`.
    """
    get = default_extractor(extractor, weights, batch_size, progress)
    if isinstance(source, Statistics):
        return source
    return statistics_from_features(features_of(source, get, num_samples, seed))


def _sqrtm_trace(sigma1, sigma2, eps):
    """trace(sqrtm(sigma1 @ sigma2)) by scipy's sqrtm, with pytorch-fid's
    fallback: add eps to the diagonals when the product is singular."""
    try:
        from scipy import linalg
    except ImportError:
        raise ImportError(
            "FID's default matrix square root needs scipy: `pip install scipy`, or "
            "pass method='eigh' (numpy only)."
        ) from None
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imaginary = np.max(np.abs(np.diagonal(covmean).imag))
        if imaginary > 1e-3:
            raise ValueError(
                "The matrix square root has a large imaginary part: the covariances "
                "are far from positive semi-definite (too few samples?). "
                f"Received: max |imag(diag)| = {imaginary:.3g}"
            )
        covmean = covmean.real
    return float(np.trace(covmean))


def _eigh_trace(sigma1, sigma2):
    """trace(sqrtm(sigma1 @ sigma2)) = sum(sqrt(eig(s1^1/2 sigma2 s1^1/2))),
    with every matrix symmetric, so only `eigh` is needed."""
    w, v = np.linalg.eigh(sigma1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eigenvalues = np.linalg.eigvalsh(root @ sigma2 @ root)
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6, method="sqrtm"):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64:

        d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^1/2)

    Args:
        mu1, mu2: (d,) means.
        sigma1, sigma2: (d, d) covariances.
        eps: diagonal offset used when `sigma1 @ sigma2` is singular
            (`method="sqrtm"`, as pytorch-fid).
        method: `"sqrtm"` (scipy.linalg.sqrtm, as pytorch-fid and TTUR) or
            `"eigh"` (symmetric eigendecompositions; faster, and never
            complex).
    """
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, "float64")),
        np.atleast_1d(np.asarray(mu2, "float64")),
    )
    sigma1, sigma2 = (
        np.atleast_2d(np.asarray(sigma1, "float64")),
        np.atleast_2d(np.asarray(sigma2, "float64")),
    )
    d = mu1.shape[0]
    shapes = (mu1.shape, mu2.shape, sigma1.shape, sigma2.shape)
    if shapes != ((d,), (d,), (d, d), (d, d)):
        raise ValueError(
            "Expected mu1, mu2 of shape (d,) and sigma1, sigma2 of shape (d, d) with one d. "
            f"Received shapes: {shapes}"
        )
    if method == "sqrtm":
        trace = _sqrtm_trace(sigma1, sigma2, eps)
    elif method == "eigh":
        trace = _eigh_trace(sigma1, sigma2)
    else:
        raise ValueError(
            f"`method` must be one of {list(FID_METHODS)}. Received: method={method!r}"
        )
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace)


def fid(
    a,
    b,
    num_samples=None,
    seed=0,
    extractor=None,
    weights=None,
    batch_size=64,
    progress=True,
    method="sqrtm",
):
    """Fréchet Inception Distance between two image sources.

    FID fits a Gaussian to the 2048-d pool3 features of each set and
    returns the Fréchet distance between the two (`frechet_distance`).
    Lower is better; 0 for identical sets. FID is biased upward for
    small n, so compare numbers only under one protocol: name the
    reference split, both sample counts, the network (this one is TF's
    inception-2015-12-05 as TTUR/pytorch-fid/StyleGAN use it), the resize
    (bilinear, half-pixel centers, edges clamped, to 299x299) and the input
    dtype (uint8 levels; floats in [0, 1] are rounded to them).

    Args:
        a, b: each uint8 images (n, H, W[, C]), float images in [0, 1], a
            `tf.data.Dataset` of either, a model with `sample(n, seed=...)`,
            a 2-D float array of features, or `Statistics`.
        num_samples: images drawn from a model (required for model sources).
        seed: seed of a model's first batch.
        extractor: a `FeatureExtractor`; default one over `weights`
            (`load_fid_inception`: `$TFGEN_FID_WEIGHTS` or a download).
        weights, batch_size, progress: see `FeatureExtractor`.
        method: see `frechet_distance`.

    Example:

    ```python
    real = tfgen.data.load_arrays("cifar10", "train")[0]           # 50k uint8
    ref = tfgen.metrics.compute_statistics(real)
    ref.save("cifar10_train.npz")
    score = tfgen.metrics.fid(model, ref, num_samples=50000, seed=0)
    ```

    References:
        Heusel et al., GANs Trained by a Two Time-Scale Update Rule Converge
        to a Local Nash Equilibrium, arXiv 1706.08500.
    """
    get = default_extractor(extractor, weights, batch_size, progress)
    stats = []
    for source in (a, b):
        if isinstance(source, Statistics):
            stats.append(source)
        else:
            stats.append(
                statistics_from_features(features_of(source, get, num_samples, seed))
            )
    return frechet_distance(
        stats[0].mu, stats[0].sigma, stats[1].mu, stats[1].sigma, method=method
    )
