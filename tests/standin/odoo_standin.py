"""A stand-in for an Odoo 18.0 server, for tests (Odoo itself cannot run here). It honours what a
real server was observed to do: the login page, version_info, health (its db_server_status opens
a cursor on the ``postgres`` database), asset bundles, websocket, JSON-RPC errors, Odoo's log
format (UTC, ``?`` without a database, a trailing space), and its process layouts:

- threaded (no ``--workers``): one process, threads main + httpd + one per cron thread; the
  websocket is served on the HTTP port; after PostgreSQL went away the cron threads die for good
  while HTTP goes on;
- workers (``--workers N``): a master (the HTTP socket's owner), N HTTP workers sharing its
  socket, ``--max-cron-threads`` niced cron workers, and one gevent child started as
  ``odoo_standin.py gevent ...`` that alone serves the longpolling port. Dead children are
  respawned, as Odoo does: a gevent child that cannot bind respawns about every 1.2 s without a
  word from the master; cron workers respawn in a loop while PostgreSQL is down.

No setproctitle: every process shares the master's command line except the gevent child.

    python odoo_standin.py [gevent] --port P [--gevent-port G] [--bind ADDR] [--dsn DSN]
        [--db NAME] [--log FILE] [--series 18.0] [--server-series S] [--workers N]
        [--max-cron-threads N] [--pidfile F] [--fault broken-scss|broken-js|missing-asset]
        [--worker-dies-after S] [--start-delay S] [--hang S] [--never-answer]
        [--error-share F] [--spare-login] [--traceback-every N] [--no-db-selected] [--not-odoo]

The DSN may also come from ODOO_STANDIN_DSN (as a container gets it).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from standin_http import NO_DB, db_ok, make_handler, server_log, setup_logging


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gevent-port", type=int, default=0, help="default: --port + 3")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--dsn", default=os.environ.get("ODOO_STANDIN_DSN"))
    parser.add_argument("--db", default="evaldb")
    parser.add_argument("--log")
    parser.add_argument("--series", default="18.0")
    parser.add_argument("--server-series", help="what version_info says (default --series)")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--max-cron-threads", type=int, default=2)
    parser.add_argument("--pidfile")
    parser.add_argument(
        "--fault", action="append", choices=["broken-scss", "broken-js", "missing-asset"]
    )
    parser.add_argument("--worker-dies-after", type=float, default=0.0)
    parser.add_argument("--start-delay", type=float, default=0.0)
    parser.add_argument("--hang", type=float, default=0.0, help="each request hangs this long")
    parser.add_argument("--never-answer", action="store_true", help="listen, never accept")
    parser.add_argument("--error-share", type=float, default=0.0)
    parser.add_argument(
        "--spare-login", action="store_true", help="the 5xx share spares /web/login"
    )
    parser.add_argument("--traceback-every", type=int, default=0)
    parser.add_argument("--no-db-selected", action="store_true")
    parser.add_argument("--not-odoo", action="store_true")
    parser.add_argument(
        "--code-file",
        metavar="PATH",
        help="the addons' code, as Odoo loads it: read once at start and said in an "
        "X-Standin-Code header (a change on disk is served only after a restart)",
    )
    parser.add_argument(
        "--leak",
        metavar="TEXT",
        help="say TEXT where a careless server would: a response header, the health body, a "
        "logged exception (what redaction must catch)",
    )
    args = parser.parse_args(argv)
    args.gevent_port = args.gevent_port or args.port + 3
    args.code = Path(args.code_file).read_text().strip() if args.code_file else ""
    return args


def banner(args: argparse.Namespace) -> None:
    # Like odoo-bin started as root: this line goes to stderr only, never to the log file.
    print("Running as user 'root' is a security risk.", file=sys.stderr, flush=True)
    server_log.info("Odoo version %s", args.series, extra=NO_DB)


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["gevent"]:
        return gevent_child(parse(argv[1:]))
    args = parse(argv)
    setup_logging(args.log, args.db)
    banner(args)
    stopping: list[ThreadingHTTPServer] = []  # the server to stop, once it serves
    signal.signal(signal.SIGTERM, on_sigterm(lambda: [s.shutdown() for s in stopping]))
    if args.pidfile:
        Path(args.pidfile).write_text(f"{os.getpid()}\n")
    if args.start_delay:  # Odoo loading its registry: nothing listens yet
        server_log.info("loading 120 modules...")
        time.sleep(args.start_delay)
    if args.never_answer:  # the listen backlog fills, then connects time out
        listener = socket.create_server((args.bind, args.port), backlog=1)
        server_log.info(
            "HTTP service (werkzeug) running on %s:%s", args.bind, args.port, extra=NO_DB
        )
        while listener:
            time.sleep(3600)
    role = "prefork" if args.workers > 0 else "threaded"
    server = ThreadingHTTPServer((args.bind, args.port), make_handler(args, role))
    server.daemon_threads = True
    if args.workers <= 0:
        stopping.append(server)
        return threaded(server, args)
    Prefork(server, args, argv).run()


def on_sigterm(cleanup: Callable[[], object]) -> Callable[..., None]:
    """SIGTERM as Odoo takes it: it says so, stops serving and exits; a second signal forces
    the exit. The process ends with ``os._exit`` once its log is flushed, never through the
    interpreter's finalisation, which can hang on the daemon threads still running (HTTP
    requests, cron threads): a stop must end the process every time."""
    signals = []

    def handler(*_: object) -> None:
        signals.append(1)
        if len(signals) > 1:
            os._exit(0)
        server_log.info("Initiating shutdown", extra=NO_DB)
        server_log.info(
            "Hit CTRL-C again or send a second signal to force the shutdown.", extra=NO_DB
        )
        cleanup()
        logging.shutdown()
        os._exit(0)

    return handler


def threaded(server: ThreadingHTTPServer, args: argparse.Namespace) -> None:
    shown = "localhost" if args.bind in ("127.0.0.1", "0.0.0.0") else args.bind
    server_log.info("HTTP service (werkzeug) running on %s:%s", shown, args.port, extra=NO_DB)
    httpd = threading.Thread(target=server.serve_forever, name="odoo.service.httpd", daemon=True)
    httpd.start()
    for index in range(args.max_cron_threads):
        name = f"odoo.service.cron.cron{index}"
        threading.Thread(target=cron_thread, args=(args,), name=name, daemon=True).start()
    signal.signal(signal.SIGQUIT, lambda *_: dump_threads())
    while True:
        time.sleep(3600)


def cron_thread(args: argparse.Namespace) -> None:
    """Polls the database like Odoo's cron threads; once PostgreSQL goes away the thread dies
    with a traceback on stderr only, and nobody restarts it."""
    while True:
        if args.dsn and not db_ok(args.dsn):
            raise ConnectionError("connection to server failed: server closed the connection")
        time.sleep(0.5)


def dump_threads() -> None:
    """Odoo's ``kill -QUIT`` handler: one line per thread, Python names included."""
    lines = [
        f"# Thread: {t!r} (db:n/a) (uid:n/a) (url:n/a) (qc:n/a qt:n/a pt:n/a)"
        for t in threading.enumerate()
    ]
    server_log.info("\n".join(lines), extra=NO_DB)


class Prefork:
    """Odoo's workers mode: a master that forks, watches and respawns its children."""

    def __init__(
        self, server: ThreadingHTTPServer, args: argparse.Namespace, argv: list[str]
    ) -> None:
        self.server, self.args, self.argv = server, args, argv
        self.http: dict[int, int] = {}  # pid -> slot
        self.cron: set[int] = set()
        self.gevent: subprocess.Popen[bytes] | None = None
        self.gevent_died_at = 0.0
        self.started = time.monotonic()

    def run(self) -> None:
        server_log.info(
            "HTTP service (werkzeug) running on %s:%s", self.args.bind, self.args.port, extra=NO_DB
        )
        signal.signal(signal.SIGTERM, on_sigterm(self.stop_children))
        while True:
            self.reap()
            self.spawn()
            time.sleep(0.05)

    def spawn(self) -> None:
        slots = set(self.http.values())
        for slot in range(self.args.workers):
            if slot not in slots:
                self.fork_http(slot)
        while len(self.cron) < self.args.max_cron_threads:
            self.fork_cron()
        if self.gevent is None and time.monotonic() - self.gevent_died_at > 0.2:
            child = [sys.executable, str(Path(__file__).resolve()), "gevent", *self.argv]
            self.gevent = subprocess.Popen(child)  # a program of its own, as Odoo starts it

    def fork_http(self, slot: int) -> None:
        pid = os.fork()
        if pid:
            self.http[pid] = slot
            return
        self.child_signals()
        server_log.info("Worker WorkerHTTP (%s) alive", os.getpid(), extra=NO_DB)
        threading.Thread(
            target=lambda: time.sleep(1e9),
            name=f"Worker WorkerHTTP ({os.getpid()}) workthread",
            daemon=True,
        ).start()
        if slot == 0 and self.args.worker_dies_after:
            threading.Timer(self.args.worker_dies_after, lambda: os._exit(1)).start()
        self.server.serve_forever()
        os._exit(0)

    def fork_cron(self) -> None:
        pid = os.fork()
        if pid:
            self.cron.add(pid)
            return
        self.child_signals()
        self.server.socket.close()  # cron workers do not serve HTTP
        os.nice(10)
        server_log.info("Worker WorkerCron (%s) alive", os.getpid(), extra=NO_DB)
        while True:
            if self.args.dsn and not db_ok(self.args.dsn):
                os._exit(
                    1
                )  # Odoo's cron worker dies on the lost connection; the master respawns it
            time.sleep(0.5)

    def child_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.http.pop(pid, None)
            self.cron.discard(pid)
            if self.gevent is not None and pid == self.gevent.pid:
                self.gevent.returncode = 1
                self.gevent = None
                self.gevent_died_at = time.monotonic()  # silently, as Odoo's master does

    def stop_children(self) -> None:
        pids = [*self.http, *self.cron] + ([self.gevent.pid] if self.gevent else [])
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def gevent_child(args: argparse.Namespace) -> None:
    """``odoo-bin gevent``: its own banner, the "running on" line before the bind, and when the
    bind fails a logged traceback plus a second one on stderr only."""
    setup_logging(args.log, args.db)
    banner(args)
    signal.signal(signal.SIGTERM, on_sigterm(lambda: None))
    address = (args.bind, args.gevent_port)
    server_log.info("Evented Service (longpolling) running on %s:%s", *address, extra=NO_DB)
    try:
        server = ThreadingHTTPServer(address, make_handler(args, "gevent"))
    except OSError:
        # Real Odoo spends about a second loading before this bind fails, so each doomed child
        # is there most of its 1.2 s cycle; the stand-in spends that second here.
        time.sleep(1.0)
        server_log.exception(
            "Evented Service (longpolling): uncaught error during main loop", extra=NO_DB
        )
        raise  # Python prints the second traceback to stderr and exits 1
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
