"""What the codec's two coders share: the entropy-coding library and a
progress bar over the images or batches they code.

`constriction` (Bamler, arXiv 2201.12040) provides the range coder of
`tfgen.codec.autoregressive` and the ANS stack of `tfgen.codec.bits_back`.
"""

from tqdm.auto import tqdm

__all__ = ["categorical", "progress", "require_constriction"]


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


def progress(iterable, total, enabled, desc, unit="batch"):
    """`iterable` with a tqdm progress bar when `enabled`."""
    if not enabled:
        return iterable
    return tqdm(iterable, total=total, unit=unit, desc=desc)
