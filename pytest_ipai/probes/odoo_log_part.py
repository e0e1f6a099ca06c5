"""One part of a log scan, in a process of its own (odoo_log_file.py starts it): reads the
pickled job (path, start, end, window) on stdin, writes the pickled LogScan on stdout."""

from __future__ import annotations

import pickle
import sys

from .odoo_log_file import scan_part


def main() -> None:
    path, start, end, window = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 (our parent)
    sys.stdout.buffer.write(pickle.dumps(scan_part(path, start, end, window)))


if __name__ == "__main__":
    main()
