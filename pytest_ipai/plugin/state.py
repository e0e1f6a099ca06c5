"""The run's state shared by the plugin's parts: the validated config and policy, the run id,
the target host, and the stash keys and report property that carry gate metadata.

PYTEST_DONT_REWRITE (see __init__.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..config.policy import Policy, load_policy
from ..config.stack import StackConfig, find_config, load_config
from ..core.errors import IpaiError
from ..core.memo import RunMemo
from ..core.recorder import GateRecorder
from ..core.redact import Redactor
from ..evidence.attest import PackSigner, load_pack_signer
from ..evidence.manifest import current_user
from ..evidence.pack import check_run_id, new_run_id
from ..probes.hosts import LOCAL, Target, target_spec

if TYPE_CHECKING:  # imported where a run decides: most runs never do
    from ..decision.policy import DecisionPolicy, Override

SUITES = ("predeploy", "postdeploy")
GATE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
PROP = "ipai"
MAX_DETAILS = 20_000

meta_key = pytest.StashKey[dict[str, Any]]()
recorder_key = pytest.StashKey[GateRecorder]()


@dataclass
class IpaiState:
    config: StackConfig
    policy: Policy
    suite: str | None
    run_id: str
    evidence_root: Path
    decision_policy: DecisionPolicy | None = None
    override: Override | None = None
    target: Target = field(default_factory=lambda: Target(LOCAL))
    signer: PackSigner | None = None
    memo: RunMemo = field(default_factory=lambda: RunMemo(None))
    _redactor: Redactor | None = field(default=None, repr=False)

    @property
    def redactor(self) -> Redactor:
        """The config's secrets, read once per process: every recorder redacts with it."""
        if self._redactor is None:
            self._redactor = Redactor(self.config.secret_values())
        return self._redactor

    @classmethod
    def create(cls, pyconfig: pytest.Config) -> IpaiState | None:
        option = pyconfig.getoption("ipai_config")
        path = Path(option) if option else find_config(pyconfig.invocation_params.dir)
        if path is None:
            return None  # not a pytest-ipai run: stay out of the way
        worker = hasattr(pyconfig, "workerinput")
        stack = load_config(path, pyconfig.getoption("ipai_env"), validate=not worker)
        layer = pyconfig.getoption("ipai_policy_layer")
        layers = [Path(layer)] if layer else []
        policy = load_policy(stack.env.policy_file, validate=not worker, layers=layers)
        root_opt = pyconfig.getoption("ipai_evidence_root")
        root = Path(root_opt).resolve() if root_opt else stack.env.evidence_root
        if worker:
            workerinput = getattr(pyconfig, "workerinput")  # noqa: B009
            run_id = str(workerinput["ipai_run_id"])
            memo_dir = workerinput.get("ipai_memo_dir")
            memo = RunMemo(Path(memo_dir) if memo_dir else None)
        else:
            memo = RunMemo.create()  # the controller removes it when the run ends
            given = pyconfig.getoption("ipai_run_id")
            run_id = check_run_id(given) if given else new_run_id()
        decision = None
        if pyconfig.getoption("ipai_decide") or pyconfig.getoption("ipai_override"):
            from ..decision.policy import Override, load_decision_policy

            decision = load_decision_policy(stack.env.policy_file)
        override = None
        if pyconfig.getoption("ipai_override"):
            override = Override(
                pyconfig.getoption("ipai_override"),
                pyconfig.getoption("ipai_override_reason") or "",
                current_user(),
            )
        suite = pyconfig.getoption("ipai_suite") or _suite_from_markexpr(pyconfig)
        if suite is not None and suite not in policy.suites() and suite not in SUITES:
            raise IpaiError(f"--ipai-suite {suite}: no such suite ({', '.join(policy.suites())})")
        # --hosts is pytest-testinfra's option (present when its plugin is loaded).
        spec = target_spec(
            getattr(pyconfig.option, "hosts", None),
            stack.env.raw.get("hosts"),
            f"environments.{stack.env.name}",
        )
        return cls(
            signer=None if worker else load_pack_signer(stack),
            config=stack,
            policy=policy,
            suite=suite,
            run_id=run_id,
            evidence_root=root,
            decision_policy=decision,
            override=override,
            target=Target(spec),
            memo=memo,
        )


state_key = pytest.StashKey[IpaiState]()


def _suite_from_markexpr(config: pytest.Config) -> str | None:
    expr = (config.getoption("markexpr", "") or "").strip()
    return expr if re.fullmatch(r"[a-z][a-z0-9_]*", expr) and expr in (*SUITES,) else None


def gate_payload(report: pytest.TestReport) -> dict[str, Any] | None:
    for name, value in report.user_properties:
        if name == PROP and isinstance(value, str):
            data: dict[str, Any] = json.loads(value)
            return data
    return None
