"""The ``ipai`` command. Exit codes: 0 all required gates pass, 1 a gate failed (or a pack is
invalid), 2 usage, configuration or tool error, always with one line on stderr.

Each command's module is imported when that command runs, so ``ipai --help`` and ``ipai gate``
never load what only other commands need (psycopg, docker, fastapi)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_ipai import __version__
from pytest_ipai.core.errors import EXIT_GATE_FAILED, EXIT_OK, EXIT_USAGE, IpaiError

from . import ci, deploy_cli, evidence_cmd, secrets
from .console import guard_stdout

if TYPE_CHECKING:
    from pytest_ipai.config.stack import StackConfig

# Each command imports what it needs when it runs: the parser alone must start fast
# (``ipai --help`` loads argparse and these few modules, nothing of the library's weight).


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"ipai: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _config(args: argparse.Namespace) -> StackConfig:
    from pytest_ipai.config.stack import find_config, load_config

    path = Path(args.config) if args.config else find_config(Path.cwd())
    if path is None:
        raise IpaiError("no stack config: pass --config PATH or run where ipai.toml is")
    return load_config(path, args.env)


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="ipai.toml or pyproject.toml")
    parser.add_argument("--env", metavar="ENV", help="environment of the config")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ipai", description="Deploy gates and evidence for Odoo CE + OCA stacks.")
    parser.add_argument("--version", action="version", version=f"ipai {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p_gate = commands.add_parser(
        "gate",
        help="run a suite and write its evidence pack",
        usage="ipai gate SUITE [options] [-- PYTEST_ARGS]",
    )
    p_gate.add_argument("suite", help="predeploy, postdeploy, or a suite of your policy")
    _add_config_options(p_gate)
    p_gate.add_argument(
        "--evidence-root", metavar="DIR", help="override the config's evidence_root"
    )
    p_gate.add_argument(
        "-n",
        "--workers",
        type=int,
        default=None,
        help="xdist workers, 0 for none (default: 0 for predeploy, else up to 2 by CPUs)",
    )
    p_gate.add_argument(
        "--hosts",
        metavar="SPEC",
        help="the host for host checks: local://, ssh://user@host, docker://NAME, podman://NAME",
    )
    p_gate.add_argument("--verify", action="store_true", help="verify the pack after writing it")
    p_gate.add_argument("--report", action="store_true", help="build the HTML report as well")
    p_gate.add_argument(
        "--allure", metavar="PATH", help="Allure CLI (default: $IPAI_ALLURE or PATH)"
    )
    ci.add_gate_options(p_gate)
    p_gate.set_defaults(pytest_args=[])
    ci.add_status_command(commands)
    secrets.add_command(commands, _add_config_options)

    evidence_cmd.add_command(commands, _add_config_options)

    p_logs = commands.add_parser("logs", help="the Odoo log of an environment")
    lg = p_logs.add_subparsers(dest="logs_command", required=True, parser_class=_Parser)
    p_tail = lg.add_parser("tail", help="its last lines, redacted")
    _add_config_options(p_tail)
    p_tail.add_argument("--lines", type=int, default=200, help="1 to 1000 (200)")

    p_hostd = commands.add_parser("hostd", help="the host executor (loopback HTTP API)")
    hd = p_hostd.add_subparsers(dest="hostd_command", required=True, parser_class=_Parser)
    p_serve = hd.add_parser("serve", help="serve the API on a loopback address")
    _add_config_options(p_serve)
    p_serve.add_argument("--listen", metavar="ADDR:PORT", help="default: hostd.listen")
    p_openapi = hd.add_parser("openapi", help="print the API's OpenAPI document")
    _add_config_options(p_openapi)
    p_doctor = commands.add_parser("doctor", help="ask hostd for a post-deploy check")
    _add_config_options(p_doctor)
    p_doctor.add_argument("--join", action="store_true", help="join a doctor already running")
    p_doctor.add_argument("--wait", type=float, default=90.0, help="longest wait, seconds (90)")

    p_init = commands.add_parser(
        "init", help="read a stack repository and propose its ipai.toml (writes with --yes)"
    )
    p_init.add_argument("path", nargs="?", default=".", help="the stack repository (default: .)")
    p_init.add_argument("--env", metavar="ENV", help="keep only this environment")
    p_init.add_argument("--yes", action="store_true", help="write ipai.toml and add to .gitignore")
    p_init.add_argument("--force", action="store_true", help="replace an existing ipai.toml")

    p_repos = commands.add_parser("repos", help="clone, pin and inspect the addons repositories")
    rp = p_repos.add_subparsers(dest="repos_command", required=True, parser_class=_Parser)
    for name, text in (
        ("sync", "clone missing repositories (never touches existing ones)"),
        ("lock", "pin every repository to its full HEAD SHA in the lock file"),
        ("status", "path, ref, commit, dirty flag and drift from the lock"),
    ):
        _add_config_options(rp.add_parser(name, help=text))
    rp.choices["lock"].add_argument(
        "--import",
        dest="import_from",
        metavar="FILE",
        help="write the lock file once from another tool's lock (its pinned commits)",
    )

    p_backup = commands.add_parser("backup", help="database and filestore backups, verified")
    bk = p_backup.add_subparsers(dest="backup_command", required=True, parser_class=_Parser)
    b_create = bk.add_parser("create", help="pg_dump + filestore archive + manifest")
    b_create.add_argument("--deploy-sha", help="the deploy this backup precedes (for retention)")
    b_verify = bk.add_parser("verify", help="restore into a scratch database and compare")
    b_verify.add_argument("backup_id")
    bk.add_parser("list", help="backups with age, size and verification")
    b_prune = bk.add_parser("prune", help="apply the retention policy")
    b_prune.add_argument("--dry-run", action="store_true", help="show what would go")
    for name, default in (("daily", 7), ("weekly", 4), ("monthly", 3)):
        b_prune.add_argument(f"--{name}", type=int, default=default, metavar="N")
    b_restore = bk.add_parser("restore", help="restore database and filestore together")
    b_restore.add_argument("backup_id")
    b_restore.add_argument("--target-db", metavar="NAME")
    b_restore.add_argument(
        "--force", action="store_true", help="replace an existing database (backed up first)"
    )
    b_restore.add_argument(
        "--neutralize", action="store_true", help="crons and mail servers off (staging)"
    )
    for sub in (b_create, b_verify, b_prune, b_restore, *[bk.choices["list"]]):
        _add_config_options(sub)

    deploy_cli.add_commands(commands, _add_config_options)

    p_report = commands.add_parser("report", help="offline single-file Allure HTML report")
    p_report.add_argument("pack")
    p_report.add_argument("--allure", metavar="PATH")
    p_report.add_argument("--output", metavar="FILE", help="default: PACK.report.html beside it")
    p_report.add_argument(
        "--key", action="append", default=[], metavar="PUB", help="a trusted public key"
    )
    _add_config_options(p_report)
    return parser


def cmd_gate(args: argparse.Namespace) -> int:
    from pytest_ipai.config.policy import load_policy
    from pytest_ipai.evidence.attest import trusted_keys
    from pytest_ipai.evidence.verify import verify
    from pytest_ipai.probes.hosts import target_spec

    from . import gate, report, tools

    workers = gate.default_workers(args.suite) if args.workers is None else args.workers
    gate.check_workers(workers)
    config = _config(args)
    policy = load_policy(config.env.policy_file)
    if args.suite not in policy.suites():
        raise IpaiError(f"suite {args.suite}: not in the policy ({', '.join(policy.suites())})")
    root = Path(args.evidence_root).resolve() if args.evidence_root else config.env.evidence_root
    extra = [*(["--hosts", args.hosts] if args.hosts else []), *args.pytest_args]

    # Usage first (the host spec), then what the flags and the suite need, all before any gate
    # runs: a wrong option or a missing tool is a usage error now, not after the whole suite.
    target_spec(args.hosts, config.env.raw.get("hosts"), f"environments.{config.env.name}")
    allure = report.find_allure(args.allure) if args.report else None
    tools.check_engine(config, policy.expected(args.suite))
    ci.check_outputs(args)
    pack, code = gate.run_suite(
        args.suite, config, workers=workers, evidence_root=root, extra=extra
    )
    if pack is None:
        return code
    print(gate.table(pack, config.secret_values()))
    print(f"pack: {pack}")
    ci.write_views(args, pack)
    signature = "not checked"
    if args.verify:
        checked = verify(pack, config.secret_values(), trusted_keys([], config))
        for problem in checked.problems:
            print(f"verify: {problem}", file=sys.stderr)
        if checked.problems:
            return EXIT_USAGE  # our own pack is invalid: a tool error, not a gate verdict
        print("verify: ok")
        signature = checked.signature
    if allure is not None:
        print(f"report: {report.build_report(pack, allure, signature=signature)}")
    return code


def cmd_logs(args: argparse.Namespace) -> int:
    from .logs_tail import tail

    print(tail(_config(args), args.lines))
    return EXIT_OK


def cmd_hostd(args: argparse.Namespace) -> int:
    from .hostd import openapi_document, serve

    if args.hostd_command == "openapi":
        print(openapi_document())
        return EXIT_OK
    return serve(_config(args), args.listen)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor(_config(args), join=args.join, wait=args.wait)


def cmd_init(args: argparse.Namespace) -> int:
    from .init import cmd_init as run_init

    return run_init(args)


def cmd_repos(args: argparse.Namespace) -> int:
    from pytest_ipai.addons.addons_manifest import load_stack_manifest

    from . import repos

    config = _config(args)
    manifest = load_stack_manifest(config)
    series = config.series or manifest.series
    if args.repos_command == "sync":
        return repos.sync(config, manifest, series)
    if args.repos_command == "lock" and args.import_from:
        return repos.import_lock(config, Path(args.import_from))
    if args.repos_command == "lock":
        return repos.lock(config, manifest, series)
    return repos.status(config, manifest)


def cmd_backup(args: argparse.Namespace) -> int:
    from pytest_ipai.backup.retention import Policy

    from . import backup

    config = _config(args)
    command = args.backup_command
    if command == "create":
        return backup.create(config, args.deploy_sha)
    if command == "verify":
        return backup.verify(config, args.backup_id)
    if command == "list":
        return backup.listing(config)
    if command == "prune":
        if min(args.daily, args.weekly, args.monthly) < 0:
            raise IpaiError("--daily, --weekly, --monthly: must not be negative")
        policy = Policy(args.daily, args.weekly, args.monthly)
        return backup.prune(config, policy, args.dry_run)
    return backup.restore(config, args.backup_id, args.target_db, args.force, args.neutralize)


def cmd_report(args: argparse.Namespace) -> int:
    from pytest_ipai.evidence.attest import trusted_keys
    from pytest_ipai.evidence.verify import verify

    from . import report

    pack = Path(args.pack)
    config = _config(args) if args.config else None
    checked = verify(
        pack,
        config.secret_values() if config else [],
        trusted_keys([Path(k) for k in args.key], config),
    )
    if checked.problems:
        for problem in checked.problems:
            print(f"{pack}: {problem}", file=sys.stderr)
        print(
            f"{pack}: INVALID; no report is built from a pack that does not verify", file=sys.stderr
        )
        return EXIT_GATE_FAILED
    output = Path(args.output) if args.output else None
    print(report.build_report(pack, report.find_allure(args.allure), output, checked.signature))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    guard_stdout()
    words = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" goes to pytest untouched (ipai gate predeploy -- -k repos).
    extra = words[words.index("--") + 1 :] if "--" in words else []
    words = words[: words.index("--")] if "--" in words else words
    args = build_parser().parse_args(words)
    if extra and args.command != "gate":
        sys.stderr.write("ipai: error: only 'ipai gate' passes arguments after -- to pytest\n")
        return EXIT_USAGE
    args.pytest_args = extra
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "gate": cmd_gate,
        "report": cmd_report,
        "evidence": lambda a: evidence_cmd.cmd_evidence(a, _config),
        "repos": cmd_repos,
        "init": cmd_init,
        "backup": cmd_backup,
        "deploy": lambda a: deploy_cli.cmd_deploy(a, _config),
        "deploy-until-green": lambda a: deploy_cli.cmd_until_green(a, _config),
        "rollback": lambda a: deploy_cli.cmd_rollback(a, _config),
        "logs": cmd_logs,
        "hostd": cmd_hostd,
        "doctor": cmd_doctor,
        "ci": ci.cmd_status,
        "secrets": lambda a: secrets.cmd_secrets(a, _config),
    }
    try:
        return handlers[args.command](args)
    except IpaiError as exc:
        sys.stderr.write(f"ipai: error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("ipai: interrupted\n")
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
