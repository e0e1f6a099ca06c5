"""Standard output that a reader may close early (``ipai gate ... | head -2``).

Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError: the command would
die with a traceback and lose its exit code. Behind ``guard_stdout`` a closed reader silences
the rest of the output instead; the command finishes its work and exits with its real code.
"""

from __future__ import annotations

import io
import os
import sys
from typing import TextIO


class ReaderSafeStdout(io.TextIOBase):
    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self.inner.write(text)
                self.inner.flush()  # a closed reader shows now, not at exit
            except BrokenPipeError:
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self.inner.flush()
            except BrokenPipeError:
                self._silence()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def _silence(self) -> None:
        self.reader_gone = True
        # What is still buffered, and the interpreter's flush at exit, go nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.inner.fileno())
        os.close(devnull)


def guard_stdout() -> ReaderSafeStdout:
    if not isinstance(sys.stdout, ReaderSafeStdout):
        sys.stdout = ReaderSafeStdout(sys.stdout)
    return sys.stdout


def write_through(line: str) -> None:
    """A sink for ``proc.stream``: the child's lines, as they come."""
    sys.stdout.write(line)
