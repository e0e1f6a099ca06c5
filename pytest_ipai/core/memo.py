"""Work a run's processes share: the first process (xdist worker) that needs a value computes
it while holding a lock and leaves it in the run's memo folder; every other process of the run
reads it instead of doing the work again (the addons tree, one pass over Odoo's log).

The folder is made by the run's controller with ``mkdtemp`` (mode 700, removed when the run
ends), so only the user running the suite can write into it; that is why its files may be
pickles. A value that cannot be stored (unpicklable, a full /tmp) is simply not shared, and a
computation that raises leaves nothing behind: the next process tries again and meets the same
error. A process that dies while computing releases its lock (``flock``), so nobody waits on a
dead worker.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")


class RunMemo:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._here: dict[str, Any] = {}

    @classmethod
    def create(cls) -> RunMemo:
        return cls(Path(tempfile.mkdtemp(prefix="ipai-memo-")))

    def remove(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def get(self, key: str, compute: Callable[[], T]) -> T:
        """The value for ``key``: from this process, from the run's folder, or computed now."""
        if key in self._here:
            return cast(T, self._here[key])
        value = compute() if self.directory is None else self._shared(key, compute)
        self._here[key] = value
        return value

    def _shared(self, key: str, compute: Callable[[], T]) -> T:
        import pickle  # here: a run whose gates share nothing never needs it

        assert self.directory is not None
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        data = self.directory / f"{name}.pickle"
        try:
            lock = open(self.directory / f"{name}.lock", "a+b")  # noqa: SIM115
        except OSError:
            return compute()  # the folder is gone (the run is ending): work alone
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return cast(T, pickle.loads(data.read_bytes()))  # noqa: S301 (our own folder, 700)
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
                pass  # not there yet (or unreadable): compute it
            value = compute()
            try:
                blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                partial = data.with_suffix(".partial")
                partial.write_bytes(blob)
                os.replace(partial, data)
            except (OSError, pickle.PicklingError, TypeError, AttributeError):
                pass  # not shared; each process computes its own
            return value
