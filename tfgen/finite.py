"""Non-finite values: NaN and infinities in weights and training logs.

A run that diverges fills its losses, then its weights, with NaN or
infinities; saved, they make a model that draws black images under a valid
sha256. Whatever writes weights that someone will load again (the training
checkpoints, the recipes' export, the zoo's `save`) checks them here first.

```python
tfgen.finite.check_finite_weights(model)   # or NonFiniteError naming the weights
tfgen.finite.non_finite_logs({"loss": float("nan"), "kl": 1.0})  # {"loss": nan}
```
"""

import keras
import numpy as np

__all__ = ["NonFiniteError", "check_finite_weights", "non_finite_logs"]

# Names listed in an error before the rest are counted.
_SHOWN = 5


class NonFiniteError(ValueError):
    """NaN or infinite values where only finite ones may go: a training loss,
    or weights about to be saved, exported or resumed from."""


def _optimizers(model):
    """The model's optimizers: `model.optimizer` and named ones held as
    attributes (GANs' `d_optimizer` and `g_optimizer`), each once."""
    found = []
    for value in [getattr(model, "optimizer", None), *vars(model).values()]:
        if isinstance(value, keras.optimizers.Optimizer) and not any(
            value is other for other in found
        ):
            found.append(value)
    return found


def _as_float_array(value):
    array = np.asarray(value)
    if array.dtype.kind not in "fc" and "float" in str(array.dtype):
        array = array.astype(np.float32)  # bfloat16 and other ml_dtypes floats
    return array


def check_finite_weights(model, what=None):
    """Raises `NonFiniteError` unless every weight of `model` and of its
    optimizers (Adam's moments, EMA copies) is finite; returns `model`.

    Args:
        model: a `keras.Model`.
        what: how the error names the model (e.g. the folder being written);
            default: the model's name.
    """
    variables = list(model.weights)
    for optimizer in _optimizers(model):
        variables += list(optimizer.variables)
    bad = []
    seen = set()
    for variable in variables:
        if id(variable) in seen:
            continue
        seen.add(id(variable))
        array = _as_float_array(variable)
        if array.dtype.kind not in "fc":
            continue
        finite = np.isfinite(array)
        if not finite.all():
            count = int(array.size - np.count_nonzero(finite))
            name = getattr(variable, "path", None) or variable.name
            bad.append(f"{name} ({count} of {array.size} values)")
    if bad:
        shown = ", ".join(bad[:_SHOWN])
        if len(bad) > _SHOWN:
            shown += f" and {len(bad) - _SHOWN} more"
        raise NonFiniteError(
            f"{what or model.name} holds NaN or infinite weights, which must not "
            f"be saved, exported or resumed from. Expected only finite values. "
            f"Received non-finite values in {len(bad)} of {len(seen)} variables: "
            f"{shown}."
        )
    return model


def non_finite_logs(logs):
    """The entries of a Keras `logs` dict whose value is a NaN or an
    infinity (a dict, empty when all are finite); non-numeric entries are
    skipped."""
    bad = {}
    for name, value in (logs or {}).items():
        try:
            array = _as_float_array(value)
        except (TypeError, ValueError):
            continue
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            bad[name] = array.item() if array.size == 1 else array
    return bad
