"""``AutoencoderFeatures`` passes every check of scikit-learn's estimator API
(``check_estimator``): cloning, params, input validation, dtypes, pickling, fit
idempotency, invariance to the order and grouping of rows, and the rest.

A small instance (one hidden layer of 4 units, or one conv block of 4 filters; one epoch)
keeps the ~50 fits quick: a fit costs about a second, spent tracing the training step.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from aesweep import AutoencoderFeatures

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("keras")]


@parametrize_with_checks([
    AutoencoderFeatures(bottleneck=2, hidden_units=[4], epochs=1, random_state=0),
    # denoising (swap: the noise that depends on the other rows of a batch), sparse and
    # variational
    AutoencoderFeatures(bottleneck=2, hidden_units=[4], epochs=1, random_state=0,
                        noise_kind="swap", noise_level=0.2),
    AutoencoderFeatures(bottleneck=2, hidden_units=[4], epochs=1, random_state=0, l1=0.01),
    AutoencoderFeatures(bottleneck=2, hidden_units=[4], epochs=1, random_state=0,
                        variational=True, beta=0.5),
    # conv: the checks' X have 1 to 10 features, so each row is a column image (n, 1, 1),
    # its height inferred (-1), convolved along its length.
    AutoencoderFeatures(bottleneck=2, image_shape=(-1, 1, 1), filters=[4], epochs=1,
                        random_state=0),
])
def test_sklearn_compatible_estimator(estimator, check) -> None:
    check(estimator)
