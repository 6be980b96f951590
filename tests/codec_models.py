"""Tiny seeded models registered as zoo entries, for the codec's tests (the
codec names its model in the file, so it needs zoo models)."""

import keras
import numpy as np

import tfgen
from tfgen import zoo


def register_tiny(cls, config, folder, name, seed=0):
    """Builds `cls(**config, seed=0)` with weights seeded by `seed`, saves
    them in `folder`, registers them as zoo entry `name` and returns
    `tfgen.zoo.load(name)`."""
    keras.utils.set_random_seed(seed)
    config = {**config, "seed": 0}
    model = tfgen.models.get(cls)(**config)
    model(np.zeros((1, *config["image_shape"]), "float32"))
    weights = str(folder / "model.weights.h5")
    model.save_weights(weights)
    zoo.register(
        dict(
            name=name,
            model=cls,
            config=config,
            weights="model.weights.h5",
            sha256=zoo.sha256(weights),
            directory=str(folder),
        ),
        overwrite=True,
    )
    return zoo.load(name)
