"""``ipai logs tail``: the last lines of the environment's Odoo log (file or container output),
bounded and redacted. Read from the end: a large log is never read whole."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.redact import Redactor
from pytest_ipai.probes.engine import DEFAULT_ENGINE, EngineError, engine, service_containers

MAX_LINES = 1000
BLOCK = 64 * 1024


def tail_file(path: Path, lines: int) -> str:
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        data = b""
        position = end
        while position > 0 and data.count(b"\n") <= lines:
            step = min(BLOCK, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    return b"\n".join(data.splitlines()[-lines:]).decode("utf-8", "replace")


def tail(config: StackConfig, lines: int) -> str:
    if not 1 <= lines <= MAX_LINES:
        raise IpaiError(f"--lines: between 1 and {MAX_LINES}")
    env = config.env
    source = env.raw.get("log_source")
    if not source:
        raise IpaiError(f"{config.file}: environments.{env.name}.log_source: not set")
    if "file" in source:
        path = (config.base_dir / str(source["file"])).resolve()
        try:
            text = tail_file(path, lines)
        except OSError as exc:
            raise IpaiError(f"{path}: cannot read ({exc.strerror})") from None
    else:
        address = str(env.raw.get("engine_socket", DEFAULT_ENGINE))
        try:
            with engine(address) as client:
                found = service_containers(
                    client, str(source["container"]), env.raw.get("compose_project")
                )
                if not found:
                    raise IpaiError(f"service {source['container']}: no container")
                raw = found[0].logs(stdout=True, stderr=True, tail=lines)
        except EngineError as exc:
            raise IpaiError(exc.message) from None
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return Redactor(config.secret_values()).text(text)
