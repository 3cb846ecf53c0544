"""aesweep: does an autoencoder's cropped encoder really help a downstream model?"""

from __future__ import annotations

import os

# Hide TensorFlow's INFO chatter at start-up but keep its warnings; a user's setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from aesweep.features import AutoencoderFeatures

__all__ = ["AutoencoderFeatures"]
__version__ = "0.1.0"
