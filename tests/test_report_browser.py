"""The report as an auditor opens it: in headless Chromium (Debian's), the first thing on the
page is the verdict, the exit code, the full commit and the gates that did not pass with their
severity and error class; Allure's app renders below it; and the page asks no host for
anything.

What the page requests is read from Chromium's own net log: a request made for the page is
keyed to its site (``file://``), unlike the browser's background calls (update checks, time),
which every page gets. All of Chromium's traffic goes to a loopback proxy, so nothing leaves."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import load, run_ipai

from pytest_ipai.evidence.report_page import history_points

HERE = Path(__file__).resolve().parent
CHROMIUM_TIMEOUT = 120


class Recorder:
    """A TCP listener on loopback that counts every connection made to it (the proxy)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _addr = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.server.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    watching = Recorder()
    try:
        yield watching
    finally:
        watching.close()


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "chromium is missing: ./dev test installs Debian's package"
    return found


def page_requests(netlog: Path) -> list[str]:
    """The URLs Chromium started to fetch for the page itself (not its own background calls)."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start
        and str(event.get("params", {}).get("network_isolation_key", "")).startswith("file://")
        and not event["params"]["url"].startswith(("data:", "blob:", "file:"))
    ]


def open_page(page: Path, recorder: Recorder, profile: Path) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and what the page asked the network for."""
    netlog = profile.with_suffix(".netlog.json")
    proc = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--proxy-server=http://127.0.0.1:{recorder.port}",
            "--proxy-bypass-list=<-loopback>",
            f"--log-net-log={netlog}",
            "--virtual-time-budget=8000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, page_requests(netlog)


@pytest.fixture(scope="module")
def broken_reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two packs of the broken demo (every gate fails) in one evidence root, oldest first, and
    the report of the second one (so it has a history of one earlier pack)."""
    from conftest import demo_build

    base = tmp_path_factory.mktemp("broken-report")
    stack = demo_build.build(base / "demo", broken=True)
    root = base / "evidence"
    for _ in range(2):
        run = run_ipai(
            "gate", "predeploy", "--config", str(stack / "ipai.toml"), "--evidence-root", str(root)
        )
        assert run.returncode == 1, run.stdout + run.stderr
    packs = sorted(
        (p for p in root.glob("*/predeploy*") if p.is_dir()), key=lambda p: load(p)["started_at"]
    )
    assert len(packs) == 2, packs  # the two runs may fall in different minute folders
    proc = run_ipai("report", str(packs[1]))
    assert proc.returncode == 0, proc.stderr
    return packs[0], packs[1], Path(proc.stdout.strip())


def test_the_first_screen_is_the_verdict_and_nothing_is_fetched(
    broken_reports: tuple[Path, Path, Path], recorder: Recorder, tmp_path: Path
) -> None:
    _earlier, pack, page = broken_reports
    dom, requested = open_page(page, recorder, tmp_path / "profile")
    manifest = load(pack, "manifest.json")
    body = dom[dom.index("<body") :]
    verdict_at = body.index('id="ipai-verdict"')
    assert verdict_at < body.index('data-testid="nav-tab-categories"')  # Allure drew, below
    assert '<span data-ipai="verdict">BLOCKED</span>' in dom
    assert '<span data-ipai="exit_code">1</span>' in dom
    assert manifest["git"]["sha"] in body[verdict_at : verdict_at + 5000]  # the full SHA
    assert re.search(r'data-ipai="signature"[^>]*>unsigned<', dom)
    for result in load(pack)["results"]:
        row = dom.split(f'<tr data-ipai-gate="{result["gate_id"]}">', 1)[1].split("</tr>", 1)[0]
        assert result["severity"] in row and result["error_class"] in row
    assert requested == []


def test_the_watch_sees_a_page_that_does_fetch(recorder: Recorder, tmp_path: Path) -> None:
    """The proof that the previous test could fail: a page with a remote image, no CSP."""
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://assets.example.invalid/x.png"></body></html>')
    _dom, requested = open_page(page, recorder, tmp_path / "profile")
    assert requested == ["http://assets.example.invalid/x.png"]
    assert recorder.connections >= 1  # and it went to the loopback proxy, nowhere else


def test_history_matches_what_allure_itself_records(
    broken_reports: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """Our history points, built from the ledger, use the ids Allure 3 writes for the same run
    (so its trend joins them): Allure is run with a history file on the earlier pack."""
    earlier, pack, _page = broken_reports
    (point,) = history_points(pack)
    work = tmp_path / "allure"
    work.mkdir()
    config = {"name": "x", "output": str(work / "out"), "historyPath": str(work / "h.jsonl")}
    (work / "allurerc.json").write_text(json.dumps(config))
    allure = shutil.which("allure") or str(HERE.parent / ".venv" / "bin" / "allure")
    subprocess.run(
        [
            allure,
            "generate",
            "--config",
            str(work / "allurerc.json"),
            str(earlier / "allure-results"),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(work), "ALLURE_NO_ANALYTICS": "1"},
    )
    recorded = json.loads((work / "h.jsonl").read_text().splitlines()[-1])
    assert sorted(point["knownTestCaseIds"]) == sorted(recorded["knownTestCaseIds"])
    assert set(point["testResults"]) == set(recorded["testResults"])
    for key, item in recorded["testResults"].items():
        ours = point["testResults"][key]
        for field in ("id", "name", "fullName", "status", "environment", "historyId"):
            assert ours[field] == item[field], field
