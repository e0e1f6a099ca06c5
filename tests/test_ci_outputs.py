"""What ipai gate leaves where reviewers look (GitHub annotations and job summary, SARIF checked
against the SARIF 2.1.0 schema, GitLab Code Quality), and ipai ci status against a loopback
server that holds each request to the documented API shape."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
from conftest import ROOT, only_pack, run_ipai
from gitrepo import commit_all
from loopback import free_port

SARIF_SCHEMA = ROOT / "node_modules" / "@microsoft" / "jest-sarif" / "lib" / "schemas"
SECRET_TOKEN = "ghs_" + "T0kenValue" * 4
FAULTY_MAKEFILE = "check:\n\t-pytest -m predeploy\n" + "".join(
    f"\tgit pull origin b{n} || true\n" for n in range(12)
)


@pytest.fixture
def faulty_run(demo_stack: Path, tmp_path: Path) -> dict[str, Any]:
    (demo_stack / "Makefile").write_text(FAULTY_MAKEFILE)
    commit_all(demo_stack, "ci")
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    proc = run_ipai(
        "gate", "predeploy", "--config", str(demo_stack / "ipai.toml"),
        "--sarif", str(tmp_path / "ipai.sarif"), "--codequality", str(tmp_path / "gl-cq.json"),
        env=env,
    )  # fmt: skip
    return {"proc": proc, "tmp": tmp_path, "summary": summary, "stack": demo_stack}


def test_github_annotations_and_summary(faulty_run: dict[str, Any]) -> None:
    proc = faulty_run["proc"]
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 10  # GitHub shows no more than 10 per level and step
    assert errors[0] == (
        "::error file=Makefile,line=2,title=pipeline.no_bypass%3A gate_bypass::a `-` before the "
        "recipe line on a step that runs a gate command: its failure never fails the pipeline"
    )
    assert "::notice title=ipai::3 more finding(s) are in the evidence pack" in proc.stdout
    summary = faulty_run["summary"].read_text()
    assert summary.startswith("## ❌ ipai predeploy: FAILED (exit code 1)\n")
    assert "| `pipeline.no_bypass` | normal | fail | gate_bypass | Makefile:2: a `-`" in summary
    assert "http" not in summary  # link-free


def test_sarif_is_valid_and_locates_each_finding(faulty_run: dict[str, Any]) -> None:
    document = json.loads((faulty_run["tmp"] / "ipai.sarif").read_text())
    schema = json.loads((SARIF_SCHEMA / "sarif-2.1.0-rtm.5.json").read_text())
    jsonschema.Draft4Validator(schema).validate(document)
    (run,) = document["runs"]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rules == ["pipeline.no_bypass/gate_bypass", "pipeline.no_bypass/failure_swallowed"]
    located = [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for r in run["results"]
    ]
    assert located[0] == ("pipeline.no_bypass/gate_bypass", 2)
    assert len(located) == 13 and {line for _, line in located[1:]} == set(range(3, 15))
    assert json.loads((faulty_run["tmp"] / "gl-cq.json").read_text())[0] == {
        "description": "pipeline.no_bypass: a `-` before the recipe line on a step that runs a "
        "gate command: its failure never fails the pipeline",
        "check_name": "pipeline.no_bypass/gate_bypass",
        "fingerprint": run["results"][0]["partialFingerprints"]["ipaiFinding/v1"],
        "severity": "major",
        "location": {"path": "Makefile", "lines": {"begin": 2}},
    }


def test_a_gate_without_location_points_at_the_config(demo_stack: Path, tmp_path: Path) -> None:
    (demo_stack / "odoo.conf").write_text("[options]\nadmin_passwd = admin\nlist_db = True\n")
    commit_all(demo_stack, "ci")
    out = tmp_path / "ipai.sarif"
    proc = run_ipai(
        "gate",
        "predeploy",
        "--config",
        str(demo_stack / "ipai.toml"),
        "--ci",
        "none",
        "--sarif",
        str(out),
    )
    assert proc.returncode == 1 and "::error" not in proc.stdout
    results = json.loads(out.read_text())["runs"][0]["results"]
    conf = [r for r in results if r["ruleId"].startswith("odoo_conf.safe/")]
    assert (
        conf
        and conf[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "ipai.toml"
    )


def test_an_output_folder_that_does_not_exist_is_refused_first(demo_stack: Path) -> None:
    proc = run_ipai(
        "gate",
        "predeploy",
        "--config",
        str(demo_stack / "ipai.toml"),
        "--sarif",
        "/nonexistent/x.sarif",
    )
    assert proc.returncode == 2
    assert proc.stderr == "ipai: error: --sarif /nonexistent/x.sarif: its folder does not exist\n"
    assert not (demo_stack / "evidence").exists()


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []
    answer = 201

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        type(self).seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(type(self).answer)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        message = {"message": "Bad credentials"} if type(self).answer == 401 else {"id": 1}
        self.wfile.write(json.dumps(message).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"seen": [], "answer": 201})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def two_packs(demo_pack: Path, demo_stack: Path) -> list[Path]:
    (demo_stack / "Makefile").write_text(FAULTY_MAKEFILE)
    commit_all(demo_stack, "ci")
    run_ipai("gate", "predeploy", "--config", str(demo_stack / "ipai.toml"), "--ci", "none")
    return [demo_pack, only_pack(demo_stack / "evidence")]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI_"))}
    return {**env, **extra}


def test_github_statuses(api: tuple[str, type[_Recorder]], two_packs: list[Path]) -> None:
    url, handler = api
    env = _clean_env(GITHUB_ACTIONS="true", GITHUB_TOKEN=SECRET_TOKEN, GITHUB_API_URL=url,
                     GITHUB_REPOSITORY="acme/stack", GITHUB_SERVER_URL="https://github.invalid",
                     GITHUB_RUN_ID="42")  # fmt: skip
    proc = run_ipai("ci", "status", *map(str, two_packs), env=env)
    assert proc.returncode == 0, proc.stderr
    assert SECRET_TOKEN not in proc.stdout + proc.stderr
    first, second = handler.seen
    sha = json.loads((two_packs[0] / "manifest.json").read_text())["git"]["sha"]
    assert first["path"] == f"/repos/acme/stack/statuses/{sha}"
    assert first["headers"]["Authorization"] == f"Bearer {SECRET_TOKEN}"
    assert first["headers"]["Accept"] == "application/vnd.github+json"
    assert first["headers"]["X-GitHub-Api-Version"] == "2022-11-28"
    assert first["body"] == {
        "state": "success",
        "context": "ipai/predeploy",
        "description": "12 gates passed",
        "target_url": "https://github.invalid/acme/stack/actions/runs/42",
    }
    assert second["body"]["state"] == "failure"
    assert second["body"]["description"] == "1 of 12 gates not passed: pipeline.no_bypass"
    assert len(second["body"]["description"]) <= 140
    assert proc.stdout.splitlines()[0] == f"ipai/predeploy: success posted for {sha[:12]}"


def test_gitlab_statuses(api: tuple[str, type[_Recorder]], two_packs: list[Path]) -> None:
    url, handler = api
    env = _clean_env(GITLAB_CI="true", GITLAB_TOKEN=SECRET_TOKEN, CI_API_V4_URL=f"{url}/api/v4",
                     CI_PROJECT_ID="77", CI_JOB_URL="https://gitlab.invalid/acme/stack/-/jobs/9")  # fmt: skip
    proc = run_ipai("ci", "status", str(two_packs[1]), env=env)
    assert proc.returncode == 0, proc.stderr
    (request,) = handler.seen
    assert request["path"].startswith("/api/v4/projects/77/statuses/")
    assert request["headers"]["PRIVATE-TOKEN"] == SECRET_TOKEN
    assert request["body"] == {
        "state": "failed",
        "name": "ipai/predeploy",
        "description": "1 of 12 gates not passed: pipeline.no_bypass",
        "target_url": "https://gitlab.invalid/acme/stack/-/jobs/9",
    }


def test_a_refused_status_is_one_line_without_the_token(
    api: tuple[str, type[_Recorder]], two_packs: list[Path]
) -> None:
    url, handler = api
    handler.answer = 401
    env = _clean_env(GITHUB_TOKEN=SECRET_TOKEN, GITHUB_API_URL=url, GITHUB_REPOSITORY="acme/stack")
    proc = run_ipai("ci", "status", "--provider", "github", str(two_packs[0]), env=env)
    assert proc.returncode == 2
    assert proc.stderr == (
        'ipai: error: github: ipai/predeploy: the API answered 401: {"message": "Bad credentials"}\n'
    )
    assert SECRET_TOKEN not in proc.stdout + proc.stderr
    bad = run_ipai(
        "ci", "status", "--provider", "github", "--repo", "acme", str(two_packs[0]), env=env
    )
    assert (bad.returncode, bad.stderr) == (2, "ipai: error: --repo: 'acme' is not valid\n")
    unset = run_ipai("ci", "status", "--provider", "gitlab", str(two_packs[0]), env=_clean_env())
    assert unset.stderr == "ipai: error: --token-env: $GITLAB_TOKEN is empty or unset\n"


def test_a_view_that_cannot_be_written_is_a_tool_error(demo_stack: Path, tmp_path: Path) -> None:
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path)}
    proc = run_ipai("gate", "predeploy", "--config", str(demo_stack / "ipai.toml"), env=env)
    assert proc.returncode == 2
    assert proc.stderr.endswith(
        f"ipai: error: $GITHUB_STEP_SUMMARY {tmp_path}: cannot write: Is a directory\n"
    )
    assert "pack: " in proc.stdout  # the verdict is in the pack all the same
