"""The MLflow UI as a user sees it after a sweep, in a real browser.

A small real sweep is logged, its report registers the chosen encoder, ``make ui`` serves
the store, and Debian's Chromium (driven by Playwright, which downloads no browser) opens
it. The checks read rendered text and SVG elements, not pixels; each saves a screenshot
under ``outputs/browser/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from aesweep.names import SWEEP_ID_TAG
from aesweep.tracking.view import LOCAL_UI, runs_url

from helpers import TINY, clean_env, describe, run_cli, store_args, store_uri

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "outputs" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless as root, on a machine without outside network: no sandbox, no background calls.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MODEL = "aesweep-encoder"
BOTTLENECKS, EPOCHS = (4, 8), (2, 3)
UI_SECONDS = 90  # `make ui` answers in ~20 s here; more on a loaded machine
RENDER_MS = 30_000


@dataclass(frozen=True)
class Sweep:
    root: Path
    experiment_id: str
    parent: str
    jobs: list[str]  # run names
    verdict: str
    view_path: str  # the printed links without their host: "/#/experiments/..."
    runs_path: str


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("ui")
    grid = [f"architecture.bottleneck={','.join(map(str, BOTTLENECKS))}",
            f"trainer.epochs={','.join(map(str, EPOCHS))}"]
    result = run_cli(["-m", *grid, *TINY, *store_args(root)], cwd=root)
    assert result.returncode == 0, describe(result)
    link = re.search(r"^compare them: (\S+)", result.stdout, re.M)
    runs_link = re.search(r"^runs: (\S+)", result.stdout, re.M)
    assert link and runs_link, describe(result)
    assert link.group(1).startswith(LOCAL_UI) and runs_link.group(1).startswith(LOCAL_UI)
    registered = run_cli(["--tracking-uri", store_uri(root), "--register", MODEL], cwd=root,
                         program="aesweep-report")
    assert registered.returncode == 0, describe(registered)
    client = MlflowClient(store_uri(root))
    experiment = client.get_experiment_by_name("aesweep")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("aesweep.role") == "sweep")
    jobs = [r.info.run_name for r in runs if r.data.tags.get(SWEEP_ID_TAG) == parent.info.run_id
            and r.info.run_id != parent.info.run_id]
    verdict = re.search(r"^best on validation: .*$", result.stdout, re.M)
    assert verdict, describe(result)
    return Sweep(root, experiment.experiment_id, parent.info.run_id, jobs, verdict.group(0),
                 link.group(1).removeprefix(LOCAL_UI), runs_link.group(1).removeprefix(LOCAL_UI))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui(sweep: Sweep) -> Iterator[str]:
    """`make ui`, as a user starts it, serving the sweep's store on a free port."""
    port = _free_port()
    # -o: never rebuild the venv from here, even if pyproject.toml is newer than its stamp.
    process = subprocess.Popen(
        ["make", "-s", "-C", str(REPO), "-o", ".venv/.installed", "ui", f"PORT={port}",
         f"STORE={sweep.root / 'mlflow.db'}"], env=clean_env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + UI_SECONDS
        while True:
            assert process.poll() is None, f"make ui exited: {process.stderr.read()[-2000:]}"
            try:
                if requests.get(f"{base}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"make ui did not answer in {UI_SECONDS} s"
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium "
                    "(apt-get install chromium; `make test` does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    # Tall enough that the chart view renders every card (it renders them as they scroll in).
    page = browser.new_page(viewport={"width": 1600, "height": 1800})
    page.set_default_timeout(RENDER_MS)
    yield page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    page.close()


def _close_assistant(page) -> None:
    """MLflow 3's assistant panel opens on a first visit, over a third of the page."""
    from playwright.sync_api import TimeoutError as Timeout

    page.keyboard.press("Escape")  # and any "what's new" dialog over it
    close = page.locator("button[data-component-id='mlflow.assistant.chat_panel.close']")
    if close.count():  # a dialog may cover it: then only the screenshot is less clear
        with contextlib.suppress(Timeout):
            close.first.click(timeout=3000)


def test_the_experiment_opens_on_its_runs(sweep: Sweep, ui: str, page) -> None:
    """aesweep's links open the runs in model-training mode, not MLflow's GenAI overview
    of traces (where MLflow 3.17 opens any experiment by default)."""
    page.goto(runs_url(ui, sweep.experiment_id))
    page.get_by_text(re.compile(r"^sweep ")).first.wait_for()
    _close_assistant(page)
    assert page.get_by_role("heading", name="Runs", exact=True).count() == 1
    assert page.get_by_text("Token Usage").count() == 0


def test_jobs_are_nested_under_their_sweep(sweep: Sweep, ui: str, page) -> None:
    page.goto(f"{ui}/#/experiments/{sweep.experiment_id}/runs?workflowType=machine_learning")
    parent = page.get_by_text(re.compile(r"^sweep "))
    parent.first.wait_for()
    assert page.get_by_text(sweep.jobs[0], exact=True).count() == 0  # folded under it
    row = page.locator(".ag-row", has=parent.first)
    row.locator("button[data-component-id*=runnamecellrenderer]").first.click()
    for name in sweep.jobs:
        page.get_by_text(name, exact=True).first.wait_for()
    _close_assistant(page)


def test_the_shared_view_plots_every_job_against_the_bottleneck(sweep: Sweep, ui: str,
                                                               page) -> None:
    page.goto(ui + sweep.view_path)
    page.get_by_text("aesweep: bottleneck comparison").first.wait_for()
    card = page.locator("[data-testid=experiment-view-compare-runs-card]").filter(
        has=page.get_by_title("architecture.bottleneck vs. encoded_accuracy", exact=True))
    card.locator("path.point").first.wait_for()
    assert card.locator("path.point").count() == len(sweep.jobs) == 4
    for title in ("architecture.bottleneck vs. recon_mse_test", "train_loss", "val_loss"):
        assert page.get_by_title(title, exact=True).count() >= 1, title
    for epochs in EPOCHS:  # one series per epoch count
        assert page.get_by_text(f"Group: {epochs}", exact=True).count() == 1
    _close_assistant(page)


def test_the_shared_view_shows_the_swept_keys_and_metrics_as_columns(sweep: Sweep, ui: str,
                                                                    page) -> None:
    page.set_viewport_size({"width": 3200, "height": 1000})  # the grid renders what fits
    page.goto(ui + sweep.view_path.replace("compareRunsMode=CHART", "compareRunsMode=TABLE"))
    page.get_by_text(sweep.jobs[0], exact=True).first.wait_for()
    _close_assistant(page)
    headers = page.locator(".ag-header-cell[col-id]")
    columns = " ".join(h.get_attribute("col-id") or "" for h in headers.all())
    for column in ("architecture.bottleneck", "trainer.epochs", "val_encoded_accuracy",
                   "encoded_accuracy", "delta_vs_pca", "recon_mse_test"):
        assert f"`{column}`" in columns, (column, columns)


def test_the_printed_link_shows_the_verdict(sweep: Sweep, ui: str, page) -> None:
    """The sweep's "runs:" link opens its parent run, whose description is the report."""
    page.goto(ui + sweep.runs_path)
    page.get_by_text("Verdict:", exact=False).first.wait_for()
    _close_assistant(page)
    assert page.get_by_text(sweep.verdict[:60], exact=False).count() >= 1
    assert page.get_by_text("| best |").count() == 0  # the table is rendered, not raw text


def test_the_registered_encoder_is_under_models(sweep: Sweep, ui: str, page) -> None:
    page.goto(f"{ui}/#/models")
    page.get_by_text(MODEL, exact=True).first.wait_for()
    page.get_by_text("Version 1").first.wait_for()
    _close_assistant(page)
    text = page.inner_text("body")
    assert re.search(r"best\s*:\s*Version 1", text), text  # the alias, on version 1
