"""The history of generated images that CycleGAN's discriminators train on."""

import keras
import tensorflow as tf

__all__ = ["ImagePool"]


@keras.saving.register_keras_serializable(package="tfgen")
class ImagePool(keras.layers.Layer):
    """A buffer of past generated images (Shrivastava et al. 2017).

    Training a discriminator on a history of generated images, not only the
    latest batch, damps oscillation. Each image of a query batch, in order:
    while the pool holds fewer than `pool_size` images it is stored and
    returned; once full, with probability 1/2 a uniformly chosen stored
    image is returned and replaced by the new one, otherwise the new image
    is returned and the pool is left as it is.

    The buffer is a non-trainable weight, so it is checkpointed with the
    model. Under a distribution strategy each replica keeps its own pool
    (on-read synchronization), as each data-parallel worker of the
    reference implementation does.

    Args:
        pool_size: images kept; 0 returns every query unchanged.
        seed: seed of the pool's `keras.random.SeedGenerator`.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    pool = tfgen.layers.ImagePool(50, seed=0)
    fakes_for_discriminator = pool(generator(a))
    ```

    References:
        Shrivastava et al., Learning from Simulated and Unsupervised Images
        through Adversarial Training, arXiv 1612.07828; Zhu et al.,
        arXiv 1703.10593 (Section 4).
    """

    def __init__(self, pool_size=50, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if isinstance(pool_size, bool) or int(pool_size) != pool_size or pool_size < 0:
            raise ValueError(
                "`pool_size` must be a non-negative integer. "
                f"Received: pool_size={pool_size!r}"
            )
        self.pool_size = int(pool_size)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        # `add_weight` has no `synchronization`; variables set as attributes
        # are tracked (and checkpointed) all the same.
        local = {
            "trainable": False,
            "synchronization": "on_read",
            "aggregation": "only_first_replica",
        }
        with keras.name_scope(self.name, caller=self):
            self.images = keras.Variable(
                "zeros",
                shape=(self.pool_size, *input_shape[1:]),
                dtype="float32",
                name="images",
                **local,
            )
            self.count = keras.Variable(
                "zeros", shape=(), dtype="int32", name="count", **local
            )

    def call(self, images):
        images = tf.cast(images, "float32")
        if self.pool_size == 0:
            return images
        n = tf.shape(images)[0]
        coins = keras.random.uniform((n,), seed=self.seed_generator)
        slots = keras.random.randint((n,), 0, self.pool_size, seed=self.seed_generator)
        out = tf.TensorArray("float32", size=n, element_shape=images.shape[1:])

        def store(slot, image):
            updated = tf.tensor_scatter_nd_update(
                self.images.value, [[slot]], image[None]
            )
            self.images.assign(updated)

        def query(i, out):
            image = images[i]
            count = self.count.value

            def fill():
                store(count, image)
                self.count.assign(count + 1)
                return image

            def swap():
                old = self.images.value[slots[i]]
                store(slots[i], image)
                return old

            returned = tf.cond(
                count < self.pool_size,
                fill,
                lambda: tf.cond(coins[i] < 0.5, swap, lambda: image),
            )
            return i + 1, out.write(i, returned)

        _, out = tf.while_loop(lambda i, _: i < n, query, (0, out))
        return tf.reshape(out.stack(), tf.shape(images))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, seed=self.seed)
        return config
