"""Linear probes: how linearly decodable are labels from learned features."""

import numpy as np

__all__ = ["linear_probe"]


def linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    num_classes=None,
    epochs=30,
    batch_size=256,
    learning_rate=1e-2,
    l2=1e-4,
    seed=0,
):
    """Softmax regression on frozen features; returns test accuracy.

    Features are standardized with the training set's mean and standard
    deviation, then one `Dense(num_classes)` layer is trained with Adam on
    the cross-entropy (plus `l2` on its weights) and scored on the test set.

    Args:
        train_features, test_features: float arrays (n, d).
        train_labels, test_labels: integer class ids (n,).
        num_classes: default `max(label) + 1` over both sets.
        epochs, batch_size, learning_rate, l2: the optimization.
        seed: seeds initialization and shuffling.

    Returns:
        dict with `test_accuracy`, `train_accuracy`, `num_train`, `num_test`,
        `dim` and the settings used.

    Example:

    ```python
    result = tfgen.probe.linear_probe(vae.features(x_train), y_train,
                                      vae.features(x_test), y_test)
    print(result["test_accuracy"])
    ```
    """
    import keras

    x_train = np.asarray(train_features, dtype="float32")
    x_test = np.asarray(test_features, dtype="float32")
    y_train = np.asarray(train_labels).reshape(-1)
    y_test = np.asarray(test_labels).reshape(-1)
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if (
            x.ndim != 2
            or x.shape[0] != y.shape[0]
            or not np.issubdtype(y.dtype, np.integer)
        ):
            raise ValueError(
                f"{name} features must be (n, d) with n integer labels. Received: "
                f"features.shape={x.shape}, labels.shape={y.shape}, labels.dtype={y.dtype}"
            )
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            "Train and test features must have the same width. "
            f"Received: {x_train.shape[1]} and {x_test.shape[1]}"
        )
    num_classes = int(num_classes or max(y_train.max(), y_test.max()) + 1)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((x_train.shape[1],)),
            keras.layers.Dense(
                num_classes,
                kernel_regularizer=keras.regularizers.L2(l2),
                dtype="float32",
            ),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)

    def accuracy(x, y):
        return float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y))

    return {
        "test_accuracy": accuracy(x_test, y_test),
        "train_accuracy": accuracy(x_train, y_train),
        "num_train": int(len(y_train)),
        "num_test": int(len(y_test)),
        "dim": int(x_train.shape[1]),
        "epochs": int(epochs),
        "learning_rate": float(learning_rate),
        "l2": float(l2),
    }
