"""The ``reverify`` step of a rollback: the post-deploy suite again, judged by the decision
policy's ``[reverify]`` rules (pytest_ipai/decision/reverify.py), waiting a bounded time for
enough traffic when only window gates stand in the way."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.decision.policy import load_decision_policy
from pytest_ipai.decision.reverify import ReverifyPolicy, ReverifyVerdict, judge_reverify
from pytest_ipai.deploy.state import DeployError, maintenance_off

from .deploy_run import DeployRun, StepRecord
from .deploy_steps import maintenance_path, postdeploy


def reverify_policy(config: StackConfig) -> ReverifyPolicy:
    return load_decision_policy(config.env.policy_file).reverify


def reverify(
    config: StackConfig, deploy_cfg: dict[str, Any], run_: DeployRun, record: StepRecord,
    since: str,
) -> ReverifyVerdict:  # fmt: skip
    """Run and judge until healthy, not healthy, or the wait is over; DeployError
    ``reverify_failed`` unless healthy. Every run's pack is in the evidence."""
    policy = reverify_policy(config)
    deadline = time.monotonic() + policy.max_wait_seconds
    with tempfile.TemporaryDirectory(prefix="ipai-reverify-") as tmp:
        layer = Path(tmp) / "reverify-policy.toml"
        layer.write_text(policy.policy_layer())
        attempt = 0
        while True:
            attempt += 1
            pack, code, _ = postdeploy(config, deploy_cfg, since, layer)
            run_.evidence["reverify" if attempt == 1 else f"reverify-{attempt}"] = (
                str(pack) if pack else None
            )
            verdict = _judge(pack, code, policy)
            if verdict.waiting and time.monotonic() + policy.retry_seconds < deadline:
                time.sleep(policy.retry_seconds)  # more traffic since the rollback may settle it
                continue
            break
    record.note(f"{verdict.reason} ({attempt} run(s) of the post-deploy suite)")
    if not verdict.healthy:
        raise DeployError("reverify_failed", f"after the rollback: {verdict.reason}; see {pack}")
    return verdict


def _judge(pack: Path | None, code: int, policy: ReverifyPolicy) -> ReverifyVerdict:
    if pack is None or not (pack / "results.json").is_file():
        return ReverifyVerdict(
            False, False, f"the post-deploy suite wrote no results (exit {code})"
        )
    results = json.loads((pack / "results.json").read_text("utf-8"))["results"]
    return judge_reverify(results, policy)


def after_rollback(
    config: StackConfig, deploy_cfg: dict[str, Any], state: dict[str, Any], ok: bool
) -> dict[str, Any]:
    """Maintenance after a rollback: off when it verified and the policy says so (the default),
    else on, saying why. Updates ``state``; returns what deploy_result.json records."""
    if ok and reverify_policy(config).maintenance == "off":
        maintenance_off(maintenance_path(config, deploy_cfg))
        state["maintenance"] = None
        return {"on": False, "why": "the rollback verified healthy (reverify.maintenance = off)"}
    why = (
        "the rollback verified healthy; reverify.maintenance = on: a human ends it"
        if ok
        else "the rollback did not verify healthy: a human decides"
    )
    if state.get("maintenance"):
        state["maintenance"]["reason"] = why
    return {"on": True, "why": why}
