"""A stand-in for Odoo's HTTP server, for tests (Odoo itself cannot run here). It honours the
contracts of a real Odoo 18.0 server: /web/health with and without db_server_status (checking the
real PostgreSQL), /web/login with Odoo's generator tag or the redirect to the database selector,
POST /web/health -> 400, Odoo-format log records and werkzeug access lines, and with --workers N
Odoo's prefork tree: a master and N worker processes sharing the listening socket (no
setproctitle, so they share the master's command line). Faults are switched with flags.

    python odoo_standin.py --port P [--bind ADDR] [--dsn DSN] [--log FILE] [--workers N]
                           [--worker-dies-after S] [--start-delay S] [--hang S] [--error-share F]
                           [--traceback-every N] [--no-db-selected] [--not-odoo]

The DSN may also come from the environment variable ODOO_STANDIN_DSN (as a container gets it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOGIN = (
    '<!DOCTYPE html><html><head><meta name="generator" content="Odoo"/>'
    '<title>Odoo</title></head><body><form class="oe_login_form"></form></body></html>'
)


def db_ok(dsn: str | None) -> bool:
    if not dsn:
        return False
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--dsn", default=os.environ.get("ODOO_STANDIN_DSN"))
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--worker-dies-after", type=float, default=0.0)
    parser.add_argument("--start-delay", type=float, default=0.0)
    parser.add_argument("--db", default="evaldb")
    parser.add_argument("--log")
    parser.add_argument("--hang", type=float, default=0.0, help="each request hangs this long")
    parser.add_argument("--error-share", type=float, default=0.0)
    parser.add_argument(
        "--spare-login", action="store_true", help="the 5xx share spares /web/login (it renders)"
    )
    parser.add_argument("--traceback-every", type=int, default=0)
    parser.add_argument("--no-db-selected", action="store_true")
    parser.add_argument("--not-odoo", action="store_true")
    args = parser.parse_args()

    handler_out = logging.FileHandler(args.log) if args.log else logging.StreamHandler(sys.stdout)
    handler_out.setFormatter(
        logging.Formatter(f"%(asctime)s %(process)d %(levelname)s {args.db} %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler_out])
    server_log = logging.getLogger("odoo.service.server")
    access_log = logging.getLogger("werkzeug")
    http_log = logging.getLogger("odoo.http")
    rng = random.Random(7)
    counter = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "nginx" if args.not_odoo else "Werkzeug/3.0.1"
        sys_version = ""

        def log_message(self, format: str, *values: object) -> None:
            return  # werkzeug lines are written below, in Odoo's format

        def send(
            self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header(
                "Server", "Werkzeug/3.0.1 Python/3.12.3" if not args.not_odoo else "nginx"
            )
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
            stamp = time.strftime("%d/%b/%Y %H:%M:%S")
            access_log.info(
                '%s - - [%s] "%s %s HTTP/1.1" %s - 3 0.002 0.004',
                self.client_address[0],
                stamp,
                self.command,
                self.path,
                status,
            )

        def do_POST(self) -> None:
            self.send(400, b"<h1>Bad Request</h1>", "text/html")

        def do_GET(self) -> None:
            counter["n"] += 1
            if args.hang:
                time.sleep(args.hang)
            url = urlparse(self.path)
            if args.traceback_every and counter["n"] % args.traceback_every == 0:
                try:
                    raise ValueError("Invalid field 'x_field' on model 'res.partner'")
                except ValueError:
                    http_log.exception("Exception during request handling.")
            if url.path == "/web/health":
                if "db_server_status" in parse_qs(url.query):
                    ok = db_ok(args.dsn)
                    body = {"status": "pass" if ok else "fail", "db_server_status": ok}
                    self.send(200 if ok else 500, json.dumps(body).encode(), "application/json")
                else:
                    self.send(200, b'{"status": "pass"}', "application/json")
                return
            spared = args.spare_login and url.path == "/web/login"
            if args.error_share and not spared and rng.random() < args.error_share:
                self.send(502 if counter["n"] % 2 else 500, b"Internal Server Error", "text/html")
                return
            if url.path in ("/web/login", "/"):
                if args.no_db_selected:
                    self.send(303, b"", "text/html", {"Location": "/web/database/selector"})
                elif args.not_odoo:
                    self.send(200, b"<html><title>Welcome to nginx!</title></html>", "text/html")
                else:
                    self.send(200, LOGIN.encode(), "text/html; charset=utf-8")
                return
            self.send(404, b"Not Found", "text/html")

    # Like Odoo, stop on SIGTERM at any time (a container engine sends it, then waits).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.start_delay:  # Odoo loading its registry: nothing listens yet
        server_log.info("loading 120 modules...")
        time.sleep(args.start_delay)
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server_log.info("HTTP service (werkzeug) running on %s:%s", args.bind, args.port)
    if args.workers <= 0:
        server.serve_forever()
        return
    prefork(server, args.workers, args.worker_dies_after, server_log)


def prefork(
    server: ThreadingHTTPServer, workers: int, dies_after: float, log: logging.Logger
) -> None:
    """Odoo's workers mode: the master forks workers that serve the shared socket. The first
    worker exits after ``dies_after`` seconds when that fault is on, and is not replaced."""
    children = []
    for index in range(workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            log.info("Worker WorkerHTTP (%s) alive", os.getpid())
            if index == 0 and dies_after:
                time.sleep(dies_after)
                log.info("Worker (%s) exiting", os.getpid())
                os._exit(1)
            server.serve_forever()
            os._exit(0)
        children.append(pid)

    def stop(*_: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:  # reap, never respawn: a lost worker stays lost (the fault under test)
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(1)


if __name__ == "__main__":
    main()
