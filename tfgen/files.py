"""Files on disk: sha256 digests, checked files, atomic writes, the cache.

The bottom layer of tfgen (the standard library only): the zoo, the
metrics, the codec and the command line hash, check, write and place their
files through it.

```python
digest = tfgen.files.sha256("model.weights.h5")
tfgen.files.verify("model.weights.h5", digest, "my model")  # or ChecksumError
tfgen.files.write_bytes("out.tfg", blob)  # never half a file under that name
tfgen.files.cache_dir()                   # $TFGEN_CACHE_DIR or ~/.keras/tfgen
```
"""

import hashlib
import os
import re
import threading

__all__ = [
    "ChecksumError",
    "cache_dir",
    "sha256",
    "verify",
    "write_atomic",
    "write_bytes",
]

_HEX_PREFIX = re.compile(r"[0-9a-f]{8,64}")


class ChecksumError(ValueError):
    """A file whose sha256 is not the one recorded for it."""


def sha256(path, chunk=1 << 20):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path, expected_sha256, label, prefix=False):
    """Raises `ChecksumError` unless the file's sha256 is `expected_sha256`;
    returns the file's sha256.

    Args:
        path: the file.
        expected_sha256: hex digest (None never matches).
        label: what the file is, for the error message.
        prefix: also accept a leading part of at least 8 hex digits (as
            torch.hub names its files).
    """
    actual = sha256(path)
    expected = (expected_sha256 or "").lower()
    if prefix:
        matches = bool(_HEX_PREFIX.fullmatch(expected)) and actual.startswith(expected)
    else:
        matches = actual == expected
    if not matches:
        raise ChecksumError(
            f"sha256 mismatch for {label} ({path}): the file may be corrupt or replaced. "
            f"Expected: {expected_sha256}. Received: {actual}."
        )
    return actual


def write_atomic(path, write, suffix=None):
    """Calls `write(partial_path)`, then renames the file to `path`, so a
    reader never sees half a file, an interrupted write leaves none, and
    processes writing the same file at once do not collide.

    `suffix` ends the partial name, for writers that add or insist on one
    (`np.savez` adds `.npz`, Keras wants `.weights.h5`); default: the
    extension of `path`.
    """
    if suffix is None:
        suffix = os.path.splitext(path)[1]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial-{os.getpid()}-{threading.get_ident()}{suffix}"
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def write_bytes(path, data):
    """Writes `data` to `path` atomically (see `write_atomic`)."""

    def write(partial):
        with open(partial, "wb") as f:
            f.write(data)

    write_atomic(path, write)


def cache_dir(directory=None):
    """Where tfgen keeps files it derives or downloads (converted weights,
    reference statistics): `directory`, `$TFGEN_CACHE_DIR`, or
    `~/.keras/tfgen`."""
    return os.path.expanduser(
        directory
        or os.environ.get("TFGEN_CACHE_DIR")
        or os.path.join("~", ".keras", "tfgen")
    )
