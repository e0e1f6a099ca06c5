"""Talking HTTP to a running Odoo without a login: what identifies it, which series it runs,
which asset bundles its login page loads, and whether a websocket handshake succeeds.

Odoo without the ``website`` module renders no ``<meta name="generator">``: every install is
identified instead by its login page (``odoo.__session_info__``, a ``csrf_token``, bundles
under ``/web/assets/<hash>/``) and by ``POST /web/webclient/version_info`` over JSON-RPC, which
names the series and needs no database.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from ..core.redact import redact_json_text

LOGIN_MARKERS = {
    "odoo.__session_info__": "odoo.__session_info__",
    "csrf_token": "csrf_token",
    "asset bundles": "/web/assets/",
}
_BUNDLE = re.compile(r'(?:href|src|data-src)="(/web/assets/[^"/]+/[^"/]+\.min\.(?:js|css))"')
MAX_BODY = 4096


def evidence(
    response: requests.Response, redact: Callable[[str], str], limit: int = MAX_BODY
) -> str:
    """The answer as evidence: status, headers, the body's start; redacted before it is cut."""
    head = redact("\n".join(f"{k}: {v}" for k, v in response.headers.items()))
    text = response.text
    body = redact(redact_json_text(text, redact) or text)[:limit]
    return f"HTTP {response.status_code} {response.reason}\n{head}\n\n{body}"


def missing_login_markers(html: str) -> list[str]:
    """The markers of Odoo's login page that ``html`` lacks (none: it is Odoo's)."""
    return [name for name, marker in LOGIN_MARKERS.items() if marker not in html]


def bundles(html: str) -> list[str]:
    """The ``/web/assets/...`` bundle paths a page references, in order, once each."""
    return list(dict.fromkeys(_BUNDLE.findall(html)))


@dataclass(frozen=True)
class VersionInfo:
    series: str  # server_serie, e.g. "18.0"
    version: str  # server_version, e.g. "18.0" or "18.0rc1"


class NotOdoo(Exception):
    """The answer is not what Odoo gives."""


def version_info(
    session: requests.Session, base: str, timeout: float, redact: Callable[[str], str] = str
) -> tuple[VersionInfo, str]:
    """``POST /web/webclient/version_info``: the series, and the response as evidence. Raises
    NotOdoo when the answer is not Odoo's, requests' errors when there is no answer."""
    response = session.post(
        f"{base}/web/webclient/version_info",
        data=json.dumps({"jsonrpc": "2.0", "method": "call", "params": {}, "id": 1}),
        headers={"Content-Type": "application/json"},
        timeout=(min(timeout, 3.0), timeout),
        allow_redirects=False,
    )
    shown = evidence(response, redact, 1024)
    try:
        result: Any = response.json().get("result") if response.status_code == 200 else None
    except ValueError:
        result = None
    if not isinstance(result, dict) or not isinstance(result.get("server_serie"), str):
        raise NotOdoo(f"version_info answered HTTP {response.status_code} without a server_serie")
    info = result.get("server_version_info")
    series = result["server_serie"]
    if isinstance(info, list) and len(info) >= 2 and all(isinstance(x, int) for x in info[:2]):
        series = f"{info[0]}.{info[1]}"  # server_version may carry suffixes; these do not
    return VersionInfo(series, str(result.get("server_version", ""))), shown


@dataclass(frozen=True)
class Handshake:
    status: int | None  # 101 when the websocket was accepted
    detail: str


def websocket_handshake(url: str, timeout: float, origin: str | None = None) -> Handshake:
    """One websocket opening handshake to ``url`` (http:// or https:// + /websocket), as a
    browser sends it: the status line says whether a websocket server answered."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {origin or f'{parts.scheme}://{parts.netloc}'}\r\n\r\n"
    )
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            conn: socket.socket = raw
            if secure:
                import ssl

                conn = ssl.create_default_context().wrap_socket(raw, server_hostname=host)
            conn.settimeout(timeout)
            conn.sendall(request.encode())
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
    except TimeoutError:
        return Handshake(None, f"no answer within {timeout:g}s")
    except OSError as exc:
        return Handshake(None, f"connection failed ({type(exc).__name__})")
    first = head.split(b"\r\n", 1)[0].decode("latin-1")
    match = re.match(r"HTTP/\d(?:\.\d)? (\d{3})", first)
    if match is None:
        return Handshake(None, f"not an HTTP answer ({first[:60]!r})")
    return Handshake(int(match.group(1)), first)
