"""Inception Score."""

import collections

import numpy as np

from tfgen.metrics.features import default_extractor
from tfgen.validation import check_positive_int

__all__ = ["InceptionScore", "inception_score", "inception_score_from_logits"]

InceptionScore = collections.namedtuple("InceptionScore", ["mean", "std"])
InceptionScore.__doc__ = (
    """Inception Score: mean and standard deviation over the splits."""
)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def inception_score_from_logits(logits, splits=10):
    """`InceptionScore(mean, std)` of class logits (n, classes), in float64.

    The samples are cut into `splits` contiguous parts (as in the original
    code); each part scores

        IS = exp( mean_i KL( p(y | x_i) || p(y) ) ),  p(y) = mean_i p(y | x_i)
    """
    splits = check_positive_int(splits, "splits")
    logits = np.asarray(logits, "float64")
    if logits.ndim != 2 or logits.shape[0] < splits:
        raise ValueError(
            f"Expected logits of shape (n, classes) with n >= splits={splits}. "
            f"Received: shape={logits.shape}"
        )
    log_p = _log_softmax(logits)
    n = logits.shape[0]
    scores = []
    for k in range(splits):
        part = log_p[k * n // splits : (k + 1) * n // splits]
        log_marginal = np.log(np.exp(part).mean(axis=0))
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return InceptionScore(float(np.mean(scores)), float(np.std(scores)))


def inception_score(
    source,
    splits=10,
    num_samples=None,
    seed=0,
    extractor=None,
    weights=None,
    batch_size=64,
    progress=True,
):
    """Inception Score of an image source.

    The exponentiated mean KL divergence between the Inception network's
    class distribution for each image and its marginal over the set
    (`inception_score_from_logits`): high when each image is confidently
    classified and the classes are diverse. It uses the 1008-way output
    layer of the FID Inception weights without its bias, as the original
    code (OpenAI's `inception_score.py`, StyleGAN's `is50k`) and
    torch-fidelity's `logits_unbiased` do, so it needs pytorch-fid's
    `pt_inception-2015-12-05-6726825d.pth` (the TorchScript feature
    extractor has no output layer). Reference value: 11.24 for the
    CIFAR-10 training set (torch-fidelity).

    Args:
        source: uint8 images, float images in [0, 1], a `tf.data.Dataset`,
            a model with `sample(n, seed=...)`, or a 2-D float array of
            1008 logits.
        splits: number of contiguous parts (10 in the original protocol).
        num_samples: images drawn from a model (50000 in the original
            protocol; required for model sources).
        seed, extractor, weights, batch_size, progress: see `fid`.

    Returns:
        `InceptionScore(mean, std)`.

    Example:

    ```python
    score = tfgen.metrics.inception_score(model, num_samples=50000,
                                          weights="pt_inception-2015-12-05-6726825d.pth")
    ```

    References:
        Salimans et al., Improved Techniques for Training GANs,
        arXiv 1606.03498; Barratt & Sharma, A Note on the Inception Score,
        arXiv 1801.01973.
    """
    if isinstance(source, np.ndarray) and source.ndim == 2:
        return inception_score_from_logits(source, splits)
    get = default_extractor(extractor, weights, batch_size, progress)
    _, logits = get().features(source, num_samples=num_samples, seed=seed, logits=True)
    return inception_score_from_logits(logits, splits)
