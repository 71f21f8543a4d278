"""The web UI as a new user meets it: a demo materialised into a fresh Dagster instance, the
project's own ``dagster-webserver`` on loopback, and headless Chromium driven by selenium.

Everything here is module-scoped: the demo runs once, the webserver and the browser serve every
test of the module, and are always stopped at the end. Debian's ``chromium`` and
``chromium-driver`` must be installed (``.ci/run`` installs them); without them the tests fail
with the command that installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pipeline.kit import write_project

REPO = Path(__file__).resolve().parents[2]
SYMBOL = "BTCUSDT"
#: the demo's months, from ``[universe] start_month``: the walk-forward chooses on one month and
#: judges on the next, so three months give it two out-of-sample steps
MONTHS = ("2024-01", "2024-02", "2024-03")
#: the only sweep timeframe: ``walk_forward`` prefixes its metadata entries with it
SWEEP_TF = "1h"
#: a two-point grid (the report's featured set is one of them) keeps the demo small and fast, and
#: still gives the walk-forward a choice to make and CSCV (PBO) two strategies to compare
EXTRA_SETTINGS = """
[grid]
bb_period = [20]
bb_std = [2.0]
atr_period = [14]
atr_mult = [1.5, 2.0]

[walkforward]
in_sample_months = 1
"""
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1600,1000")
INSTALL_HINT = ("install Debian's Chromium and its driver: "
                "`apt-get update && apt-get install -y chromium chromium-driver` (as root), "
                'and selenium: `python3 -m pip install -e ".[dev]"`')
#: generous bounds: they only stop a broken run from hanging, they never decide a result
DEMO_TIMEOUT_S = 300
SERVER_START_S = 90


@dataclass(frozen=True)
class Demo:
    folder: Path
    settings: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Server:
    url: str
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(f"{self.url}/graphql", data=json.dumps({"query": query}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["data"]


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver, or a failure saying how to install them (checked
    before the demo runs)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail(f"selenium is not installed; {INSTALL_HINT}", pytrace=False)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail(f"chromium / chromedriver not found on PATH; {INSTALL_HINT}", pytrace=False)
    return browser, driver


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """``threadx --config … demo --months 3`` on a one-symbol project, into a fresh instance that
    uses the project's ``dagster.yaml``: every symbol-month asset, then ``walk_forward``."""
    folder = tmp_path_factory.mktemp("ui_project")
    settings = write_project(folder, symbols=(SYMBOL,), derive=("15m", SWEEP_TF), sweep=(SWEEP_TF,),
                             extra=EXTRA_SETTINGS)
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "THREADX_CONFIG": str(settings)}
    done = subprocess.run([sys.executable, "-m", "threadx_pipeline.cli", "--config", str(settings), "demo",
                           "--months", str(len(MONTHS))], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=DEMO_TIMEOUT_S)
    assert done.returncode == 0, f"threadx demo failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return Demo(folder, settings, env)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Terminate the process group of ``process`` (the webserver and its code server)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def server(demo: Demo) -> Iterator[Server]:
    """``dagster-webserver`` on the project's ``workspace.yaml`` and the demo's instance, on a free
    loopback port; stopped (whole process group) when the module is done."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = demo.folder / "webserver.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver", "-w", str(REPO / "workspace.yaml"),
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=demo.folder, env=demo.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    srv = Server(url, log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{srv.log_tail()}")
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"dagster-webserver did not answer on {url} within {SERVER_START_S} s:\n"
                            f"{srv.log_tail()}")
            time.sleep(0.5)
        _wait_for_code_location(srv, deadline)
        yield srv
    finally:
        _stop(process)


_LOCATIONS_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _wait_for_code_location(server: Server, deadline: float) -> None:
    """Wait (until ``deadline``) for the workspace's code locations to load; fail with the load
    error of one that does not (the UI would only show an empty asset graph)."""
    while True:
        workspace = server.graphql(_LOCATIONS_QUERY)["workspaceOrError"]
        entries = workspace.get("locationEntries") or []
        errors = [f"{e['name']}: {e['locationOrLoadError']['message']}" for e in entries
                  if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"]
        if errors:
            pytest.fail("the code location failed to load:\n" + "\n".join(errors), pytrace=False)
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the code location did not load within {SERVER_START_S} s ({workspace}):\n"
                        f"{server.log_tail()}", pytrace=False)
        time.sleep(0.5)


def _skip_first_visit_dialog(driver, server: Server) -> None:
    """Open the UI's home page; on a new instance, click "Skip" in its "Join the Dagster community"
    dialog, which Dagster then records in ``$DAGSTER_HOME/.nux`` and shows no more."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{server.url}/")
    if not server.graphql("{ shouldShowNux }")["shouldShowNux"]:
        return
    skip = (By.XPATH, "//*[@role='dialog']//button[normalize-space()='Skip']")
    WebDriverWait(driver, 60).until(
        ec.element_to_be_clickable(skip), "the first-visit dialog (Join the Dagster community) never showed")
    driver.find_element(*skip).click()
    WebDriverWait(driver, 30).until(ec.invisibility_of_element_located(skip),
                                    "the first-visit dialog did not close on Skip")
    WebDriverWait(driver, 30).until(lambda _: not server.graphql("{ shouldShowNux }")["shouldShowNux"],
                                    "Skip was not recorded by the instance")


@pytest.fixture(scope="module")
def browser(chromium: tuple[str, str], server: Server) -> Iterator[object]:
    """Headless Chromium (a fresh profile) that has been through the first visit: the "Join the
    Dagster community" dialog a new instance shows is skipped, as a new user would."""
    binary, chromedriver = chromium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="threadx-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        driver.set_page_load_timeout(60)
        _skip_first_visit_dialog(driver, server)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
