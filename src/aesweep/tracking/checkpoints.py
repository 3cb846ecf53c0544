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

from omegaconf import DictConfig, OmegaConf, read_write

from aesweep.config import config_hash
from aesweep.names import CHECKPOINT_EPOCHS_TAG, CHECKPOINT_SOURCE_TAG, TRAIN_HASH_TAG
from aesweep.tracking.store import DATABASES, Store, uri_scheme

log = logging.getLogger("aesweep")

ARTIFACT_DIR = "checkpoints"
# What training does not depend on: the epoch count (checkpoints span them) and the
# downstream side.
NOT_TRAINING = ("trainer.epochs", "downstream", "evaluation")


def in_artifact_store(cfg: DictConfig) -> bool:
    """Whether this job's checkpoints go through the tracking server's artifact store."""
    where = str(cfg.tracking.checkpoints)
    if where == "auto":
        return uri_scheme(str(cfg.tracking.uri)) not in DATABASES
    return where == "artifacts"


def train_hash(cfg: DictConfig) -> str:
    """The hash shared by jobs that differ only in their epoch count."""
    return config_hash(cfg, ignore=NOT_TRAINING)


def fetch(store: Store, cfg: DictConfig, root: Path) -> tuple[str, int] | None:
    """Download the best checkpoint for this job under ``root`` (a checkpoint directory);
    return its run's id and epoch count."""
    from aesweep.checkpoints import Checkpoints  # TensorFlow: only once a job trains

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
        checkpoints = Checkpoints(root, Path(key_dir.path).name)
        checkpoints.directory.mkdir(parents=True, exist_ok=True)
        for path in checkpoints.files(saved):  # the history last: it marks it whole
            store.client.download_artifacts(
                run_id, f"{key_dir.path}/{path.name}", str(checkpoints.directory))
    log.info("resuming from the %d-epoch checkpoint of run %s", saved, run_id)
    return run_id, saved


def publish(store: Store, run_id: str, root: Path, fetched: int | None = None) -> list[int]:
    """Upload the checkpoints under ``root`` (but the ``fetched`` one) as artifacts of
    ``run_id``; return their epoch counts, also set as a tag."""
    from aesweep.checkpoints import Checkpoints

    published: set[int] = set()
    for key_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        checkpoints = Checkpoints(root, key_dir.name)
        for epochs in checkpoints.saved():
            if epochs == fetched:
                continue
            for path in checkpoints.files(epochs):
                store.client.log_artifact(run_id, str(path), f"{ARTIFACT_DIR}/{key_dir.name}")
            published.add(epochs)
    if published:  # set last: a reader sees only checkpoints that are whole
        store.client.set_tag(run_id, CHECKPOINT_EPOCHS_TAG, ",".join(map(str, sorted(published))))
    return sorted(published)


@contextmanager
def shared_checkpoints(store: Store, run_id: str, cfg: DictConfig) -> Iterator[None]:
    """Around a job's training: with the artifact store, point ``paths.checkpoints`` at a
    scratch directory holding the best earlier checkpoint, and publish what training saved
    there when it succeeds. A no-op for local checkpoints."""
    if not (cfg.trainer.reuse_checkpoints and in_artifact_store(cfg)):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="aesweep-checkpoints-") as scratch:
        root = Path(scratch, ARTIFACT_DIR)
        source = fetch(store, cfg, root)
        if source:
            store.client.set_tag(run_id, CHECKPOINT_SOURCE_TAG, source[0])
        configured = OmegaConf.to_container(cfg.paths, resolve=False)["checkpoints"]
        with read_write(cfg.paths):
            cfg.paths.checkpoints = str(root)
        try:
            yield
        finally:  # the logged config shows what was configured, not the scratch directory
            with read_write(cfg.paths):
                cfg.paths.checkpoints = configured
        publish(store, run_id, root, fetched=source[1] if source else None)
