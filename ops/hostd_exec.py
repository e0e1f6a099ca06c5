"""The wrapper of one hostd run: runs the action's argv (no shell, with a timeout), then writes
the run's result file (status, exit code, summary, evidence, redacted output tail) atomically.

    python -m ipai_ops.hostd_exec RESULT_FILE --timeout S [--judge GATE_ID] -- ARGV...

``--judge GATE_ID``: the run passed when that gate passed in the pack (the port audit runs one
gate of the post-deploy suite; the others are ``not_run`` by design).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.fsio import write_json_atomic
from pytest_ipai.core.proc import run
from pytest_ipai.core.redact import Redactor
from pytest_ipai.core.timeutil import iso, utc_now

PACK_LINE = re.compile(r"^pack: (.+)$", re.M)
OUTPUT_TAIL = 8000


def judge(argv: list[str], code: int, stdout: str, gate: str | None) -> dict[str, Any]:
    found = PACK_LINE.findall(stdout)
    pack = Path(found[-1].strip()) if found else None
    summary = f"exit {code}"
    status = "passed" if code == 0 else ("failed" if code == 1 else "error")
    if pack is not None and (pack / "results.json").is_file():
        document = json.loads((pack / "results.json").read_text("utf-8"))
        counts = ", ".join(f"{n} {s}" for s, n in document["summary"].items() if n)
        summary = f"exit {code}: {counts}"
        if (pack / "deploy_result.json").is_file():  # a deploy or rollback: its outcome first
            deploy = json.loads((pack / "deploy_result.json").read_text("utf-8"))
            verdict = f" ({deploy['verdict']}, {deploy['rule']})" if deploy.get("verdict") else ""
            failure = f", {deploy['error_class']}" if deploy.get("error_class") else ""
            summary = f"exit {code}: {deploy['overall']}{verdict}{failure}"
        if gate is not None:
            result = next((r for r in document["results"] if r["gate_id"] == gate), None)
            if result is None or result["status"] != "pass":
                status = "failed" if result and result["status"] == "fail" else "error"
                detail = result["message"] if result else "the gate did not run"
                summary = f"{gate}: {result['status'] if result else 'missing'}: {detail}"
            else:
                status, summary = "passed", f"{gate}: pass"
    return {"status": status, "summary": summary[:2000], "evidence": str(pack) if pack else None}


def main(words: list[str] | None = None) -> int:
    words = sys.argv[1:] if words is None else words
    # The action's argv follows "--" and is never parsed here: argparse's REMAINDER after a
    # positional would swallow our own options too.
    if "--" not in words:
        print("hostd_exec: expected -- ARGV", file=sys.stderr)
        return 2
    split = words.index("--")
    parser = argparse.ArgumentParser(prog="hostd_exec")
    parser.add_argument("result_file")
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--judge")
    parser.add_argument("--secret-env", action="append", default=[], help="redact this variable")
    args = parser.parse_args(words[:split])
    argv = words[split + 1 :]
    outcome: dict[str, Any]
    try:
        proc = run(argv, timeout=args.timeout, group=True)
        outcome = judge(argv, proc.returncode, proc.stdout, args.judge)
        output = proc.stdout + ("\n" + proc.stderr if proc.stderr else "")
        outcome["exit_code"] = proc.returncode
        outcome["error_class"] = None if outcome["status"] == "passed" else "action_failed"
    except IpaiError as exc:
        output = exc.message
        outcome = {"status": "error", "summary": exc.message, "evidence": None, "exit_code": None}
        outcome["error_class"] = "action_error"
    secrets = [os.environ.get(name, "") for name in args.secret_env]
    # Redacted whole, then cut: a cut first could keep the end of a secret the cut split.
    outcome["output_tail"] = Redactor([s for s in secrets if s]).text(output)[-OUTPUT_TAIL:]
    outcome["finished_at"] = iso(utc_now())
    write_json_atomic(Path(args.result_file), outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
