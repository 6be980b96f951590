"""What the codec's two coders share: the entropy-coding library (their
progress bars come from `tfgen.progress`).

`constriction` (Bamler, arXiv 2201.12040) provides the range coder of
`tfgen.codec.autoregressive` and the ANS stack of `tfgen.codec.bits_back`.
"""

__all__ = ["categorical", "require_constriction"]


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
