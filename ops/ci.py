"""CI side of the drivers: the views ``ipai gate`` writes for reviewers (annotations, job
summary, SARIF, GitLab Code Quality) and ``ipai ci status``, which posts each pack's verdict as
a commit status (``ipai/predeploy``, ``ipai/postdeploy-prod``) the way Odoo.sh does."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_ipai import __version__
from pytest_ipai.core.errors import IpaiError, ToolError

if TYPE_CHECKING:
    from pytest_ipai.evidence.ci_views import PackView

# The views and the API client are imported by the functions that use them: the CLI builds its
# parser (add_gate_options, add_status_command) for every command, and must start fast.

API_TIMEOUT = 15.0
DESCRIPTION_CHARS = 140  # GitHub refuses longer status descriptions
_SHA = re.compile(r"[0-9a-f]{40}")
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_PROJECT = re.compile(r"[0-9]+|[A-Za-z0-9_.-]+(%2F[A-Za-z0-9_.-]+)+")


def add_gate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ci",
        choices=("auto", "github", "none"),
        default="auto",
        help="print GitHub annotations and write the job summary (auto: when GITHUB_ACTIONS=true)",
    )
    parser.add_argument("--sarif", metavar="PATH", help="write a SARIF 2.1.0 file of the findings")
    parser.add_argument(
        "--codequality", metavar="PATH", help="write a GitLab Code Quality report of the findings"
    )


def check_outputs(args: argparse.Namespace) -> None:
    """Before any gate runs: the output files must be writable where they are asked for."""
    for flag, value in (("--sarif", args.sarif), ("--codequality", args.codequality)):
        if value and not Path(value).resolve().parent.is_dir():
            raise IpaiError(f"{flag} {value}: its folder does not exist")


def write_views(args: argparse.Namespace, pack: Path) -> None:
    from pytest_ipai.evidence.ci_views import (
        PackView,
        github_annotations,
        gitlab_code_quality,
        sarif,
        step_summary,
    )

    view = PackView.load(pack)
    github = args.ci == "github" or (
        args.ci == "auto" and os.environ.get("GITHUB_ACTIONS") == "true"
    )
    if github:
        for line in github_annotations(view):
            print(line)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            _write("$GITHUB_STEP_SUMMARY", Path(summary), step_summary(view), append=True)
    if args.sarif:
        _write("--sarif", Path(args.sarif), json.dumps(sarif(view, __version__), indent=2) + "\n")
        print(f"sarif: {args.sarif}")
    if args.codequality:
        report = json.dumps(gitlab_code_quality(view), indent=2) + "\n"
        _write("--codequality", Path(args.codequality), report)
        print(f"codequality: {args.codequality}")


def _write(flag: str, path: Path, text: str, append: bool = False) -> None:
    """A view that cannot be written is a tool error (exit 2): the pack holds the verdict."""
    from pytest_ipai.core.fsio import write_bytes_atomic

    try:
        if append:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(text)
        else:
            write_bytes_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise ToolError(f"{flag} {path}: cannot write: {exc.strerror}") from None


def add_status_command(commands: Any) -> None:
    p_ci = commands.add_parser("ci", help="CI integration")
    ci = p_ci.add_subparsers(dest="ci_command", required=True, parser_class=type(p_ci))
    p_status = ci.add_parser(
        "status", help="post each pack's verdict as a commit status (GitHub or GitLab)"
    )
    p_status.add_argument("packs", nargs="+", metavar="PACK")
    p_status.add_argument("--provider", choices=("github", "gitlab"), help="default: from the CI")
    p_status.add_argument("--sha", help="commit to mark (default: the pack's commit)")
    p_status.add_argument("--repo", help="GitHub OWNER/NAME (default: $GITHUB_REPOSITORY)")
    p_status.add_argument("--project", help="GitLab project id (default: $CI_PROJECT_ID)")
    p_status.add_argument("--api-url", help="API root (default: from the CI's variables)")
    p_status.add_argument("--target-url", help="link shown with the status (default: the CI job)")
    p_status.add_argument(
        "--token-env", help="variable holding the token (default: GITHUB_TOKEN / GITLAB_TOKEN)"
    )


def _provider(args: argparse.Namespace) -> str:
    if args.provider:
        return str(args.provider)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    if os.environ.get("GITLAB_CI") == "true":
        return "gitlab"
    raise IpaiError("--provider: not in GitHub Actions or GitLab CI; say github or gitlab")


def _need(value: str | None, what: str, pattern: re.Pattern[str]) -> str:
    if not value:
        raise IpaiError(f"{what}: not given and not in the CI's variables")
    if not pattern.fullmatch(value):
        raise IpaiError(f"{what}: {value!r} is not valid")
    return value


def cmd_status(args: argparse.Namespace) -> int:
    from pytest_ipai.core.redact import Redactor
    from pytest_ipai.evidence.ci_views import PackView

    provider = _provider(args)
    env = os.environ
    token_env = args.token_env or ("GITHUB_TOKEN" if provider == "github" else "GITLAB_TOKEN")
    token = env.get(token_env, "")
    if not token:
        raise IpaiError(f"--token-env: ${token_env} is empty or unset")
    views = []
    for name in args.packs:
        try:
            views.append(PackView.load(Path(name)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IpaiError(
                f"{name}: not a readable evidence pack ({type(exc).__name__})"
            ) from None
    import requests  # only this command talks to an API

    redactor = Redactor([token])
    session = requests.Session()
    for view in views:
        sha = _need(
            args.sha or view.commit or env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA"),
            "--sha",
            _SHA,
        )
        context = f"ipai/{view.scope}"
        description = _description(view)
        if provider == "github":
            repo = _need(args.repo or env.get("GITHUB_REPOSITORY"), "--repo", _REPO)
            api = (args.api_url or env.get("GITHUB_API_URL") or "https://api.github.com").rstrip(
                "/"
            )
            url = f"{api}/repos/{repo}/statuses/{sha}"
            headers = {
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": "2022-11-28",
            }
            body: dict[str, str] = {"state": "success" if view.exit_code == 0 else "failure",
                                    "context": context, "description": description}  # fmt: skip
            target = args.target_url or _github_run_url(env)
        else:
            project = _need(args.project or env.get("CI_PROJECT_ID"), "--project", _PROJECT)
            api = (args.api_url or env.get("CI_API_V4_URL") or "").rstrip("/")
            if not api:
                raise IpaiError("--api-url: not given and $CI_API_V4_URL is unset")
            url = f"{api}/projects/{project}/statuses/{sha}"
            headers = {"PRIVATE-TOKEN": token}
            body = {"state": "success" if view.exit_code == 0 else "failed",
                    "name": context, "description": description}  # fmt: skip
            target = args.target_url or env.get("CI_JOB_URL", "")
        if target:
            body["target_url"] = target
        try:
            answer = session.post(url, json=body, headers=headers, timeout=API_TIMEOUT)
        except requests.RequestException as exc:
            raise ToolError(redactor.text(f"{provider}: {url}: {type(exc).__name__}")) from None
        if answer.status_code not in (200, 201):
            detail = redactor.text(answer.text[:200].replace("\n", " "))
            raise ToolError(
                f"{provider}: {context}: the API answered {answer.status_code}: {detail}"
            )
        print(f"{context}: {body['state']} posted for {sha[:12]}")
    return 0


def _description(view: PackView) -> str:
    failing = view.not_ok()
    if view.exit_code == 0:
        text = f"{len(view.results)} gates passed"
    else:
        names = ", ".join(r["gate_id"] for r in failing[:3]) + (" ..." if len(failing) > 3 else "")
        text = f"{len(failing)} of {len(view.results)} gates not passed: {names}"
    return text[:DESCRIPTION_CHARS]


def _github_run_url(env: os._Environ[str]) -> str:
    server, repo, run = (
        env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else ""
