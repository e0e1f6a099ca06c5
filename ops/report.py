"""``ipai report PACK``: an offline, single-file Allure HTML report next to the pack, whose
first screen is the verdict (report_page), with the error classes as categories, the redacted
config and policy as attachments and the environment's earlier packs as history."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from pytest_ipai.core.errors import InputError, ToolError
from pytest_ipai.core.fsio import write_bytes_atomic
from pytest_ipai.core.proc import run
from pytest_ipai.evidence.allure import categories
from pytest_ipai.evidence.offline_html import external_references, make_offline
from pytest_ipai.evidence.report_page import banner, history_points, with_banner

ALLURE_TIMEOUT = 600.0
SNAPSHOTS = ("config.json", "policy.json")  # the run's redacted config and policy, attached


def find_allure(explicit: str | None) -> str:
    """--allure, then $IPAI_ALLURE, then allure on PATH, then beside this Python (a venv)."""
    for given, source in ((explicit, "--allure"), (os.environ.get("IPAI_ALLURE"), "IPAI_ALLURE")):
        if given:
            found = shutil.which(given)
            if found is None:
                raise ToolError(f"{source} {given}: command not found")
            return found
    candidate = shutil.which("allure") or shutil.which(
        "allure", path=os.path.dirname(sys.executable)
    )
    if not candidate:
        raise ToolError(
            "allure: command not found (install the npm package 'allure' or pass --allure)"
        )
    return candidate


def report_path(pack: Path) -> Path:
    return pack.parent / f"{pack.name}.report.html"


def build_report(
    pack: Path, allure: str, output: Path | None = None, signature: str = "not checked"
) -> Path:
    # Allure runs in a temporary folder: paths given relative to the caller must not reach it.
    pack = pack.resolve()
    output = output.resolve() if output is not None else None
    results = pack / "allure-results"
    if not results.is_dir():
        raise InputError(f"{pack}: no allure-results/ folder")
    manifest = json.loads((pack / "manifest.json").read_text("utf-8"))
    results_doc = json.loads((pack / "results.json").read_text("utf-8"))
    target = output or report_path(pack)
    with tempfile.TemporaryDirectory(prefix="ipai-report-") as tmp:
        work = Path(tmp)
        history = work / "history.jsonl"
        points = history_points(pack)
        history.write_text("".join(json.dumps(p) + "\n" for p in points))
        config = {
            "name": f"pytest-ipai {manifest['scope']} {manifest['run_id']}",
            "output": str(work / "out"),
            "historyPath": str(history),
            "categories": categories(results_doc["results"]),
            "globalAttachments": [
                str(pack / name) for name in SNAPSHOTS if (pack / name).is_file()
            ],
            "plugins": {
                "awesome": {
                    "options": {
                        "singleFile": True,
                        "reportLanguage": "en",
                        "reportName": f"pytest-ipai {manifest['scope']} ({manifest['env']})",
                    }
                }
            },
        }
        (work / "allurerc.json").write_text(json.dumps(config))
        env = dict(os.environ, ALLURE_NO_ANALYTICS="1", NO_COLOR="1", HOME=str(work))
        argv = [allure, "generate", "--config", str(work / "allurerc.json"), str(results)]
        proc = run(argv, timeout=ALLURE_TIMEOUT, cwd=work, env=env)
        html_file = work / "out" / "index.html"
        if proc.returncode != 0 or not html_file.is_file():
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ToolError(f"allure generate failed (exit {proc.returncode}): {last[0]}")
        html = with_banner(make_offline(html_file.read_text("utf-8")), banner(pack, signature))
    leftover = external_references(html)
    if leftover:
        raise ToolError(
            f"report would contact other hosts ({', '.join(leftover[:3])}); not written"
        )
    write_bytes_atomic(target, html.encode("utf-8"))
    return target
