"""Recipes: the training runs that produce zoo entries, as data plus one runner.

A recipe is the `training` block of a zoo entry (or flags of `tfgen train`):
model class and config, dataset options, batch size, epochs, optimizers,
precision and seed. `run` trains it into a run folder (resumable), and
`export` turns a finished run into a zoo entry: clean weights with their
sha256, a sample grid, the training curves and the wall time. Neither saves
weights that hold NaN or infinities (`tfgen.finite.NonFiniteError`).
"""

import dataclasses
import json
import os
import shutil

from tfgen import files
from tfgen.finite import check_finite_weights
from tfgen.reporting import hardware_summary

__all__ = ["RecipeSpec", "compile_kwargs", "export", "from_file", "from_zoo", "run"]


@dataclasses.dataclass
class RecipeSpec:
    """One training run, as plain data.

    Args:
        model: registered model class name.
        config: its constructor arguments.
        dataset: keyword arguments of `tfgen.data.load` (`name`, `split`,
            `labels`, `binarize`, ...).
        batch_size: global batch size.
        epochs: passes over the dataset.
        optimizers: `{"d_optimizer": {...}, "g_optimizer": {...}}`, each the
            keyword arguments of `keras.optimizers.Adam`; empty for the
            model's defaults.
        compile: other keyword arguments of the model's `compile` (e.g.
            CycleGAN's `decay_steps`).
        precision: Keras dtype policy; `"auto"`: `"mixed_bfloat16"` where
            bfloat16 is native, else `"float32"` (the run records which).
        seed: seeds the data order and the initialization.
        sample_kwargs: extra arguments of `model.sample` for the grids.
        name: the zoo entry this recipe produces, if any.
        sample_every: epochs between the run's sample grids (0: none; a
            model whose sampler takes hours per grid sets 0).
        validation: keyword arguments of `tfgen.data.load` for a held-out
            split evaluated after every epoch (e.g. `{"name":
            "binarized_mnist", "split": "valid"}`); empty for none.

    Example:

    ```python
    spec = tfgen.recipes.from_zoo("dcgan_mnist").replace(epochs=1)
    model = tfgen.recipes.run(spec, output_dir="runs/dcgan_mnist")
    ```
    """

    model: str
    config: dict
    dataset: dict
    batch_size: int = 64
    epochs: int = 1
    optimizers: dict = dataclasses.field(default_factory=dict)
    compile: dict = dataclasses.field(default_factory=dict)
    precision: str = "mixed_bfloat16"
    seed: int = 0
    sample_kwargs: dict = dataclasses.field(default_factory=dict)
    name: str | None = None
    sample_every: int = 1
    validation: dict = dataclasses.field(default_factory=dict)

    def replace(self, config_overrides=None, **changes):
        changes = {k: v for k, v in changes.items() if v is not None}
        spec = dataclasses.replace(self, **changes)
        if config_overrides:
            spec.config = {**spec.config, **config_overrides}
        return spec


def from_zoo(name):
    """The recipe recorded in zoo entry `name`."""
    from tfgen import zoo

    entry = zoo.get(name)
    recipe = dict(entry.training.get("recipe", {}))
    return RecipeSpec(
        model=entry.model,
        config=dict(entry.config),
        dataset=dict(entry.dataset),
        name=entry.name,
        **recipe,
    )


def from_file(path):
    """The recipe in a JSON file of `RecipeSpec` fields (a run being trained
    before it becomes a zoo entry)."""
    with open(path) as f:
        fields = json.load(f)
    if not isinstance(fields, dict):
        raise ValueError(
            f"A recipe file holds a JSON object of RecipeSpec fields. Received "
            f"{type(fields).__name__} in {path}"
        )
    known = {f.name for f in dataclasses.fields(RecipeSpec)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(
            f"Unknown recipe fields {unknown} in {path}. Expected some of "
            f"{sorted(known)}"
        )
    return RecipeSpec(**fields)


def _optimizer(name, kwargs):
    """`keras.optimizers.Adam(name=name, **kwargs)`; a `learning_rate` given
    as a serialized schedule (`{"class_name": "CosineDecay", "config":
    {...}}`) is deserialized, so a recipe's schedule ends where its run ends."""
    import keras

    kwargs = dict(kwargs)
    rate = kwargs.get("learning_rate")
    if isinstance(rate, dict):
        kwargs["learning_rate"] = keras.optimizers.schedules.deserialize(rate)
    return keras.optimizers.Adam(name=name, **kwargs)


def compile_kwargs(spec):
    """The keyword arguments of `model.compile` for `spec`: its named
    optimizers built, and its other compile options."""
    kwargs = {key: _optimizer(key, value) for key, value in spec.optimizers.items()}
    return {**spec.compile, **kwargs}


def run(
    spec,
    output_dir,
    strategy="default",
    data_dir=None,
    steps_per_epoch=None,
    logical_cpus=None,
    verbose="auto",
    sample_every=None,
):
    """Trains `spec` into `output_dir`; rerunning resumes. Returns the model.

    `sample_every`: epochs between sample grids (0: none); default the
    recipe's own `sample_every`."""
    from tfgen import training

    if logical_cpus:
        training.set_logical_cpus(logical_cpus)
    # MultiWorkerMirroredStrategy must exist before TF runs any op.
    strategy = training.get_strategy(strategy)
    from tfgen import data, models, zoo

    # The run records the policy it trained in, not "auto".
    spec = spec.replace(precision=training.resolve_precision(spec.precision))
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "run.json"), "w") as f:
        json.dump(
            {
                "recipe": dataclasses.asdict(spec),
                "strategy": type(strategy).__name__,
                "hardware": hardware_summary(),
            },
            f,
            indent=2,
        )
    # Two-domain recipes (CycleGAN) name `domain_a` and `domain_b`.
    loader = data.load_unpaired if "domain_a" in spec.dataset else data.load
    options = dict(
        data_dir=data_dir,
        batch_size=spec.batch_size,
        shuffle=True,
        seed=spec.seed,
        drop_remainder=True,
        **spec.dataset,
    )
    if steps_per_epoch is None:
        steps_per_epoch = int(loader(prefetch=False, **options).cardinality())
        if steps_per_epoch < 1:
            raise ValueError(
                f"The dataset {spec.dataset} holds fewer than one batch of "
                f"{spec.batch_size} images."
            )

    def dataset(first_epoch):
        # Epoch k's order depends on (seed, k) alone: a resumed run goes on
        # with the data an uninterrupted one would have seen.
        return loader(repeat=True, first_epoch=first_epoch, **options)

    validation = None
    if spec.validation:
        validation = data.load(
            data_dir=data_dir,
            batch_size=spec.batch_size,
            shuffle=False,
            **spec.validation,
        )
    cls = models.get(spec.model)
    model, _ = training.train(
        lambda: cls(**spec.config),
        dataset,
        spec.epochs,
        output_dir=output_dir,
        strategy=strategy,
        precision=spec.precision,
        compile_kwargs=lambda: compile_kwargs(spec),
        steps_per_epoch=steps_per_epoch,
        batch_size=spec.batch_size,
        sample_kwargs=spec.sample_kwargs,
        sample_every=spec.sample_every if sample_every is None else sample_every,
        seed=spec.seed,
        verbose=verbose,
        validation_data=validation,
    )
    final = os.path.join(output_dir, "final")
    check_finite_weights(model, f"The trained model (not saved to {final})")
    zoo.save(
        model,
        final,
        metadata={"recipe": dataclasses.asdict(spec)},
        overwrite=True,  # final/ is this run's own output, remade on a rerun
    )
    return model


def export(run_dir, name, zoo_dir=None, overwrite=False, description=None):
    """Turns a finished run into the zoo entry `<zoo_dir>/<name>/`: weights
    and their sha256, a sample grid, the training curves, the recipe, epochs
    and wall time. Returns the `ZooEntry`.

    Every check runs before anything is written. A new name makes a new
    entry; a new entry under a shipped name is refused, since a user zoo
    never shadows a shipped entry (`tfgen.zoo.get` would skip it).

    Args:
        run_dir: a folder written by `run` (`tfgen train`), whose `final/`
            holds the model, or a folder written by `tfgen.zoo.save` (e.g.
            after `model.fit`).
        name: the entry's name (see `tfgen.zoo.check_name`).
        zoo_dir: the zoo folder; default `tfgen.zoo.user_dir()`, so the
            installed package is written only when named here.
        overwrite: replace the weights of an entry that has them; by default
            that raises `FileExistsError`. An existing entry keeps its
            description, dataset and recipe, and must describe the run's
            model class and config; new weights drop its metric records,
            which were measured on the old.
        description: one line for `tfgen zoo list` (new entries only).

    Example:

    ```python
    entry = tfgen.recipes.export("runs/mine", "my_dcgan")  # into user_dir()
    model = tfgen.zoo.load("my_dcgan")
    ```
    """
    from tfgen import zoo
    from tfgen.images import save_grid

    zoo.check_name(name)
    zoo_dir = os.path.abspath(os.path.expanduser(os.fspath(zoo_dir or zoo.user_dir())))
    target = os.path.join(zoo_dir, name)
    entry = _existing_entry(target, name, overwrite)
    source = _saved_model_dir(run_dir)
    with open(os.path.join(source, zoo.CONFIG_FILE)) as f:
        saved = json.load(f)
    if entry is not None:
        _check_same_model(entry, saved, source)
    model = zoo.load(source)
    check_finite_weights(model, f"{source} (not exported to {zoo_dir})")
    run_info = {}
    if os.path.isfile(os.path.join(run_dir, "run.json")):
        with open(os.path.join(run_dir, "run.json")) as f:
            run_info = json.load(f)
    if entry is None:
        entry = _new_entry(name, saved, run_info, description, run_dir, target)
    weights = os.path.join(target, zoo.WEIGHTS_FILE)
    files.write_atomic(weights, model.save_weights, suffix=".weights.h5")
    entry.weights = zoo.WEIGHTS_FILE
    previous = entry.sha256
    entry.sha256 = zoo.sha256(weights)
    if entry.sha256 != previous:
        # The records describe the old weights; the benchmarks measure anew.
        entry.metrics = []
    sample_kwargs = entry.training.get("recipe", {}).get("sample_kwargs", {})
    images, nrow = model.preview(64, seed=0, **sample_kwargs)
    save_grid(images, os.path.join(target, "samples.png"), nrow=nrow, scale=2)
    entry.samples = "samples.png"
    history = os.path.join(run_dir, "history.csv")
    if os.path.isfile(history):
        shutil.copy(history, os.path.join(target, "history.csv"))
        entry.training["curves"] = "history.csv"
    if run_info:
        wall = {}
        wall_path = os.path.join(run_dir, "wall_clock.json")
        if os.path.isfile(wall_path):
            with open(wall_path) as f:
                wall = json.load(f)
        entry.training.update(
            hardware=run_info["hardware"],
            epochs_trained=wall.get("epochs"),
            wall_hours=round(wall.get("seconds", 0.0) / 3600.0, 2),
        )
    # entry.json last: a folder without it is no entry, so an interrupted
    # export never shows up half-written in `tfgen zoo list`.
    text = json.dumps(entry.to_json(), indent=2) + "\n"
    files.write_bytes(os.path.join(target, zoo.ENTRY_FILE), text.encode())
    return entry


def _existing_entry(target, name, overwrite):
    """The entry in `target` that an export updates, None for a new one;
    raises where the export would replace what it was not asked to."""
    from tfgen import zoo

    entry_path = os.path.join(target, zoo.ENTRY_FILE)
    if os.path.isfile(entry_path):
        entry = zoo.ZooEntry.from_json(entry_path)
        if entry.name != name:
            raise ValueError(
                f"{entry_path} is the entry {entry.name!r}. Expected the entry {name!r}."
            )
        weights = os.path.join(target, entry.weights or zoo.WEIGHTS_FILE)
        if os.path.isfile(weights) and not overwrite:
            raise FileExistsError(
                f"{name} already has weights ({weights}). Pass --overwrite (or "
                "--force; overwrite=True in Python) to replace them and drop the "
                "metrics measured on them, or export under a new name."
            )
        return entry
    shipped = os.path.join(zoo.shipped_dir(), name, zoo.ENTRY_FILE)
    if os.path.isfile(shipped):
        has = "already has weights" if zoo.ZooEntry.from_json(shipped).weights else ""
        raise FileExistsError(
            f"{name} is a shipped zoo entry{' and ' + has if has else ''} "
            f"({os.path.dirname(shipped)}), and an entry in "
            f"{os.path.dirname(target)} never shadows a shipped name. Choose "
            "another name; to replace the shipped entry's weights, export into "
            f"its own zoo: --zoo-dir {zoo.shipped_dir()} --overwrite."
        )
    if os.path.isdir(target) and os.listdir(target) and not overwrite:
        raise FileExistsError(
            f"{target} is not a zoo entry (no {zoo.ENTRY_FILE}) and holds "
            f"{sorted(os.listdir(target))}. Pass --overwrite to export into it "
            "anyway, or choose another name."
        )
    return None


def _saved_model_dir(run_dir):
    """`<run_dir>/final`, or `run_dir` itself when `tfgen.zoo.save` wrote it."""
    from tfgen import zoo

    for folder in (os.path.join(run_dir, "final"), run_dir):
        if os.path.isfile(os.path.join(folder, zoo.CONFIG_FILE)):
            return folder
    raise FileNotFoundError(
        "Expected a finished training run (a folder whose final/ holds "
        f"{zoo.CONFIG_FILE}, as tfgen train writes it) or a folder written by "
        f"tfgen.zoo.save. Received: {run_dir!r}"
    )


def _check_same_model(entry, saved, source):
    """Raises unless the saved model is the class and config `entry` records."""
    differences = []
    if saved.get("model") != entry.model:
        differences.append(f"model {saved.get('model')} (entry: {entry.model})")
    config = saved.get("config", {})
    differences += [
        f"{key}={config.get(key)!r} (entry: {value!r})"
        for key, value in entry.config.items()
        if config.get(key) != value
    ]
    if differences:
        raise ValueError(
            f"The model in {source} is not the one zoo entry {entry.name!r} "
            f"describes: {'; '.join(differences)}. Export it under a new name, "
            f"or train the entry's own recipe (tfgen train {entry.name})."
        )


def _new_entry(name, saved, run_info, description, run_dir, target):
    """A `ZooEntry` for a model exported under a new name: its class and
    config, and from a `run` folder its dataset and recipe, so that
    `tfgen train NAME` retrains it."""
    from tfgen import zoo

    recipe = dict(run_info.get("recipe") or {})
    dataset = recipe.pop("dataset", {})
    for key in ("model", "config", "name"):
        recipe.pop(key, None)
    training = {}
    if run_info:
        training = {
            "command": (
                f"tfgen train {name} -o runs/{name} && "
                f"tfgen zoo export runs/{name} {name} --overwrite"
            ),
            "recipe": recipe,
        }
    trained_on = dataset.get("name") or "your data"
    return zoo.ZooEntry(
        name=name,
        model=saved["model"],
        config=saved["config"],
        description=description
        or f"{saved['model']} trained on {trained_on} ({os.path.abspath(run_dir)})",
        dataset=dataset,
        training=training,
        directory=target,
    )
