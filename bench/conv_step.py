"""Training step time of ``conv`` vs ``dense`` at digits' shape (1797 x 64, as 8x8x1).

    python bench/conv_step.py [EPOCHS]      # prints a table and the conv/dense ratios

Both: bottleneck 16, batch 64, Adam, the project's Trainer (many steps per compiled
call); dense has the reference widths (128, 64), conv the default filters (16, 32). A
step's time is the median epoch's wall time over its 29 steps, leaving out epoch 1
(tracing, or XLA compiling), with XLA off and on.
"""

from __future__ import annotations

import statistics
import sys

from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from aesweep import AutoencoderFeatures

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 8
ARCHITECTURES = {"dense": {}, "conv": {"image_shape": (8, 8, 1), "filters": (16, 32)}}


def step_seconds(jit: bool, **params: object) -> float:
    X = StandardScaler().fit_transform(load_digits().data)
    seconds: list[float] = []

    def on_epoch(epoch: int, logs: dict, elapsed: float | None) -> None:
        if epoch > 1 and elapsed is not None:
            seconds.append(elapsed)

    AutoencoderFeatures(bottleneck=16, batch_size=64, epochs=EPOCHS, random_state=0,
                        jit_compile=jit, **params).fit(X, on_epoch=on_epoch)
    return statistics.median(seconds) / -(-len(X) // 64)


if __name__ == "__main__":
    for jit in (False, True):
        times = {name: step_seconds(jit, **params) for name, params in ARCHITECTURES.items()}
        print(f"xla={jit!s:5}  " + "  ".join(f"{name}={t * 1e3:.2f} ms/step"
                                               for name, t in times.items())
              + f"  conv/dense={times['conv'] / times['dense']:.1f}x", flush=True)
