"""How many times processes read a file, from inotify (Linux): the tests' way to see that work
a run shares is done once."""

from __future__ import annotations

import ctypes
import os
import select
import struct
import threading
import time
from pathlib import Path

IN_CLOSE_NOWRITE = 0x10  # a file opened for reading was closed: one read of it, whole or not


class ReadCounter:
    """inotify on one file: how many times a process opened it for reading and closed it.

    inotify merges an event with an identical one still unread in its queue, so a thread
    drains the queue as events come: two reads by two gates are two events."""

    def __init__(self, path: Path) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        added = self.libc.inotify_add_watch(self.fd, str(path).encode(), IN_CLOSE_NOWRITE)
        assert added >= 0
        self.count = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                continue
            data = os.read(self.fd, 65536)
            at = 0
            while at < len(data):
                _wd, mask, _cookie, size = struct.unpack_from("iIII", data, at)
                self.count += bool(mask & IN_CLOSE_NOWRITE)
                at += 16 + size

    def reads(self) -> int:
        time.sleep(0.2)  # events of the last close are queued by then
        self.stopping.set()
        self.thread.join(5)
        return self.count

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        os.close(self.fd)
