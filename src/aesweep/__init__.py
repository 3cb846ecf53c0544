"""aesweep: does an autoencoder's cropped encoder really help a downstream model?"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# Hide TensorFlow's INFO chatter at start-up but keep its warnings; a user's setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

if TYPE_CHECKING:
    from aesweep.features import AutoencoderFeatures

__all__ = ["AutoencoderFeatures"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``AutoencoderFeatures`` on first use: it imports scikit-learn, which a command that
    only composes a config, prints help or rejects bad input never needs."""
    if name == "AutoencoderFeatures":
        from aesweep.features import AutoencoderFeatures

        return AutoencoderFeatures
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
