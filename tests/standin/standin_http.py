"""The stand-in's HTTP side: Odoo's log format and a request handler that answers as a real
Odoo 18.0 server does (see standin_pages for the bodies). ``role`` says which process serves:
``threaded`` (the one process of threaded mode), ``prefork`` (an HTTP worker: HTTP/1.0, no
websocket) or ``gevent`` (the longpolling child: HTTP/1.1, no Server header, websocket)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from standin_pages import (
    BUNDLES,
    bundle_body,
    bundle_hash,
    json_type_mismatch,
    login_page,
    version_info,
    websocket_accept,
)

SERVER = "Werkzeug/2.2.2 Python/3.11.7"


class OdooFormatter(logging.Formatter):
    """``%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s %(perf_info)s``:
    UTC stamps, ``?`` when no database is in play, and a trailing space on every line."""

    converter = time.gmtime

    def __init__(self, db: str) -> None:
        super().__init__("%(asctime)s %(process)d %(levelname)s %(dbname)s %(name)s: %(message)s ")
        self.db = db

    def format(self, record: logging.LogRecord) -> str:
        record.dbname = getattr(record, "dbname", self.db)
        return super().format(record)


def setup_logging(log_file: str | None, db: str) -> None:
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stdout)
    handler.setFormatter(OdooFormatter(db))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


NO_DB = {"dbname": "?"}
server_log = logging.getLogger("odoo.service.server")
http_log = logging.getLogger("odoo.http")
assets_log = logging.getLogger("odoo.addons.base.models.assetsbundle")
bus_log = logging.getLogger("odoo.addons.bus.websocket")
rpc_log = logging.getLogger("odoo.http.rpc")


def postgres_dsn(dsn: str) -> str:
    """The same server's ``postgres`` database: where Odoo's db_server_status opens a cursor."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    params["dbname"] = "postgres"
    return make_conninfo(**params)


def db_ok(dsn: str | None) -> bool:
    if not dsn:
        return False
    try:
        import psycopg

        with psycopg.connect(postgres_dsn(dsn), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def make_handler(args: argparse.Namespace, role: str) -> type[BaseHTTPRequestHandler]:
    faults = frozenset(args.fault or ())
    rng = random.Random(7)
    counter = {"n": 0}
    access = logging.getLogger("longpolling" if role == "gevent" else "werkzeug")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0" if role == "prefork" else "HTTP/1.1"
        sys_version = ""

        def version_string(self) -> str:
            return "nginx" if args.not_odoo else SERVER

        def log_message(self, format: str, *values: object) -> None:
            return  # access lines are written in Odoo's format by send()

        def send(
            self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response_only(status)
            if role != "gevent" or args.not_odoo:
                self.send_header("Server", self.version_string())
            self.send_header("Date", self.date_time_string())
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if args.code:
                self.send_header("X-Standin-Code", args.code)
            if args.leak:  # as http.server writes it: the UTF-8 bytes, read as Latin-1
                self.send_header("X-Debug-Note", args.leak.encode().decode("latin-1"))
            self.end_headers()
            self.wfile.write(body)
            self.access_line(status, len(body))

        def access_line(self, status: int, size: int) -> None:
            if role == "gevent":
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
                access.info(
                    '%s - - [%s] "%s %s HTTP/1.1" %s %s 0.002000',
                    self.client_address[0],
                    stamp,
                    self.command,
                    self.path,
                    status,
                    size,
                )
                return
            stamp = time.strftime("%d/%b/%Y %H:%M:%S", time.gmtime())
            access.info(
                '%s - - [%s] "%s %s HTTP/1.1" %s - 3 0.002 0.004',
                self.client_address[0],
                stamp,
                self.command,
                self.path,
                status,
            )

        def server_error(self, message: str, detail: str) -> None:
            """A 500 always comes with an ERROR record and its traceback (never a 502)."""
            try:
                raise RuntimeError(detail)
            except RuntimeError:
                http_log.exception(message)
            self.send(500, b"<h1>Internal Server Error</h1>", "text/html; charset=utf-8")

        def do_POST(self) -> None:
            self.route()

        def do_GET(self) -> None:
            self.route()

        def route(self) -> None:
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
                return self.health(url.query)
            spared = args.spare_login and url.path == "/web/login"
            if args.error_share and not spared and rng.random() < args.error_share:
                return self.server_error(
                    "Exception during request handling.", "stand-in: a share of requests fail"
                )
            if url.path == "/websocket":
                return self.websocket()
            if url.path == "/web/webclient/version_info":
                return self.version()
            if url.path.startswith("/web/dataset/call_kw/"):
                return self.call_kw(url.path)
            if url.path.startswith("/web/assets/"):
                return self.asset(url.path)
            if url.path in ("/web/login", "/"):
                return self.login()
            self.send(404, b"<!doctype html>\n<title>404 Not Found</title>\n", "text/html")

        def health(self, query: str) -> None:
            if args.leak:
                try:
                    raise ConnectionError(f"could not reach the pooler with {args.leak!r}")
                except ConnectionError:
                    http_log.exception("Health check failed for %s", args.leak)
                body = {"status": "fail", "error": f"pooler login {args.leak} refused"}
                return self.send(503, json.dumps(body).encode(), "application/json")
            if "db_server_status" in parse_qs(query):
                ok = db_ok(args.dsn)
                body = {"status": "pass" if ok else "fail", "db_server_status": ok}
                self.send(200 if ok else 500, json.dumps(body).encode(), "application/json")
            else:
                self.send(200, b'{"status": "pass"}', "application/json")

        def body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(min(length, 1_000_000)) if length else b""

        def version(self) -> None:
            raw = self.body()
            if "application/json" not in (self.headers.get("Content-Type") or ""):
                body = json_type_mismatch(urlparse(self.path).path)
                return self.send(400, body, "text/html; charset=utf-8")
            try:
                request_id = json.loads(raw or b"{}").get("id")
            except ValueError:
                request_id = None
            body = version_info(args.server_series or args.series, request_id)
            self.send(200, body, "application/json; charset=utf-8", self.session_cookie())

        def call_kw(self, path: str) -> None:
            """JSON-RPC errors answer 200 with an ``error`` body: a missing method logs ERROR,
            an access error WARNING."""
            self.body()
            method = path.rstrip("/").rsplit("/", 1)[-1]
            if method == "read_denied":
                rpc_log.warning("Access Denied by ACLs for operation: read, uid: 4")
                error = {
                    "code": 200,
                    "message": "Odoo Server Error",
                    "data": {"name": "odoo.exceptions.AccessError"},
                }
            else:
                try:
                    raise AttributeError(f"The method '{method}' does not exist")
                except AttributeError:
                    http_log.exception("Exception during JSON request handling.")
                error = {
                    "code": 200,
                    "message": "Odoo Server Error",
                    "data": {"name": "builtins.AttributeError"},
                }
            reply = {"jsonrpc": "2.0", "id": None, "error": error}
            self.send(200, json.dumps(reply).encode(), "application/json; charset=utf-8")

        def session_cookie(self) -> dict[str, str]:
            sid = os.urandom(63).hex()[:84]
            return {"Set-Cookie": f"session_id={sid}; Max-Age=604800; HttpOnly; Path=/"}

        def login(self) -> None:
            if args.no_db_selected:
                return self.send(303, b"", "text/html", {"Location": "/web/database/selector"})
            if args.not_odoo:
                body = b"<html><title>Welcome to nginx!</title></html>"
                return self.send(200, body, "text/html")
            if args.dsn and not db_ok(args.dsn):
                return self.send(302, b"", "text/html", {"Location": "/web/login"})
            headers = {
                "Cache-Control": "no-cache",
                "X-Frame-Options": "SAMEORIGIN",
                "Content-Security-Policy": "frame-ancestors 'self'",
                **self.session_cookie(),
            }
            self.send(200, login_page(args.series, faults), "text/html; charset=utf-8", headers)

        def asset(self, path: str) -> None:
            parts = path.split("/")
            name = parts[-1] if len(parts) == 5 else ""
            if name not in BUNDLES:
                return self.send(404, b"<title>404 Not Found</title>", "text/html")
            current = bundle_hash(name, faults)
            if parts[3] not in (current, "any"):
                return self.send(
                    303, b"", "text/html", {"Location": f"/web/assets/{current}/{name}"}
                )
            body, warning, error = bundle_body(name, faults)
            if warning:
                assets_log.warning(warning)
            if error:
                assets_log.error(error)
            headers = {"Cache-Control": "public, max-age=31536000, immutable"}
            self.send(200, body, BUNDLES[name], headers)

        def websocket(self) -> None:
            upgrade = (self.headers.get("Upgrade") or "").lower() == "websocket"
            key = self.headers.get("Sec-WebSocket-Key")
            if not upgrade or not key:
                body = b"<p>The browser (or proxy) sent a request that this server could not understand.</p>"
                return self.send(400, body, "text/html; charset=utf-8")
            if not self.headers.get("Origin"):
                bus_log.error("400 Bad Request: Empty or missing header(s): origin")
                return self.send(400, b"<p>Empty or missing header(s): origin</p>", "text/html")
            if role == "prefork":
                return self.server_error(
                    "Exception during request handling.",
                    f"Couldn't bind the websocket. Is the connection opened on the evented "
                    f"port ({args.gevent_port})?",
                )
            self.send_response_only(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", websocket_accept(key))
            self.end_headers()
            self.access_line(101, 0)
            self.close_connection = True

    return Handler
