"""The model zoo: pretrained entries as plain data, sha256-checked weights.

An entry is a JSON file `zoo/<name>/entry.json` beside its weights file. It
names the model class and its config, the dataset it was trained on, the
weights file with its sha256, the metrics measured on it with their
protocol, and the command that reproduces its training.

```python
tfgen.zoo.list()                      # names of the registered entries
model = tfgen.zoo.load("dcgan_cifar")  # a trained model
bare = tfgen.zoo.load("dcgan_cifar", weights=False)
tfgen.zoo.save(model, "runs/mine")     # config.json, weights, sha256 record
same = tfgen.zoo.load("runs/mine")     # a path: it holds a separator
```

A bare name always means a registered entry; a folder is given as a path
(with a separator, a leading `.` or `~`, or as an `os.PathLike`), so a
folder in the working directory never stands in for an entry.

Entries come from two folders: the shipped ones (`shipped_dir()`, the
package data or a checkout's `zoo/`) and your own (`user_dir()`:
`$TFGEN_ZOO_DIR`, else `~/.local/share/tfgen/zoo`), where `tfgen zoo export`
writes by default. A user entry never replaces a shipped name: it is skipped
with a warning (unless it is a copy of the shipped entry).
"""

import dataclasses
import difflib
import fnmatch
import glob
import json
import os
import re
import shutil
import threading
import warnings

from tfgen import downloads, files, models
from tfgen.files import ChecksumError, sha256, verify
from tfgen.finite import check_finite_weights

__all__ = [
    "ChecksumError",
    "ZooEntry",
    "artifacts_dir",
    "check_name",
    "get",
    "is_path",
    "list",
    "load",
    "register",
    "save",
    "sha256",
    "shipped_dir",
    "unregister",
    "user_dir",
    "verify",
]

_builtin_list = list
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
ENTRY_FILE = "entry.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"


@dataclasses.dataclass
class ZooEntry:
    """One pretrained model: everything needed to rebuild and trust it.

    Args:
        name: registry key, lowercase letters, digits, `_` and `-`.
        model: registered class name, e.g. `"DCGAN"`.
        config: constructor arguments of the model.
        description: one line for `tfgen zoo list`.
        dataset: `{"name": ..., "split": ..., ...}` it was trained on.
        weights: file name of the weights, relative to the entry's folder.
        sha256: hex digest of the weights file.
        url: where online users fetch the weights when the file is absent.
        metrics: measured numbers, each `{"name", "value", "protocol"}`.
        training: the reproducing command, hardware, wall time, epochs.
        samples: a sample grid (PNG) relative to the entry's folder.
        directory: the folder holding the entry's files.

    Example:

    ```python
    tfgen.zoo.register(tfgen.zoo.ZooEntry(
        name="my_dcgan", model="DCGAN", config={"image_shape": [64, 64, 3]},
        weights="model.weights.h5", sha256="9f2c...", directory="/models/my_dcgan",
    ))
    model = tfgen.zoo.load("my_dcgan")
    ```
    """

    name: str
    model: str
    config: dict
    description: str = ""
    dataset: dict = dataclasses.field(default_factory=dict)
    weights: str | None = None
    sha256: str | None = None
    url: str | None = None
    metrics: _builtin_list = dataclasses.field(default_factory=_builtin_list)
    training: dict = dataclasses.field(default_factory=dict)
    samples: str | None = None
    directory: str | None = None

    @classmethod
    def from_json(cls, path):
        with open(path) as f:
            data = json.load(f)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise ValueError(
                f"{path} has unknown keys {sorted(unknown)}. Expected keys among {sorted(fields)}."
            )
        data.setdefault("directory", os.path.dirname(os.path.abspath(path)))
        return cls(**data)

    def to_json(self):
        data = dataclasses.asdict(self)
        data.pop("directory")
        return data

    @property
    def weights_path(self):
        if self.weights is None:
            return None
        return os.path.join(self.directory or "", self.weights)


_REGISTRY = {}


def shipped_dir():
    """The folder of the entries tfgen ships: the installed package data
    (`tfgen.zoo.artifacts`), or the repository's `zoo/` in a checkout."""
    try:
        from tfgen.zoo import artifacts

        return os.path.dirname(os.path.abspath(artifacts.__file__))
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        return os.path.normpath(os.path.join(here, os.pardir, os.pardir, "zoo"))


def user_dir():
    """The folder of your own entries, where `tfgen zoo export` writes by
    default: `$TFGEN_ZOO_DIR`, else `$XDG_DATA_HOME/tfgen/zoo` (by default
    `~/.local/share/tfgen/zoo`). Never the installed package, so exports
    survive reinstalls and need no write access to site-packages."""
    env = os.environ.get("TFGEN_ZOO_DIR")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join("~", ".local", "share")
    return os.path.join(os.path.abspath(os.path.expanduser(data_home)), "tfgen", "zoo")


def artifacts_dir():
    """The zoo folder that reference statistics, classifiers and benchmark
    records are read from and written to: `$TFGEN_ZOO_DIR` when set, else
    `shipped_dir()`."""
    return os.environ.get("TFGEN_ZOO_DIR") or shipped_dir()


def check_name(name):
    """Raises unless `name` is a valid entry name (lowercase letters, digits,
    `_` and `-`, starting with a letter or digit)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            "Zoo names are lowercase letters, digits, '_' and '-' and cannot name a path "
            "outside the zoo; a folder written by tfgen.zoo.save is given as a path "
            f"('./folder' or a pathlib.Path). Received: name={name!r}"
        )
    return name


def register(entry, overwrite=False):
    """Adds an entry to the registry and returns its `ZooEntry`.

    Args:
        entry: a `ZooEntry`, a dict of its fields, or the path of an entry's
            folder (or of its `entry.json`), e.g. one that `tfgen zoo export
            --zoo-dir` wrote outside `user_dir()`.
        overwrite: replace an entry registered under the same name; by
            default that raises `ValueError`.
    """
    if isinstance(entry, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(entry))
        if os.path.isdir(path):
            path = os.path.join(path, ENTRY_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Expected a zoo entry's folder holding {ENTRY_FILE} (as `tfgen zoo "
                f"export` writes it), or the file itself. Received: {os.fspath(entry)!r}"
            )
        entry = ZooEntry.from_json(path)
    elif isinstance(entry, dict):
        entry = ZooEntry(**entry)
    check_name(entry.name)
    if entry.name in _entries() and not overwrite:
        raise ValueError(
            f"A zoo entry named {entry.name!r} exists. Pass overwrite=True to replace it."
        )
    _REGISTRY[entry.name] = entry
    return entry


def unregister(name):
    """Removes an entry added by `register` (entries read from `user_dir()`
    go with their folder)."""
    check_name(name)
    if name not in _REGISTRY:
        raise KeyError(
            f"No registered zoo entry {name!r}. Expected one of {sorted(_REGISTRY)}"
        )
    del _REGISTRY[name]


def _read_entries(root):
    """The entries `<root>/<name>/entry.json`, in name order."""
    if not os.path.isdir(root):
        return []
    paths = (os.path.join(root, name, ENTRY_FILE) for name in sorted(os.listdir(root)))
    return [ZooEntry.from_json(path) for path in paths if os.path.isfile(path)]


def _discover():
    for entry in _read_entries(shipped_dir()):
        _REGISTRY.setdefault(entry.name, entry)


_SHADOW_WARNED = set()


def _entries():
    """Every entry by name: the shipped and registered ones, then those in
    `user_dir()`, read anew on each call so that an export is found at once.
    A user entry under a taken name is skipped, with a warning unless it is
    a copy (same weights' sha256, e.g. `$TFGEN_ZOO_DIR` set to a checkout's
    `zoo/`): a user folder never silently replaces a shipped entry."""
    entries = dict(_REGISTRY)
    for entry in _read_entries(user_dir()):
        taken = entries.get(entry.name)
        if taken is None:
            entries[entry.name] = entry
        elif taken.sha256 != entry.sha256 and (
            (entry.name, entry.directory) not in _SHADOW_WARNED
        ):
            _SHADOW_WARNED.add((entry.name, entry.directory))
            warnings.warn(
                f"Skipped the zoo entry {entry.name!r} in {entry.directory}: that "
                f"name is taken by the entry in {taken.directory}, which a user "
                "entry never replaces. Rename its folder and the name in its "
                f"{ENTRY_FILE} to use it.",
                stacklevel=3,
            )
    return entries


def list(pattern=None, pretrained=False):  # noqa: A001 - mirrors timm.list_models
    """Names of the entries (shipped, registered and in `user_dir()`),
    optionally matching a glob `pattern`; `pretrained=True` keeps only those
    with weights."""
    entries = _entries()
    names = sorted(entries)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if pretrained:
        names = [n for n in names if entries[n].weights]
    return names


def get(name):
    """The `ZooEntry` named `name`: shipped, registered or in `user_dir()`."""
    check_name(name)
    entries = _entries()
    if name not in entries:
        close = difflib.get_close_matches(name, entries, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        if os.path.isdir(name):
            hint += (
                f" A folder {name!r} is in the working directory, but a bare "
                "name always means a zoo entry."
            )
        raise KeyError(
            f"Unknown zoo model {name!r}.{hint} Expected one of {sorted(entries)} "
            f"(your own entries are read from {user_dir()}, set by $TFGEN_ZOO_DIR), "
            f"or a folder written by tfgen.zoo.save given as a path, e.g. "
            f"tfgen.zoo.load('./{name}') or tfgen.zoo.load(pathlib.Path({name!r}))."
        )
    return entries[name]


#: Where missing weights are downloaded from: `<base>/<entry>/<weights file>`
#: (the layout of a zoo folder, so a copy of `zoo/` on any HTTP host serves).
WEIGHTS_URL_ENV = "TFGEN_WEIGHTS_URL"
# The largest weights file accepted from a download (the largest entry is
# about 27 MB; entries record no size of their own).
_MAX_WEIGHTS_BYTES = 1 << 30


def weights_url(entry):
    """Where `entry`'s weights are downloaded from: its own `url`, else
    `$TFGEN_WEIGHTS_URL/<name>/<weights file>`, else None."""
    if entry.url:
        return entry.url
    base = os.environ.get(WEIGHTS_URL_ENV)
    if not base:
        return None
    return f"{base.rstrip('/')}/{entry.name}/{entry.weights}"


def _cached_weights_path(entry):
    """The cache's copy of `entry`'s weights; the sha256 in the name keeps
    an entry's old and new weights apart."""
    base = os.path.basename(entry.weights)
    tag = (entry.sha256 or "unchecked")[:16]
    return os.path.join(files.cache_dir(), "zoo", entry.name, f"{tag}-{base}")


def _local_weights_paths(entry):
    """The entry's own folder, then your zoo folder (`user_dir()`, e.g.
    `$TFGEN_ZOO_DIR`), which may hold a shipped entry's weights."""
    paths = [entry.weights_path]
    in_zoo = os.path.join(user_dir(), entry.name, entry.weights)
    if os.path.abspath(in_zoo) != os.path.abspath(paths[0]):
        paths.append(in_zoo)
    return paths


def _fetch_weights(entry, progress=True):
    """The path of `entry`'s weights: in a local zoo folder, in the cache,
    or downloaded into the cache (sha256-checked) from `weights_url`. A
    cached copy with another sha256 is downloaded afresh when a URL is
    known."""
    local = _local_weights_paths(entry)
    for path in local:
        if os.path.isfile(path):
            return path
    cached = _cached_weights_path(entry)
    url = weights_url(entry)
    what = f"{entry.weights} (sha256 {entry.sha256})"
    # Your zoo folder, not the entry's own: that one may be the installed
    # package, which a user should not have to write to.
    by_hand = (
        f"copy {what} to {local[-1]} or to {cached}, or point $TFGEN_ZOO_DIR at a "
        f"zoo folder holding {entry.name}/{entry.weights} (a clone of the tfgen "
        "repository has one: its zoo/)"
    )
    if url is None:
        if os.path.isfile(cached):
            return cached
        raise FileNotFoundError(
            f"The weights of zoo entry {entry.name!r} are not on this machine and no "
            f"download URL is known (the entry has no 'url' and ${WEIGHTS_URL_ENV} is "
            f"not set). Looked in: {', '.join(local + [cached])}. To get them: "
            f"{by_hand}; or set ${WEIGHTS_URL_ENV} to a host that serves "
            f"<base>/{entry.name}/{entry.weights}. Or train your own by its recipe "
            f"({entry.training.get('command', 'see the entry recipe')}); weights "
            "you train differ from these, so a shipped name needs a new one in "
            "`tfgen zoo export RUN NEW_NAME`."
        )
    if not entry.sha256:
        raise ValueError(
            f"Zoo entry {entry.name!r} records no sha256 for {entry.weights}, so "
            f"its weights cannot be downloaded safely from {url}. Expected a "
            f"'sha256' in its entry.json; or {by_hand}."
        )
    return downloads.fetch(
        url,
        cached,
        entry.sha256,
        max_bytes=_MAX_WEIGHTS_BYTES,
        label=f"the weights of zoo entry {entry.name!r}",
        remedy=f"Without network access, {by_hand}.",
        progress=progress,
    )


def _build(model_name, config, overrides=None):
    cls = models.get(model_name)
    config = dict(config)
    config.update(overrides or {})
    return cls.from_config(config)


def is_path(name_or_folder):
    """True when `name_or_folder` names a folder rather than a zoo entry: an
    `os.PathLike`, or a string that holds a path separator or starts with `.`
    or `~`. Entry names can do neither (see `check_name`), so a bare name
    always means the entry, whatever folders the working directory holds."""
    if isinstance(name_or_folder, os.PathLike):
        return True
    if not isinstance(name_or_folder, str):
        return False
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return name_or_folder.startswith((".", "~")) or any(
        s in name_or_folder for s in separators
    )


def load(name, weights=True, verify=True, **overrides):
    """Builds a zoo model, or a model saved with `save`, with its weights.

    Args:
        name: a registered entry name (`"dcgan_cifar"`), or the path of a
            folder written by `save`: an `os.PathLike`, or a string with a
            separator or a leading `.` or `~` (`"./mine"`, `"runs/x/final"`).
            A bare name is always the zoo entry, never a folder of that name.
        weights: load the trained weights; `False` gives the bare
            architecture.
        verify: check the files against their recorded sha256 (an entry's
            weights; a folder's config and weights, from its
            `metadata.json`). `False` loads them unchecked, e.g. a folder
            without `metadata.json`.
        **overrides: constructor arguments that replace the entry's config
            (e.g. `seed=1`). Changing the architecture with `weights=True`
            fails when the weights no longer fit.
    """
    if is_path(name):
        directory = os.path.expanduser(os.fspath(name))
        return _load_dir(directory, weights, verify, overrides)
    entry = get(name)
    model = _build(entry.model, entry.config, overrides)
    if weights:
        if not entry.weights:
            raise ValueError(
                f"Zoo entry {entry.name!r} has no trained weights yet. "
                f"Use tfgen.zoo.load({entry.name!r}, weights=False) for the bare "
                f"architecture, or train it: {entry.training.get('command', 'see its recipe')}"
            )
        path = _fetch_weights(entry)
        if verify:
            files.verify(path, entry.sha256, f"zoo entry {entry.name!r}")
        model.load_weights(path)
        # Who the model is, for files that must name it (tfgen.codec).
        model.zoo_name, model.zoo_sha256 = entry.name, entry.sha256
    return model


def _read_record(directory):
    """The sha256 record of a saved folder: `sha256` (weights) and, from
    folders saved since config was covered too, `config_sha256`."""
    path = os.path.join(directory, METADATA_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The saved model in {directory!r} has no {METADATA_FILE}, the sha256 "
            f"record of its {CONFIG_FILE} and {WEIGHTS_FILE} that tfgen.zoo.save "
            f"writes, so its files cannot be checked. Expected: {path}. Save the "
            "model again with tfgen.zoo.save, or pass verify=False to load it "
            "unchecked."
        )
    with open(path) as f:
        record = json.load(f)
    if not isinstance(record, dict) or not record.get("sha256"):
        keys = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise ValueError(
            f"{path} must record the weights' sha256 under 'sha256'. Received: {keys}"
        )
    return record


def _load_dir(directory, weights, verify, overrides):
    config_path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isdir(directory):
        parent, base = os.path.split(os.path.abspath(directory))
        aside = glob.glob(
            os.path.join(glob.escape(parent), f".{glob.escape(base)}.old-*")
        )
        # A save killed between its two renames leaves the old folder aside.
        hint = f" A previous version was left at {sorted(aside)[0]!r}." if aside else ""
        raise FileNotFoundError(
            f"No folder {directory!r}: expected a folder written by "
            f"tfgen.zoo.save.{hint} Zoo entries are loaded by bare name, one of "
            f"{sorted(_REGISTRY)}."
        )
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"No saved model in folder {directory!r}: expected the {CONFIG_FILE}, "
            f"{WEIGHTS_FILE} and {METADATA_FILE} that tfgen.zoo.save writes. "
            f"Received: {sorted(os.listdir(directory)) or 'an empty folder'}."
        )
    weights_path = os.path.join(directory, WEIGHTS_FILE)
    if verify:
        record = _read_record(directory)
        label = f"saved model {directory!r}"
        # Folders saved before config was covered record the weights only.
        if record.get("config_sha256"):
            files.verify(
                config_path, record["config_sha256"], f"{label}, {CONFIG_FILE}"
            )
        if weights:
            files.verify(weights_path, record["sha256"], f"{label}, {WEIGHTS_FILE}")
    with open(config_path) as f:
        saved = json.load(f)
    if not isinstance(saved, dict) or set(saved) != {"model", "config"}:
        keys = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
        raise ValueError(
            f"{config_path} must hold keys 'model' and 'config'. Received: {keys}"
        )
    model = _build(saved["model"], saved["config"], overrides)
    if weights:
        model.load_weights(weights_path)
    return model


def save(model, directory, metadata=None, overwrite=False):
    """Writes `config.json`, `model.weights.h5` and `metadata.json` (the
    sha256 of the weights and of the config, and `metadata`) into
    `directory`; returns the weights' sha256.

    The files are written into a temporary sibling folder that then takes
    the place of `directory`, so an interrupted save leaves the old complete
    folder or the new one, never a mix. Models with NaN or infinite weights
    are refused.

    Args:
        model: a tfgen model.
        directory: the folder (created with its parents).
        metadata: a JSON-able dict stored in `metadata.json`.
        overwrite: replace an existing non-empty folder (all of it); by
            default that raises `FileExistsError`.
    """
    check_finite_weights(model, f"The model to save in {directory}")
    target = os.path.abspath(os.path.expanduser(os.fspath(directory)))
    if os.path.lexists(target) and not os.path.isdir(target):
        raise FileExistsError(
            f"Expected a folder to save the model in. Received: {directory!r}, "
            "which is a file."
        )
    if os.path.isdir(target) and os.listdir(target) and not overwrite:
        raise FileExistsError(
            f"Expected a new or empty folder. Received: {directory!r}, which holds "
            f"{sorted(os.listdir(target))}. Pass overwrite=True to replace the "
            "whole folder, or choose another."
        )
    config = model.get_config()
    # Saved models load in the default precision; training picks its own.
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    # A fresh copy holds the weights without optimizer state or a policy.
    clean = type(model).from_config(config)
    clean.set_weights(model.get_weights())

    def write(partial):
        config_path = os.path.join(partial, CONFIG_FILE)
        with open(config_path, "w") as f:
            json.dump({"model": type(model).__name__, "config": config}, f, indent=2)
        weights_path = os.path.join(partial, WEIGHTS_FILE)
        clean.save_weights(weights_path)
        meta = dict(metadata or {})
        meta["sha256"] = sha256(weights_path)
        meta["config_sha256"] = sha256(config_path)
        with open(os.path.join(partial, METADATA_FILE), "w") as f:
            json.dump(meta, f, indent=2)
        return meta["sha256"]

    return _write_folder(target, write)


def _write_folder(target, write):
    """Calls `write(partial_folder)` on a fresh sibling of `target`, then
    moves it into `target`'s place; returns what `write` returns."""
    parent, base = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    tag = f"{os.getpid()}-{threading.get_ident()}"
    partial = os.path.join(parent, f".{base}.partial-{tag}")
    old = os.path.join(parent, f".{base}.old-{tag}")
    os.makedirs(partial)
    try:
        result = write(partial)
        if os.path.isdir(target):
            # A folder cannot be renamed over a non-empty one: move the old
            # aside, and back should the new one fail to take its place.
            os.rename(target, old)
            try:
                os.rename(partial, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old)
        else:
            os.rename(partial, target)
        return result
    finally:
        if os.path.isdir(partial):
            shutil.rmtree(partial)


_discover()
