"""The adversarial losses, per example, from discriminator logits.

Every function takes float32 logits (n,) and returns the per-example loss
(n,) that the network descends; `train_core.global_mean` turns it into the
step's loss. The discriminator's losses, with l = D(x) on real images and
l~ = D(G(z)) on generated ones:

    logistic      softplus(-l) + softplus(l~)   (= -log D(x) - log(1 - D(G(z))))
    hinge         relu(1 - l) + relu(1 + l~)
    wasserstein   l~ - l

and the generator's, from l~ alone:

    minimax         -softplus(l~)   (= log(1 - D(G(z))), Goodfellow et al.)
    non_saturating  softplus(-l~)   (= -log D(G(z)))
    hinge           -l~
    wasserstein     -l~

References:
    Goodfellow et al., Generative Adversarial Networks, arXiv 1406.2661.
    Arjovsky et al., Wasserstein GAN, arXiv 1701.07875.
    Lim & Ye, Geometric GAN, arXiv 1705.02894; Miyato et al., Spectral
    Normalization for Generative Adversarial Networks, arXiv 1802.05957
    (the hinge loss).
"""

from keras import ops

__all__ = [
    "DISCRIMINATOR_LOSSES",
    "GENERATOR_LOSSES",
    "check_loss",
    "discriminator_loss",
    "generator_loss",
]


def _logistic(real, fake):
    return ops.softplus(-real) + ops.softplus(fake)


def _hinge(real, fake):
    return ops.relu(1.0 - real) + ops.relu(1.0 + fake)


def _wasserstein(real, fake):
    return fake - real


DISCRIMINATOR_LOSSES = {
    "logistic": _logistic,
    "hinge": _hinge,
    "wasserstein": _wasserstein,
}

GENERATOR_LOSSES = {
    # log(1 - sigmoid(l)) = -softplus(l)
    "minimax": lambda fake: -ops.softplus(fake),
    "non_saturating": lambda fake: ops.softplus(-fake),
    "hinge": lambda fake: -fake,
    "wasserstein": lambda fake: -fake,
}


def check_loss(name, kind):
    """`name` if it is a known loss of `kind` ("generator" or
    "discriminator"), else a ValueError listing the known ones."""
    known = GENERATOR_LOSSES if kind == "generator" else DISCRIMINATOR_LOSSES
    if name not in known:
        raise ValueError(
            f"`{kind}_loss` must be one of {tuple(known)}. "
            f"Received: {kind}_loss={name!r}"
        )
    return name


def discriminator_loss(name, real_logits, fake_logits):
    """The discriminator's per-example loss `name` (see the module doc)."""
    return DISCRIMINATOR_LOSSES[check_loss(name, "discriminator")](
        real_logits, fake_logits
    )


def generator_loss(name, fake_logits):
    """The generator's per-example loss `name` (see the module doc)."""
    return GENERATOR_LOSSES[check_loss(name, "generator")](fake_logits)
