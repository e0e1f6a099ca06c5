"""``ipai secrets``: the committed-secrets scan of the stack repository on the command line,
and the baseline that records accepted findings with a reason."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_ipai.core.errors import EXIT_GATE_FAILED, EXIT_OK, IpaiError

if TYPE_CHECKING:  # the parser is built for every command: it imports what each one needs
    from pytest_ipai.config.stack import StackConfig

GATE = "secrets.none_committed"


def add_command(commands: Any, add_config_options: Any) -> None:
    p_sec = commands.add_parser("secrets", help="committed secrets in the stack repository")
    sec = p_sec.add_subparsers(dest="secrets_command", required=True, parser_class=type(p_sec))
    p_scan = sec.add_parser("scan", help="list the findings the gate would fail on")
    add_config_options(p_scan)
    p_base = sec.add_parser("baseline", help="accept today's findings, each with a reason")
    add_config_options(p_base)
    p_base.add_argument("--reason", required=True, help="why they are accepted (recorded)")


def cmd_secrets(
    args: argparse.Namespace, load_config: Callable[[argparse.Namespace], StackConfig]
) -> int:
    # Here, not at the top: detect-secrets is only loaded by the command that scans.
    from pytest_ipai.config.policy import load_policy
    from pytest_ipai.core.gitstate import toplevel
    from pytest_ipai.rules.secret_baseline import write_baseline
    from pytest_ipai.rules.secret_scan import grouped, scan_with_params

    config = load_config(args)
    repo = toplevel(config.repo_root)
    if repo is None:
        raise IpaiError(f"{config.repo_root}: the stack is not a git work tree")
    gate = load_policy(config.env.policy_file).gates.get(GATE)
    params = gate.params if gate is not None else {}
    # A baseline records what the tree holds now: the history is only scanned to report.
    scanning = args.secrets_command == "scan"
    scan, baseline = scan_with_params(repo, params, config.secret_values(), history=scanning)
    if not scanning:
        if not args.reason.strip():
            raise IpaiError("--reason: say why these findings are accepted")
        rows = [(f.file, f.line, f.kind, f.hashed) for f in scan.findings]
        added = write_baseline(repo, baseline, rows, args.reason.strip())
        print(f"{repo / baseline.name}: {added} finding(s) accepted with the reason given")
        return EXIT_OK
    for text in grouped(scan.findings):
        print(text)
    quiet = ", ".join(f"{n} {why}" for why, n in scan.suppressed_counts().items())
    skipped = ", ".join(f"{n} {why}" for why, n in scan.skipped.items())
    summary = f"{scan.files_scanned} of {scan.files_tracked} tracked files scanned"
    summary += f" (skipped: {skipped})" if skipped else ""
    summary += f"; {len(scan.findings)} finding(s)"
    print(summary + (f"; suppressed: {quiet}" if quiet else ""))
    return EXIT_GATE_FAILED if scan.findings else EXIT_OK
