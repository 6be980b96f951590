"""Downloads: the one place tfgen fetches a file over HTTP(S).

`fetch` streams a URL into a sibling temporary file while hashing it, stops
at a size bound, checks the sha256 and only then renames the file into
place, so the destination holds the whole verified file or nothing. Zoo
weights (`tfgen.zoo.load`) and dataset sources (`tfgen.data.download`) both
come through it.

```python
path = tfgen.downloads.fetch(
    "https://example.org/mnist/train-labels-idx1-ubyte.gz",
    "~/.keras/tfgen/data/mnist/train-labels-idx1-ubyte.gz",
    sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    size=28881,
    remedy="Offline, copy the file there yourself.",
)
```

Why urllib and not `keras.utils.get_file`: get_file (Keras 3.15) writes the
response straight under its final name, so a reader (or a second process)
can see half a file and a killed process leaves one there; it accepts a
response of any size; and it re-downloads silently when an existing file
has the wrong hash. The standard library's `urllib` with `tfgen.files`'
atomic write gives all four properties asked of a download here (bounded,
atomic, checked, clear errors) with no new dependency; the byte progress
bar is tqdm's, which tfgen already uses.
"""

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request

from tqdm.auto import tqdm

from tfgen import __version__, files

__all__ = ["DEFAULT_MAX_BYTES", "DownloadError", "fetch"]

#: Largest response accepted when the caller knows no exact size.
DEFAULT_MAX_BYTES = 2 << 30
_CHUNK = 1 << 20
_SCHEMES = ("http", "https")
_FULL_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_DIGEST_PREFIX = re.compile(r"[0-9a-fA-F]{8,64}")


class DownloadError(OSError):
    """A download that did not complete: unreachable host, an HTTP error, a
    response larger than allowed or one cut short. Nothing is left at the
    destination."""


def _describe(size):
    return f"{size:,} bytes"


def _open(url, timeout, label, remedy):
    request = urllib.request.Request(
        url, headers={"User-Agent": f"tfgen/{__version__}"}
    )
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise DownloadError(
            f"Could not download {label} from {url}: the server answered HTTP "
            f"{e.code} ({e.reason}). Expected the file itself. {remedy}"
        ) from None
    except (TimeoutError, urllib.error.URLError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(
            f"Could not reach {urllib.parse.urlsplit(url).netloc} to download "
            f"{label} from {url} ({type(reason).__name__}: {reason}); the machine "
            f"may be offline. {remedy}"
        ) from None


def _declared_length(response, url, label, size, limit, remedy):
    """The response's Content-Length, refused unless it is `size` (when
    known) and at most `limit`."""
    header = response.headers.get("Content-Length")
    if header is None:
        return None
    try:
        declared = int(header)
    except ValueError:
        raise DownloadError(
            f"{url} declared a Content-Length of {header!r} for {label}. "
            f"Expected a byte count. {remedy}"
        ) from None
    if size is not None and declared != size:
        expected = f"exactly {_describe(size)}"
    elif not 0 <= declared <= limit:
        expected = f"at most {_describe(limit)}"
    else:
        return declared
    raise DownloadError(
        f"{url} declared {_describe(declared)} for {label}. Expected {expected}; "
        f"nothing was downloaded. {remedy}"
    )


def fetch(
    url,
    destination,
    sha256,
    *,
    size=None,
    max_bytes=DEFAULT_MAX_BYTES,
    label=None,
    remedy="",
    progress=True,
    timeout=60,
    prefix=False,
):
    """Downloads `url` to `destination` and returns the destination's path.

    A file already at `destination` with the expected sha256 is kept and
    nothing is fetched. Otherwise the response is streamed into a
    temporary sibling and renamed into place only when it is whole, within
    the size bound and has the expected sha256; a failure of any kind
    leaves the destination as it was (no file, or the previous one) and
    no temporary file behind.

    Args:
        url: an `http://` or `https://` URL.
        destination: the file to write (its folders are created).
        sha256: the expected hex digest; required, as an unchecked
            download cannot be trusted (see `prefix`).
        size: the exact expected size in bytes, when known; a response of
            any other length is refused.
        max_bytes: the largest response accepted when `size` is None.
        label: what the file is, for messages (default: its file name).
        remedy: what the user can do instead, appended to every error
            (e.g. where to put the file by hand when offline); default:
            check the network, or put the file at `destination`.
        progress: show a progress bar in bytes.
        timeout: seconds to wait for the server to answer or send.
        prefix: accept `sha256` as a leading part of the digest (at least 8
            hex digits), for a published file whose full digest is not
            recorded: torch.hub names its files `<name>-<8 hex digits>` and
            checks exactly those.

    Raises:
        DownloadError: the host is unreachable, answers with an HTTP error,
            declares or sends more than allowed, or the transfer is cut
            short.
        tfgen.files.ChecksumError: the file arrived whole with another
            sha256.
    """
    destination = os.path.expanduser(os.fspath(destination))
    label = label or os.path.basename(destination)
    remedy = remedy.strip() or (
        f"Check the URL and the network, or put the file at {destination} "
        f"yourself (sha256 {sha256})."
    )
    pattern = _DIGEST_PREFIX if prefix else _FULL_DIGEST
    if not (isinstance(sha256, str) and pattern.fullmatch(sha256)):
        wanted = (
            "at least 8 hex digits of its sha256"
            if prefix
            else "its full sha256 (64 hex digits)"
        )
        raise ValueError(
            f"Downloading {label} needs {wanted} to check it. "
            f"Received: sha256={sha256!r}"
        )
    sha256 = sha256.lower()
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(
            f"Downloads use {' or '.join(_SCHEMES)} URLs. Received: url={url!r}"
        )
    if os.path.isfile(destination) and files.sha256(destination).startswith(sha256):
        return destination
    limit = max_bytes if size is None else int(size)

    def write(partial):
        with _open(url, timeout, label, remedy) as response:
            declared = _declared_length(response, url, label, size, limit, remedy)
            digest, received = _stream(
                response, partial, limit, declared, label, progress
            )
        if received > limit:
            raise DownloadError(
                f"{url} sent more than {_describe(limit)} for {label}, the most "
                f"expected; the download was stopped and discarded. {remedy}"
            )
        expected_length = size if size is not None else declared
        if expected_length is not None and received != expected_length:
            raise DownloadError(
                f"The download of {label} from {url} was cut short: received "
                f"{_describe(received)} of the {_describe(expected_length)} expected; "
                f"nothing was kept at {destination}. Run the command again to "
                f"retry. {remedy}"
            )
        if not digest.startswith(sha256):
            raise files.ChecksumError(
                f"The download of {label} from {url} has the wrong sha256, so it "
                f"was discarded (nothing was kept at {destination}): the server "
                "sent another file, or the recorded digest is out of date. "
                f"Expected: {sha256}{'...' if len(sha256) < 64 else ''}. Received: {digest} "
                f"({_describe(received)}). {remedy}"
            )

    def stream(partial):
        try:
            write(partial)
        except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
            raise DownloadError(
                f"The download of {label} from {url} failed midway ({type(e).__name__}: "
                f"{e}); nothing was kept at {destination}. Run the command again "
                f"to retry. {remedy}"
            ) from None

    files.write_atomic(destination, stream)
    return destination


def _stream(response, partial, limit, declared, label, progress):
    """Copies the body into `partial`, reading at most `limit + 1` bytes;
    returns `(sha256, bytes received)`."""
    digest = hashlib.sha256()
    received = 0
    bar = tqdm(
        total=declared,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        disable=not progress,
    )
    with bar, open(partial, "wb") as f:
        while received <= limit:
            # One byte past the limit is enough to know it was exceeded.
            block = response.read(min(_CHUNK, limit + 1 - received))
            if not block:
                break
            f.write(block)
            digest.update(block)
            received += len(block)
            bar.update(len(block))
    return digest.hexdigest(), received
