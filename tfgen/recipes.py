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
        precision: Keras dtype policy.
        seed: seeds the data order and the initialization.
        sample_kwargs: extra arguments of `model.sample` for the grids.
        name: the zoo entry this recipe produces, if any.

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
    sample_every=1,
):
    """Trains `spec` into `output_dir`; rerunning resumes. Returns the model.

    `sample_every`: epochs between sample grids (0: none)."""
    from tfgen import training

    if logical_cpus:
        training.set_logical_cpus(logical_cpus)
    # MultiWorkerMirroredStrategy must exist before TF runs any op.
    strategy = training.get_strategy(strategy)
    from tfgen import data, models, zoo

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
    dataset = loader(
        data_dir=data_dir,
        batch_size=spec.batch_size,
        shuffle=True,
        seed=spec.seed,
        drop_remainder=True,
        **spec.dataset,
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
        sample_every=sample_every,
        seed=spec.seed,
        verbose=verbose,
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


def export(run_dir, name, zoo_dir=None):
    """Copies a finished run into `<zoo_dir>/<name>/` and records it in the
    entry: weights and sha256, samples, curves, epochs and wall time. New
    weights drop the entry's metric records, which were measured on the old."""
    from tfgen import zoo
    from tfgen.images import save_grid

    zoo_dir = zoo_dir or zoo.artifacts_dir()
    final = os.path.join(run_dir, "final")
    model = zoo.load(final)
    check_finite_weights(model, f"{final} (not exported to {zoo_dir})")
    entry_path = os.path.join(zoo_dir, name, "entry.json")
    entry = zoo.ZooEntry.from_json(entry_path)
    target = os.path.dirname(entry_path)
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
    with open(os.path.join(run_dir, "run.json")) as f:
        run_info = json.load(f)
    wall = {}
    wall_path = os.path.join(run_dir, "wall_clock.json")
    if os.path.isfile(wall_path):
        with open(wall_path) as f:
            wall = json.load(f)
    entry.training.update(
        hardware=run_info["hardware"],
        epochs_trained=wall.get("epochs"),
        wall_hours=round(wall.get("seconds", 0.0) / 3600.0, 2),
        curves="history.csv",
    )
    text = json.dumps(entry.to_json(), indent=2) + "\n"
    files.write_bytes(entry_path, text.encode())
    return entry
