"""Batched loops with a progress bar: one helper for every model's batched
inference (sampling, translation, encoding, decoding) and for the codec.

Bars count images, the unit a user asked for, not batches.

```python
for start in batch_starts(len(x), batch_size=64, progress=True, desc="sample"):
    out.append(network(x[start : start + 64]))
```
"""

from tqdm.auto import tqdm

from tfgen.validation import check_positive_int

__all__ = ["batch_starts", "track"]


def batch_starts(n, batch_size, progress=False, desc=None):
    """Yields the first index of each batch of `batch_size` among `n` items
    (the last batch may be short); with `progress`, a tqdm bar that counts
    the images of the batches done."""
    batch_size = check_positive_int(batch_size, "batch_size")
    if not progress:
        yield from range(0, n, batch_size)
        return
    with tqdm(total=n, unit="img", desc=desc) as bar:
        for start in range(0, n, batch_size):
            yield start
            bar.update(min(batch_size, n - start))


def track(iterable, total, enabled, desc=None, unit="img"):
    """`iterable` with a tqdm progress bar of `total` steps when `enabled`."""
    if not enabled:
        return iterable
    return tqdm(iterable, total=total, unit=unit, desc=desc)
