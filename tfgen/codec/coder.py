"""What the codec's two coders share: the entropy-coding library (their
progress bars come from `tfgen.progress`).

`constriction` (Bamler, arXiv 2201.12040) provides the ANS stacks of
`tfgen.codec.autoregressive` and `tfgen.codec.bits_back`, and the range
decoder of autoregressive files before format version 3.
"""

import numpy as np

__all__ = ["PROBABILITY_SLACK", "bits_floor", "categorical", "require_constriction"]

#: How far above its float probability constriction's 24-bit quantization
#: (`perfect=False`: every symbol at least one 2^-24 unit) may code a
#: symbol, with room to spare: 2^10 units.
PROBABILITY_SLACK = 2.0**-14


def require_constriction():
    """The `constriction` module, or an ImportError saying how to get it."""
    # Imported on first use: reading a header or importing tfgen needs no coder.
    try:
        import constriction
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise ImportError(
            "tfgen.codec needs the `constriction` package: pip install constriction"
        ) from error
    return constriction


def categorical():
    """constriction's categorical model family over float64 probability
    tables, with the `perfect=False` quantization every file is coded with."""
    return require_constriction().stream.model.Categorical(perfect=False)


def bits_floor(probs, symbols):
    """A lower bound on the bits the coder spends on `symbols` (m,) coded
    with the float64 tables `probs` (m, L): a coded chunk holds at least
    this many bits, so a decoder that has read more is decoding garbage."""
    p = np.asarray(probs)[np.arange(len(symbols)), np.asarray(symbols)]
    return float(-np.log2(np.minimum(1.0, p + PROBABILITY_SLACK)).sum())
