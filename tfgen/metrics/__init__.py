"""Sample-quality metrics on the FID Inception network: FID, KID, IS, precision/recall.

All of them run TF's `inception-2015-12-05` graph (ported in
`tfgen.metrics.inception`) on uint8 images resized to 299x299 the way
StyleGAN and the TorchScript FID network do, stream sources batch by batch
in float32, and do their statistics in float64.

A source is a uint8 array (n, H, W[, C]), a float array in [0, 1], a
`tf.data.Dataset` of either (or of `(image, label)` pairs), a model with
`sample(n, seed=...)` (pass `num_samples=`), or precomputed features as a
2-D float array.

The weights are found through `weights=`, `$TFGEN_FID_WEIGHTS`, or a
download of pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`, and are
converted once to a Keras `.weights.h5` under `$TFGEN_CACHE_DIR` (default
`~/.keras/tfgen`).

```python
import tfgen

real = tfgen.data.load_arrays("cifar10", "test")[0]
model = tfgen.zoo.load("dcgan_cifar")
tfgen.metrics.fid(model, real, num_samples=10000)
tfgen.metrics.kid(model, real, num_samples=10000)          # KID(mean, std)
tfgen.metrics.precision_recall(real, model, num_samples=10000)
tfgen.metrics.inception_score(model, num_samples=50000)    # needs the .pth's logits
```

Reference statistics of real splits are computed once and cached (or
shipped in the zoo): `reference_statistics("cifar10", "train")`. For 28x28
grayscale data, `DomainClassifier` (shipped per dataset, sha256-checked)
gives `classifier_frechet_distance` and `classifier_score`. `evaluate`
measures a model under all of them in one pass, each number with its
protocol (`tfgen eval` on the command line), on a feature network
(`FeatureExtractor`: `InceptionFeatureExtractor`,
`ClassifierFeatureExtractor`, or `feature_network("inception" |
"classifier")`) with `MetricOptions`.
"""

from tfgen.metrics.classifier import (
    CLASSIFIER_RECIPES,
    ClassifierFeatureExtractor,
    ClassifierFrechetDistance,
    ClassifierScore,
    DomainClassifier,
    classifier_extractor,
    classifier_frechet_distance,
    classifier_score,
    evaluate_classifier,
    export_classifier,
    load_classifier,
    train_classifier,
)
from tfgen.metrics.evaluate import (
    FEATURE_NETWORKS,
    METRICS,
    MetricOptions,
    MetricResult,
    evaluate,
    feature_network,
)
from tfgen.metrics.features import (
    FeatureExtractor,
    InceptionFeatureExtractor,
    inception_protocol,
    iterate_images,
    to_uint8_levels,
)
from tfgen.metrics.fid import Statistics, compute_statistics, fid, frechet_distance
from tfgen.metrics.inception import (
    FID_WEIGHTS_URL,
    FIDInceptionV3,
    bilinear_resize_matrix,
    load_fid_inception,
)
from tfgen.metrics.inception_score import (
    InceptionScore,
    inception_score,
    inception_score_from_logits,
)
from tfgen.metrics.kid import KID, kid, kid_from_features, mmd2_unbiased
from tfgen.metrics.precision_recall import (
    PrecisionRecall,
    precision_recall,
    precision_recall_from_features,
)
from tfgen.metrics.reference import (
    ReferenceFeatures,
    parse_reference,
    reference_features,
    reference_statistics,
    ship_reference_statistics,
)
from tfgen.metrics.torch_archive import (
    CorruptArchiveError,
    UnsafeArchiveError,
    check_pickle,
    read_torch_archive,
)

__all__ = [
    "CLASSIFIER_RECIPES",
    "FID_WEIGHTS_URL",
    "KID",
    "METRICS",
    "ClassifierFeatureExtractor",
    "ClassifierFrechetDistance",
    "ClassifierScore",
    "CorruptArchiveError",
    "DomainClassifier",
    "FEATURE_NETWORKS",
    "FIDInceptionV3",
    "FeatureExtractor",
    "InceptionFeatureExtractor",
    "InceptionScore",
    "MetricOptions",
    "MetricResult",
    "PrecisionRecall",
    "ReferenceFeatures",
    "Statistics",
    "UnsafeArchiveError",
    "bilinear_resize_matrix",
    "check_pickle",
    "classifier_extractor",
    "classifier_frechet_distance",
    "classifier_score",
    "compute_statistics",
    "evaluate",
    "evaluate_classifier",
    "export_classifier",
    "feature_network",
    "fid",
    "frechet_distance",
    "inception_protocol",
    "inception_score",
    "inception_score_from_logits",
    "iterate_images",
    "kid",
    "kid_from_features",
    "load_classifier",
    "load_fid_inception",
    "mmd2_unbiased",
    "parse_reference",
    "precision_recall",
    "precision_recall_from_features",
    "read_torch_archive",
    "reference_features",
    "reference_statistics",
    "ship_reference_statistics",
    "to_uint8_levels",
    "train_classifier",
]
