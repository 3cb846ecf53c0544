"""Training checkpoints in the tracking server's artifact store, for jobs on many machines.

The autoencoder checkpoints to a local directory (``AutoencoderFeatures.checkpoint_dir``):
``<dir>/<key>/epochs_<E>.keras`` and its ``.history.json``, where the key hashes the
parameters and the data. With a local store that directory is ``paths.checkpoints``. With
a tracking server (``tracking.checkpoints=auto`` or ``artifacts``) each job gets an empty
scratch directory instead, and this module moves checkpoints through MLflow:

- before training, :func:`fetch` finds the run of the same training config (the
  ``aesweep.train_hash`` tag: the config hash without ``trainer.epochs`` and what only the
  downstream side uses) holding the most epochs <= the job's, and downloads that one
  checkpoint into the scratch directory, where the estimator finds it by its own key (so a
  changed data file still trains afresh);
- after training, :func:`publish` uploads the checkpoints the job wrote as artifacts of its
  own run (``checkpoints/<key>/...``) and lists their epoch counts in a tag.

So a job on one node resumes from a checkpoint written on another, and no node needs a
shared disk: only the server's URL.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from omegaconf import DictConfig, OmegaConf, read_write

from aesweep.config import config_hash
from aesweep.names import CHECKPOINT_EPOCHS_TAG, CHECKPOINT_SOURCE_TAG, TRAIN_HASH_TAG
from aesweep.tracking.store import DATABASES, Store

log = logging.getLogger("aesweep")

ARTIFACT_DIR = "checkpoints"
# What training does not depend on: the epoch count (checkpoints span them) and the
# downstream side.
NOT_TRAINING = ("trainer.epochs", "downstream", "evaluation")


def in_artifact_store(cfg: DictConfig) -> bool:
    """Whether this job's checkpoints go through the tracking server's artifact store."""
    where = str(cfg.tracking.checkpoints)
    if where == "auto":
        return urlsplit(str(cfg.tracking.uri)).scheme.split("+")[0].lower() not in DATABASES
    return where == "artifacts"


def train_hash(cfg: DictConfig) -> str:
    """The hash shared by jobs that differ only in their epoch count."""
    return config_hash(cfg, ignore=NOT_TRAINING)


def fetch(store: Store, cfg: DictConfig, into: Path) -> str | None:
    """Download the best checkpoint for this job into ``into``; return its run's id."""
    epochs = int(cfg.trainer.epochs)
    runs = store.client.search_runs(
        [store.experiment_id], f"tags.`{TRAIN_HASH_TAG}` = '{train_hash(cfg)}'",
        max_results=1000)
    best: tuple[int, str] | None = None
    for run in runs:
        for saved in run.data.tags.get(CHECKPOINT_EPOCHS_TAG, "").split(","):
            if saved.isdigit() and int(saved) <= epochs and (best is None or
                                                            int(saved) > best[0]):
                best = int(saved), run.info.run_id
    if best is None:
        return None
    saved, run_id = best
    for key_dir in store.client.list_artifacts(run_id, ARTIFACT_DIR):
        key = Path(key_dir.path).name
        target = into / ARTIFACT_DIR / key  # where the estimator looks for its key
        target.mkdir(parents=True, exist_ok=True)
        for suffix in (".keras", ".history.json"):  # the history last: it marks it complete
            store.client.download_artifacts(
                run_id, f"{ARTIFACT_DIR}/{key}/epochs_{saved}{suffix}", str(target))
    log.info("resuming from the %d-epoch checkpoint of run %s", saved, run_id)
    return run_id


def publish(store: Store, run_id: str, scratch: Path) -> list[int]:
    """Upload the checkpoints written in ``scratch`` (not those fetched into it) as
    artifacts of ``run_id``; return their epoch counts, also set as a tag."""
    root = scratch / ARTIFACT_DIR
    published: list[int] = []
    for history in sorted(root.glob("*/epochs_*.history.json")):
        if history.with_name(history.name + ".fetched").exists():
            continue
        epochs = int(history.name.split("_")[1].split(".")[0])
        model = history.with_name(f"epochs_{epochs}.keras")
        artifact_path = f"{ARTIFACT_DIR}/{history.parent.name}"
        store.client.log_artifact(run_id, str(model), artifact_path)
        store.client.log_artifact(run_id, str(history), artifact_path)
        published.append(epochs)
    if published:  # set last: a reader sees only checkpoints that are whole
        store.client.set_tag(run_id, CHECKPOINT_EPOCHS_TAG, ",".join(map(str, sorted(published))))
    return sorted(published)


def mark_fetched(scratch: Path) -> None:
    """Flag every checkpoint now in ``scratch`` as fetched, so it is not published again."""
    for history in (scratch / ARTIFACT_DIR).glob("*/epochs_*.history.json"):
        history.with_name(history.name + ".fetched").touch()


@contextmanager
def shared_checkpoints(store: Store, run_id: str, cfg: DictConfig) -> Iterator[None]:
    """Around a job's training: with the artifact store, point ``paths.checkpoints`` at a
    scratch directory holding the best earlier checkpoint, and publish what training saved
    there when it succeeds. A no-op for local checkpoints."""
    if not (cfg.trainer.reuse_checkpoints and in_artifact_store(cfg)):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="aesweep-checkpoints-") as scratch:
        source = fetch(store, cfg, Path(scratch))
        mark_fetched(Path(scratch))
        if source:
            store.client.set_tag(run_id, CHECKPOINT_SOURCE_TAG, source)
        configured = OmegaConf.to_container(cfg.paths, resolve=False)["checkpoints"]
        with read_write(cfg.paths):
            cfg.paths.checkpoints = str(Path(scratch, ARTIFACT_DIR))
        try:
            yield
        finally:  # the logged config shows what was configured, not the scratch directory
            with read_write(cfg.paths):
                cfg.paths.checkpoints = configured
        publish(store, run_id, Path(scratch))
