"""The one place that runs external commands: argv lists, never a shell, always a timeout."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import ToolError


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return the completed process; a missing tool or a timeout is ToolError.

    The exit status is the caller's business: some tools answer questions with it.
    """
    if not argv or not all(isinstance(a, str) for a in argv):
        raise ToolError(f"invalid command template: {list(argv)!r}")
    try:
        return subprocess.run(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=capture,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise ToolError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise ToolError(
            f"{argv[0]} {argv[1] if len(argv) > 1 else ''}: timed out after {timeout:g}s"
        ) from None
