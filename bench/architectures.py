"""The ``architectures`` section (issue 13): every architecture against raw features, PCA
and its own untrained encoder, and each architecture's step time against ``dense``.

1. Two sweeps, each a fresh ``aesweep -m`` process with its own ``paths.root``:
   ``architecture=dense,denoising,sparse,variational`` (and ``conv`` on ``digits``, whose
   rows are 8 x 8 images) x 3 bottlenecks x 3 seeds at one epoch count, on ``digits`` and
   on a generated mixed table (numbers with gaps, categories with gaps, a binary target;
   see :func:`mixed_table`). The sweep's report gives, per (architecture, bottleneck),
   the encoded test metric with its 95% interval over seeds and its differences with raw
   features, PCA at the same size and the architecture's untrained encoder, each with an
   interval: the "what won where" table.
2. Step time (``arch_steps.py``): each architecture's milliseconds per training step at
   the reference shape (10,000 x 500 split as seed_article, bottleneck 32) and at
   digits' (1,797 x 64, bottleneck 16), interleaved in one process, as a ratio to dense's.
   Goal: denoising, sparse and variational <= 1.2x dense.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from launchers import run_timed, say
from processes import AESWEEP, BENCH, PYTHON, env

GOAL_RATIO = 1.2
GOAL_ARCHITECTURES = ("denoising", "sparse", "variational")  # held to GOAL_RATIO
TABLE_ARCHITECTURES = ("dense", "denoising", "sparse", "variational")


def mixed_table(n: int, seed: int = 0) -> pd.DataFrame:
    """A table as users bring them: 6 numeric columns (5% gaps), 3 categorical ones (two
    carrying signal through binned latent factors, one noise; 3% gaps), a bool column, a
    binary text target that depends on the latent factors nonlinearly."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 3))
    numbers = latent @ rng.standard_normal((3, 6)) + 0.5 * rng.standard_normal((n, 6))
    frame = pd.DataFrame(numbers.round(3), columns=[f"x{i}" for i in range(6)])
    frame["region"] = np.array(["north", "south", "east", "west"])[
        np.digitize(latent[:, 0] + 0.3 * rng.standard_normal(n), [-0.7, 0, 0.7])]
    frame["plan"] = np.array(["basic", "plus", "pro"])[
        np.digitize(latent[:, 1] + 0.3 * rng.standard_normal(n), [-0.4, 0.4])]
    frame["channel"] = rng.choice(["web", "store", "phone", "partner", "mail"], n)
    frame["member"] = latent[:, 2] + 0.5 * rng.standard_normal(n) > 0
    score = latent[:, 0] * latent[:, 1] + np.sin(2 * latent[:, 2]) + 0.3 * rng.standard_normal(n)
    frame["label"] = np.where(score > np.median(score), "yes", "no")
    for column, share in [*((f"x{i}", 0.05) for i in range(6)),
                          ("region", 0.03), ("plan", 0.03)]:
        frame.loc[rng.random(n) < share, column] = None
    frame[["region", "plan", "channel"]] = frame[["region", "plan", "channel"]].astype(object)
    return frame


def sweep_args(p: dict, dataset: list[str], architectures: list[str], root: Path) -> list[str]:
    return [AESWEEP, "-m", *dataset, f"architecture={','.join(architectures)}",
            f"architecture.bottleneck={','.join(map(str, p['bottlenecks']))}",
            f"trainer.epochs={p['epochs']}", f"seed={','.join(map(str, p['seeds']))}",
            f"paths.root={root}"]


def what_won_where(root: Path) -> dict[str, Any]:
    """The sweep's comparison table (Markdown) and its rows, read from its store in a
    fresh process (the driver imports no TensorFlow or MLflow)."""
    out = subprocess.run([PYTHON, str(BENCH / "architectures_table.py"), str(root)],
                         env=env(), capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def one_sweep(p: dict, name: str, dataset: list[str], architectures: list[str],
              work: Path) -> dict[str, Any]:
    root = work / name
    cmd = sweep_args(p, dataset, architectures, root)
    say(f"  {name}: {len(architectures)} architectures x {len(p['bottlenecks'])} "
        f"bottlenecks x {len(p['seeds'])} seeds")
    proc = run_timed(cmd, work / f"{name}-cwd", p["timeout_s"])  # raises if it fails
    table = what_won_where(root)
    say(table["markdown"])
    return {"cmd": cmd[1:], "wall_s": proc["wall_s"], **table}


def architectures(profile: dict, tmp: Path) -> dict[str, Any]:
    p = profile["architectures"]
    tmp.mkdir(parents=True, exist_ok=True)
    table = tmp / "mixed.csv"
    mixed_table(p["mixed_rows"]).to_csv(table, index=False)
    steps = subprocess.run([PYTHON, str(BENCH / "arch_steps.py"), json.dumps(p["steps"])],
                           env=env(), capture_output=True, text=True, check=True).stdout
    step = json.loads(steps.strip().splitlines()[-1])
    for shape, figures in step.items():
        ratios = ", ".join(f"{a} {r:.2f}x" for a, r in figures["ratio_to_dense"].items())
        say(f"  step time at {shape} ({figures['rows']} x {figures['features']}, "
            f"XLA {figures['jit_compile']}): dense {figures['step_ms']['dense']:.2f} ms; "
            f"{ratios}")
    ok = all(figures["ratio_to_dense"][a] <= GOAL_RATIO for figures in step.values()
             for a in GOAL_ARCHITECTURES if a in figures["ratio_to_dense"])
    sweeps = {
        "digits": one_sweep(p, "digits", ["dataset=digits"],
                            [*TABLE_ARCHITECTURES, "conv"], tmp),
        "mixed": one_sweep(p, "mixed", ["dataset=csv", f"dataset.path={table}",
                                        "dataset.target=label", "dataset.categorical=auto"],
                           list(TABLE_ARCHITECTURES), tmp),
    }
    return {"steps": step, "sweeps": sweeps, "ok": ok}
