"""What a suite needs from the host, checked before any gate runs: a missing tool is a usage
error (exit 2, one line) at once, not a column of errors after the whole suite."""

from __future__ import annotations

from pytest_ipai.config.policy import GatePolicy
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import ToolError
from pytest_ipai.probes.engine import DEFAULT_ENGINE, EngineError, engine

ENGINE_TIMEOUT = 10.0


def uses_engine(config: StackConfig) -> bool:
    """Whether the environment declares a container engine: services whose containers the gates
    read, or an engine socket of its own. (Without either, a container log source is read from
    the default socket, and its gate says so itself if that fails.)"""
    env = config.env.raw
    return bool(env.get("services")) or bool(env.get("engine_socket"))


def check_engine(config: StackConfig, expected: list[GatePolicy]) -> None:
    needing = sorted(g.gate_id for g in expected if "engine" in g.needs)
    if not needing or not uses_engine(config):
        return
    address = str(config.env.raw.get("engine_socket", DEFAULT_ENGINE))
    try:
        with engine(address, ENGINE_TIMEOUT):
            pass
    except EngineError as exc:
        raise ToolError(
            f"environments.{config.env.name}.engine_socket: {exc.message}; "
            f"{', '.join(needing)} need the container engine"
        ) from None
