"""The guard in front of hostd's API: who may ask (the admin token, read from a file only its
owner can read, sent as ``Authorization: Bearer``), under which name (loopback Host names only:
a DNS-rebinding page names its own domain) and how much (a body limit that holds after
authentication, whether the body says its length or not). Checked in this order, before
anything reads a body."""

from __future__ import annotations

import contextlib
import hmac
import re
from pathlib import Path
from typing import Any

from pytest_ipai.config.stack import StackConfig


class ApiError(Exception):
    def __init__(self, status: int, error_class: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error_class": error_class, "message": message, **extra}


# --------------------------------------------------------------------------- settings
def settings(config: StackConfig) -> dict[str, Any]:
    return dict(config.env.raw.get("hostd") or {})


def token_file(config: StackConfig) -> Path | None:
    name = settings(config).get("token_file")
    return None if name is None else (config.base_dir / str(name)).resolve()


MIN_TOKEN_BYTES = 32
MAX_BODY_BYTES = 16 * 1024  # an exec request is a few dozen bytes


def read_token(config: StackConfig) -> bytes:
    """The admin token's bytes, or b"" when its file is missing, unreadable or empty."""
    path = token_file(config)
    try:
        return path.read_bytes().strip() if path is not None else b""
    except OSError:
        return b""


def token_unsafe(config: StackConfig, token: bytes) -> str | None:
    """Why a token may not be used: its file open to group or others, or too short."""
    path = token_file(config)
    try:
        mode = path.stat().st_mode if path is not None else 0
    except OSError:
        return None
    if mode & 0o077:
        return f"{path}: readable or writable by group or others (chmod 600 it)"
    if len(token) < MIN_TOKEN_BYTES:
        return f"{path}: shorter than {MIN_TOKEN_BYTES} bytes"
    return None


def token_problem(config: StackConfig, authorization: bytes | None) -> ApiError | None:
    """Why a request may not proceed (no usable token configured, a wrong one), or None."""
    expected = read_token(config)
    if not expected:
        return ApiError(503, "HOSTD_AUTH_MISSING", "hostd has no admin token configured")
    if token_unsafe(config, expected) is not None:
        return ApiError(503, "HOSTD_TOKEN_UNSAFE", "hostd's token file is unsafe; see its log")
    scheme, _, given = (authorization or b"").partition(b" ")
    if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), expected):
        return ApiError(403, "HOSTD_FORBIDDEN", "a valid admin token is required")
    return None


_LOOPBACK_HOST = re.compile(rb"^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?$", re.I)


class _TooLarge(Exception):
    pass


class TokenGate:
    """ASGI middleware: every ``/api/`` request is refused before anything reads its body
    unless it carries the admin token."""

    def __init__(self, app: Any, config: StackConfig) -> None:
        from starlette.responses import JSONResponse

        self.app = app
        self.config = config
        self.refusal = JSONResponse

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        problem = None
        if not _LOOPBACK_HOST.match(headers.get(b"host", b"")):
            problem = ApiError(421, "HOST_NOT_ALLOWED", "hostd answers loopback names only")
        else:
            problem = token_problem(self.config, headers.get(b"authorization"))
        length = headers.get(b"content-length", b"0")
        if problem is None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            problem = ApiError(413, "BODY_TOO_LARGE", f"a body is at most {MAX_BODY_BYTES} bytes")
        if problem is not None:
            await self.refusal(status_code=problem.status, content=problem.body)(
                scope, receive, send
            )
            return
        await self._limited(scope, receive, send)

    async def _limited(self, scope: Any, receive: Any, send: Any) -> None:
        """Count what the app reads of a body that did not say its length (chunked): past the
        limit, the app's own answer (FastAPI makes a 400 of any read error) is replaced."""
        received = 0
        exceeded = answered = False
        refusal = ApiError(413, "BODY_TOO_LARGE", f"a body is at most {MAX_BODY_BYTES} bytes")

        async def limited_receive() -> Any:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                exceeded = True
                raise _TooLarge
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal answered
            if not exceeded:
                await send(message)
            elif not answered:
                answered = True
                await self.refusal(status_code=413, content=refusal.body)(scope, receive, send)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if exceeded and not answered:
            await self.refusal(status_code=413, content=refusal.body)(scope, receive, send)
