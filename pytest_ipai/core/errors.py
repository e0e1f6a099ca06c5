"""Errors that end a command with exit code 2 and a one-line message.

The message always names where the problem is (file, key path, line) so an operator can act on
it without a traceback. Messages never carry secret values: callers pass names, not contents.
"""

from __future__ import annotations

import errno

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2


class IpaiError(Exception):
    """A usage, configuration or tool error: exit 2, one line."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        # One line, whatever the caller handed us.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(IpaiError):
    """The stack configuration or policy is invalid."""


class InputError(IpaiError):
    """A file we were asked to read (manifest, pack, results) is unusable."""


class ToolError(IpaiError):
    """An external tool (git, allure, pytest) failed or timed out."""


class NoSpaceError(IpaiError):
    """A file system is full (ENOSPC, EDQUOT): what was being written is kept recoverable."""


def out_of_space(exc: OSError) -> bool:
    """The write failed because the file system (or the user's quota) is full."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)
