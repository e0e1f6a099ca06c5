"""The ``ipai deploy``, ``ipai deploy-until-green`` and ``ipai rollback`` commands: their
options and what they print (the drivers are ops/deploy.py and ops/until_green.py, imported when
a command runs)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_ipai.core.errors import IpaiError

if TYPE_CHECKING:  # the parser is built for every command: it imports what each one needs
    from pytest_ipai.config.stack import StackConfig

LoadConfig = Callable[[argparse.Namespace], "StackConfig"]


def add_commands(commands: Any, add_config_options: Callable[[Any], None]) -> None:
    p_deploy = commands.add_parser(
        "deploy", help="deploy a commit, verify it, promote or roll back"
    )
    p_green = commands.add_parser(
        "deploy-until-green", help="deploy, retrying only retryable classes (bounded)"
    )
    for sub in (p_deploy, p_green):
        sub.add_argument("--ref", required=True, metavar="SHA", help="the full 40-hex commit")
        sub.add_argument(
            "--take-over-maintenance",
            action="store_true",
            help="take over a maintenance flag another run left on (the pack says so)",
        )
    p_green.add_argument("--attempts", type=int, default=5, help="at most this many runs (5)")
    p_green.add_argument("--backoff", type=float, default=5.0, help="first wait, seconds (5)")
    p_green.add_argument("--max-backoff", type=float, default=120.0, help="longest wait (120)")
    p_rollback = commands.add_parser("rollback", help="back to the last known good deploy")
    p_rollback.add_argument("--to", metavar="SHA", help="another known commit instead")
    for sub in (p_deploy, p_green, p_rollback):
        add_config_options(sub)


def print_result(result: dict[str, Any]) -> None:
    for step in result["steps"]:
        mark = step["error_class"] or step["status"]
        print(f"{step['name']:<18} {mark:<26} {step['duration']:8.2f}s  {step['detail'][:100]}")
    verdict = f" ({result['verdict']}, {result['rule']})" if result.get("verdict") else ""
    print(f"{result['command']} {result['run_id']}: {result['overall']}{verdict}")
    if result["error_class"]:
        print(f"error class: {result['error_class']}: {result.get('message', '')}")
    budget = "within" if result["within_budget"] else "OVER"
    minutes = result["budget_seconds"] / 60
    print(f"duration: {result['duration']:.1f}s, {budget} the {minutes:g} min budget")
    for name, path in result["evidence"].items():
        print(f"{name}: {path}")
    mine = f"{result['command']}-"
    own = [path for name, path in result["evidence"].items() if name.startswith(mine)]
    if own:  # the run's own pack, in the line every driver ends with (hostd reads it)
        print(f"pack: {own[-1]}")


def cmd_deploy(args: argparse.Namespace, load_config: LoadConfig) -> int:
    from . import deploy

    result, code = deploy.deploy(load_config(args), args.ref, args.take_over_maintenance)
    print_result(result)
    return code


def cmd_rollback(args: argparse.Namespace, load_config: LoadConfig) -> int:
    from . import deploy

    result, code = deploy.rollback(load_config(args), args.to)
    print_result(result)
    return code


def cmd_until_green(args: argparse.Namespace, load_config: LoadConfig) -> int:
    from . import until_green

    if args.attempts < 1 or args.backoff < 0 or args.max_backoff < 0:
        raise IpaiError("--attempts must be at least 1; --backoff and --max-backoff not negative")
    triage, code = until_green.until_green(
        load_config(args),
        args.ref,
        attempts=args.attempts,
        backoff=args.backoff,
        max_backoff=args.max_backoff,
        take_over_maintenance=args.take_over_maintenance,
    )
    print(json.dumps(triage, indent=1))
    return code
