"""A reverse proxy on loopback for the test beds, as users put nginx in front of Odoo in workers
mode: ``/websocket`` goes to the longpolling port, everything else to the HTTP port.

It routes each connection by its first request line and then relays bytes both ways, so a
websocket upgrade passes through untouched; plain requests are sent upstream with
``Connection: close`` so every request is routed on its own. ``routes`` may be changed while it
runs (a test breaks the routing the way a wrong proxy config does). An upstream that does not
answer gives 502, as nginx does.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

from loopback import free_port


class RoutingProxy:
    def __init__(self, http_port: int, longpolling_port: int | None) -> None:
        self.routes: dict[str, int] = {"/websocket": longpolling_port or http_port}
        self.default = http_port
        self.port = free_port()  # never bind port 0: it may be a port handed out for later
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self.serve, name="routing-proxy", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(client,), daemon=True).start()

    def upstream_for(self, path: str) -> int:
        for prefix, port in self.routes.items():
            if path == prefix or path.startswith(prefix + "?") or path.startswith(prefix + "/"):
                return port
        return self.default

    def handle(self, client: socket.socket) -> None:
        with contextlib.closing(client):
            client.settimeout(10)
            head = b""
            try:
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    head += chunk
            except OSError:
                return
            first, _, rest = head.partition(b"\r\n")
            words = first.split()
            if len(words) != 3:
                return
            upgrade = b"upgrade: websocket" in head.lower()
            if not upgrade:
                lines = [h for h in rest.split(b"\r\n\r\n", 1)[0].split(b"\r\n")]
                body = rest.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in rest else b""
                kept = [h for h in lines if not h.lower().startswith(b"connection:")]
                head = b"\r\n".join([first, *kept, b"Connection: close"]) + b"\r\n\r\n" + body
            port = self.upstream_for(words[1].decode("latin-1"))
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                client.sendall(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            with contextlib.closing(upstream):
                upstream.sendall(head)
                relay(client, upstream)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


def relay(a: socket.socket, b: socket.socket, idle: float = 30.0) -> None:
    """Copy bytes both ways until either side closes or nothing moves for ``idle`` seconds."""
    peers = {a: b, b: a}
    while True:
        ready, _, _ = select.select(list(peers), [], [], idle)
        if not ready:
            return
        for sock in ready:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                peers[sock].sendall(data)
            except OSError:
                return
