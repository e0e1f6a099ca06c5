"""``ipai deploy-until-green``: deploy, retrying only what may clear by itself (a deploy already
in progress that will finish, an executor that does not answer yet) with bounded backoff and a
cap on attempts. Any other class fails closed at once. ``triage.json`` says what happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.fsio import write_json_atomic
from pytest_ipai.core.timeutil import iso, utc_now

from . import deploy
from .deploy_run import state_dir

RETRYABLE = frozenset({"deploy_lock_held", "executor_unreachable"})


def until_green(
    config: StackConfig,
    sha: str,
    *,
    attempts: int,
    backoff: float,
    max_backoff: float,
    take_over_maintenance: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any], int]:
    tries: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    code = 2
    for attempt in range(1, attempts + 1):
        result, code = deploy.deploy(config, sha, take_over_maintenance)
        retry = bool(result["retryable"]) and result["error_class"] in RETRYABLE
        tries.append(
            {
                "attempt": attempt,
                "run_id": result["run_id"],
                "overall": result["overall"],
                "error_class": result["error_class"],
                "at": result["finished_at"],
            }
        )
        if code == 0 or not retry or attempt == attempts:
            break
        sleep(min(max_backoff, backoff * 2 ** (attempt - 1)))
    triage = {
        "class": result.get("error_class"),
        "step": result.get("step_failed"),
        "retryable": bool(result.get("retryable")) and result.get("error_class") in RETRYABLE,
        "next_auto_fix": result.get("next_auto_fix"),
        "overall": result.get("overall"),
        "attempts": tries,
        "gave_up": code != 0 and len(tries) == attempts and tries[-1]["error_class"] in RETRYABLE,
        "written_at": iso(utc_now()),
    }
    write_json_atomic(state_dir(config) / "triage.json", triage)
    return triage, code
