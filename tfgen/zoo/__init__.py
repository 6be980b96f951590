"""The model zoo: pretrained entries as plain data, sha256-checked weights.

An entry is a JSON file `zoo/<name>/entry.json` beside its weights file. It
names the model class and its config, the dataset it was trained on, the
weights file with its sha256, the metrics measured on it with their
protocol, and the command that reproduces its training.

```python
tfgen.zoo.list()                      # names of the registered entries
model = tfgen.zoo.load("dcgan_cifar")  # a trained model
bare = tfgen.zoo.load("dcgan_cifar", weights=False)
tfgen.zoo.save(model, "runs/mine")     # config.json + model.weights.h5
same = tfgen.zoo.load("runs/mine")
```
"""

import dataclasses
import difflib
import fnmatch
import json
import os
import re

import keras

from tfgen import models
from tfgen.files import ChecksumError, sha256, verify

__all__ = [
    "ChecksumError",
    "ZooEntry",
    "artifacts_dir",
    "check_name",
    "get",
    "list",
    "load",
    "register",
    "save",
    "sha256",
    "verify",
]

_builtin_list = list
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
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


def artifacts_dir():
    """The folder of shipped entries: `$TFGEN_ZOO_DIR`, the installed package
    data, or the repository's `zoo/`."""
    env = os.environ.get("TFGEN_ZOO_DIR")
    if env:
        return env
    try:
        from tfgen.zoo import artifacts

        return os.path.dirname(os.path.abspath(artifacts.__file__))
    except ImportError:
        return os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "zoo")


def check_name(name):
    """Raises unless `name` is a valid entry name (lowercase letters, digits,
    `_` and `-`, starting with a letter or digit)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            "Zoo names are lowercase letters, digits, '_' and '-' and cannot name a path "
            f"outside the zoo. Received: name={name!r}"
        )
    return name


def register(entry, overwrite=False):
    """Adds a `ZooEntry` (or a dict of its fields) to the registry."""
    if isinstance(entry, dict):
        entry = ZooEntry(**entry)
    check_name(entry.name)
    if entry.name in _REGISTRY and not overwrite:
        raise ValueError(
            f"A zoo entry named {entry.name!r} exists. Pass overwrite=True to replace it."
        )
    _REGISTRY[entry.name] = entry
    return entry


def _discover():
    root = artifacts_dir()
    if not os.path.isdir(root):
        return
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "entry.json")
        if os.path.isfile(path):
            entry = ZooEntry.from_json(path)
            _REGISTRY.setdefault(entry.name, entry)


def list(pattern=None, pretrained=False):  # noqa: A001 - mirrors timm.list_models
    """Names of registered entries, optionally matching a glob `pattern`;
    `pretrained=True` keeps only those with weights."""
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if pretrained:
        names = [n for n in names if _REGISTRY[n].weights]
    return names


def get(name):
    """The `ZooEntry` registered as `name`."""
    check_name(name)
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(
            f"Unknown zoo model {name!r}.{hint} Expected one of {sorted(_REGISTRY)}."
        )
    return _REGISTRY[name]


def _fetch_weights(entry):
    path = entry.weights_path
    if path and os.path.isfile(path):
        return path
    if entry.url:
        return keras.utils.get_file(
            fname=f"{entry.name}-{os.path.basename(entry.weights)}",
            origin=entry.url,
            file_hash=entry.sha256,
            hash_algorithm="sha256",
            cache_subdir=os.path.join("tfgen", "zoo"),
        )
    raise FileNotFoundError(
        f"The weights of zoo entry {entry.name!r} are missing: expected {path}."
    )


def _build(model_name, config, overrides=None):
    cls = models.get(model_name)
    config = dict(config)
    config.update(overrides or {})
    return cls.from_config(config)


def _is_saved_dir(path):
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, CONFIG_FILE))


def load(name, weights=True, **overrides):
    """Builds a zoo model, or a model saved with `save`, with its weights.

    Args:
        name: a registered entry name, or a folder written by `save`.
        weights: load the trained weights (checked against their sha256);
            `False` gives the bare architecture.
        **overrides: constructor arguments that replace the entry's config
            (e.g. `seed=1`). Changing the architecture with `weights=True`
            fails when the weights no longer fit.
    """
    if isinstance(name, os.PathLike) or (isinstance(name, str) and _is_saved_dir(name)):
        return _load_dir(os.fspath(name), weights, overrides)
    if isinstance(name, str) and os.sep in name and os.path.isdir(name):
        raise FileNotFoundError(
            f"No saved model in folder {name!r}: expected the {CONFIG_FILE} and "
            f"{WEIGHTS_FILE} that tfgen.zoo.save writes."
        )
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
        verify(path, entry.sha256, f"zoo entry {entry.name!r}")
        model.load_weights(path)
        # Who the model is, for files that must name it (tfgen.codec).
        model.zoo_name, model.zoo_sha256 = entry.name, entry.sha256
    return model


def _load_dir(directory, weights, overrides):
    with open(os.path.join(directory, CONFIG_FILE)) as f:
        saved = json.load(f)
    if set(saved) != {"model", "config"}:
        raise ValueError(
            f"{os.path.join(directory, CONFIG_FILE)} must hold keys 'model' and 'config'. "
            f"Received keys: {sorted(saved)}"
        )
    model = _build(saved["model"], saved["config"], overrides)
    if weights:
        path = os.path.join(directory, WEIGHTS_FILE)
        meta_path = os.path.join(directory, METADATA_FILE)
        if os.path.isfile(meta_path):
            with open(meta_path) as f:
                expected = json.load(f).get("sha256")
            if expected:
                verify(path, expected, f"saved model {directory!r}")
        model.load_weights(path)
    return model


def save(model, directory, metadata=None):
    """Writes `config.json`, `model.weights.h5` and `metadata.json` (with the
    weights' sha256) into `directory`; returns the weights' sha256."""
    os.makedirs(directory, exist_ok=True)
    config = model.get_config()
    # Saved models load in the default precision; training picks its own.
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    with open(os.path.join(directory, CONFIG_FILE), "w") as f:
        json.dump({"model": type(model).__name__, "config": config}, f, indent=2)
    weights_path = os.path.join(directory, WEIGHTS_FILE)
    # A fresh copy holds the weights without optimizer state or a policy.
    clean = type(model).from_config(config)
    clean.set_weights(model.get_weights())
    clean.save_weights(weights_path)
    digest = sha256(weights_path)
    meta = dict(metadata or {})
    meta["sha256"] = digest
    with open(os.path.join(directory, METADATA_FILE), "w") as f:
        json.dump(meta, f, indent=2)
    return digest


_discover()
