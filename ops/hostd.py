"""``ipai hostd serve``: the host executor. A small HTTP API on a loopback address that runs a
fixed set of actions (argv templates of ``ipai`` itself), one run per action at a time, for
callers holding the admin token. Built on FastAPI (Starlette) and served by uvicorn.

Every ``/api/`` request passes, in this order and before anything reads its body: the ``Host``
header names a loopback address or ``localhost`` (a DNS-rebinding page names its own domain:
421 ``HOST_NOT_ALLOWED``); the token, read from ``hostd.token_file`` on every request (so it
can be rotated), exists (503 ``HOSTD_AUTH_MISSING``), is at least 32 bytes in a file only its
owner can read (503 ``HOSTD_TOKEN_UNSAFE``, as ssh refuses an open key) and equals, as bytes,
what ``Authorization: Bearer`` carries (403 ``HOSTD_FORBIDDEN``, constant-time). A body over
MAX_BODY_BYTES is 413 ``BODY_TOO_LARGE``, however it is sent. The token is never logged or
echoed.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import EXIT_OK, IpaiError

from .deploy_run import state_dir
from .hostd_gate import (
    ApiError,
    TokenGate,
    read_token,
    settings,
    token_unsafe,
)
from .hostd_models import ACTIONS, ErrorBody, ExecAccepted, ExecRequest, RunRecord
from .hostd_runs import RunStore

if TYPE_CHECKING:  # FastAPI is imported when the app is built: ipai doctor does not load it
    from fastapi import Request
    from fastapi.responses import JSONResponse

DEFAULT_LISTEN = "127.0.0.1:8787"
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")

INVALID = "INVALID_REQUEST"
RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")


def runs_dir(config: StackConfig) -> Path:
    name = settings(config).get("runs_dir")
    if name is not None:
        return (config.base_dir / str(name)).resolve()
    try:
        return state_dir(config) / "hostd-runs"
    except IpaiError:
        return config.env.evidence_root.parent / "hostd-runs"


def maintenance_file(config: StackConfig) -> Path | None:
    from .deploy_steps import maintenance_path

    try:
        return maintenance_path(config, dict(config.env.raw.get("deploy") or {}))
    except IpaiError:
        return None


def loopback(listen: str) -> tuple[str, int]:
    """``ADDR:PORT`` on a loopback address, or an error naming what was refused."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise IpaiError(f"--listen {listen!r}: expected ADDR:PORT such as 127.0.0.1:8787")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise IpaiError(f"hostd_bind_refused: {host!r} is not an IP address") from None
    if not address.is_loopback:
        raise IpaiError(
            f"hostd_bind_refused: {host} is not a loopback address (127.0.0.0/8 or ::1); "
            "hostd never listens on a network"
        )
    return host, int(port)


# --------------------------------------------------------------------------- actions
def action_argv(
    config: StackConfig, action: str, ref: str | None, lines: int | None
) -> tuple[list[str], str | None]:
    """The fixed argv of an action and the gate that judges it (None: the exit code)."""
    base = [sys.executable, "-m", "ipai_ops.cli"]
    where = ["--config", str(config.file), "--env", config.env.name]
    if action == "doctor":
        return [*base, "gate", "postdeploy", *where], None
    if action == "deploy_and_verify":
        if ref is None or not FULL_SHA.match(ref):
            raise ApiError(400, INVALID, "deploy_and_verify needs ref: a full 40-hex SHA")
        return [*base, "deploy", *where, "--ref", ref], None
    if action == "port_audit":
        gate = ["--", "-k", "test_no_public_ports", "--ipai-net-scope", "host"]  # an audit
        return [*base, "gate", "postdeploy", *where, *gate], "net.no_public_ports"
    if action == "tail_logs":
        count = 200 if lines is None else lines
        if not 1 <= count <= 1000:
            raise ApiError(400, INVALID, "lines: between 1 and 1000")
        return [*base, "logs", "tail", *where, "--lines", str(count)], None
    return [*base, "evidence", "list", *where], None


# --------------------------------------------------------------------------- the app
def create_app(config: StackConfig, *, store: bool = True) -> Any:
    from fastapi import Depends, FastAPI, Header, Query
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    ttl = float(settings(config).get("run_ttl_minutes", 60)) * 60
    keep = float(settings(config).get("run_keep_days", 30))
    runs_store = RunStore(runs_dir(config), ttl, keep) if store else None
    secret_env = list(config.env.secret_env_vars)

    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody} for code in (400, 403, 404, 409, 413, 421, 503)
    }
    app = FastAPI(
        title="pytest-ipai hostd",
        version="1",
        description="The host executor of pytest-ipai: allowlisted actions, one run per action.",
        docs_url=None,  # the interactive pages load scripts from a CDN; the document is enough
        redoc_url=None,
    )
    generate = app.openapi
    app.openapi = lambda: _without_422(generate())  # type: ignore[method-assign]

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=exc.body)

    # A malformed request gets the same envelope as every other error (400 INVALID_REQUEST,
    # naming the field), not FastAPI's 422 list; the value sent is never echoed.
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = list(exc.errors())
        first = problems[0] if problems else {}
        where = ".".join(str(part) for part in first.get("loc", ())) or "request"
        message = f"{where}: {first.get('msg', 'invalid')}"
        return await api_error(_request, ApiError(400, INVALID, message))

    # The token is checked by TokenGate (below), before FastAPI reads a body; this dependency
    # only puts the header into the OpenAPI document.
    async def bearer_header(
        authorization: str | None = Header(default=None, description="Bearer TOKEN"),
    ) -> None:
        return None

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own answers (unknown path, wrong method, a body it cannot parse) in the
        # envelope every error has.
        kind = {400: INVALID, 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
            exc.status_code, "HTTP_ERROR"
        )
        body = ApiError(exc.status_code, kind, str(exc.detail)).body
        return JSONResponse(status_code=exc.status_code, content=body, headers=exc.headers)

    @app.post(
        "/api/exec",
        response_model=ExecAccepted,
        responses=errors,
        dependencies=[Depends(bearer_header)],
    )
    def execute(
        body: ExecRequest,
        x_ipai_deploy_run: str | None = Header(default=None, max_length=64),
    ) -> Any:
        if body.action not in ACTIONS:
            raise ApiError(403, "ACTION_NOT_ALLOWED", "that action is not on the allowlist")
        if body.action == "doctor":
            flag = maintenance_file(config)
            holder = _maintenance_holder(flag)
            if holder is not None and x_ipai_deploy_run != holder:
                raise ApiError(
                    503,
                    "MAINTENANCE_MODE",
                    "a deploy holds maintenance mode; only that deploy may ask for a doctor",
                    active_run_id=holder,
                )
        argv, judge = action_argv(config, body.action, body.ref, body.lines)
        assert runs_store is not None
        record, started = runs_store.start(body.action, argv, judge, secret_env)
        if not started:
            raise ApiError(
                409,
                "ALREADY_RUNNING",
                f"{body.action} is running; join it",
                action=body.action,
                active_run_id=record["run_id"],
                started_at=record["started_at"],
            )
        return {k: record[k] for k in ("run_id", "action", "status", "started_at")}

    @app.get(
        "/api/runs",
        response_model=RunRecord | list[RunRecord],
        responses=errors,
        dependencies=[Depends(bearer_header)],
    )
    # Status reads are async: a burst of polls is served on the event loop without a
    # thread-pool hop each (bench/bench_hostd.py: about 40% lower latency). Starting a run
    # stays sync: it takes a file lock and forks.
    async def runs(id: str | None = Query(default=None, max_length=64)) -> Any:
        assert runs_store is not None
        if id is None:
            return runs_store.runs()
        record = runs_store.get(id) if RUN_ID.match(id) else None
        if record is None:
            raise ApiError(404, "RUN_NOT_FOUND", "no run with that id")
        return record

    app.add_middleware(TokenGate, config=config)
    return app


def _maintenance_holder(flag: Path | None) -> str | None:
    if flag is None or not flag.is_file():
        return None
    try:
        return str(json.loads(flag.read_text("utf-8"))["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"  # a flag we cannot read still means maintenance


def openapi_document() -> str:
    """The API's OpenAPI document, as shipped in ``schemas/hostd.openapi.json``."""
    from pytest_ipai.config.stack import Environment

    placeholder = StackConfig(
        file=Path("ipai.toml"), raw={}, env=Environment("prod", {}, Path("/nonexistent"))
    )
    return json.dumps(create_app(placeholder, store=False).openapi(), indent=1, sort_keys=True)


def _without_422(document: dict[str, Any]) -> dict[str, Any]:
    """Validation errors are answered as 400 INVALID_REQUEST, never as FastAPI's 422."""
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        document["components"]["schemas"].pop(name, None)
    return document


def serve(config: StackConfig, listen: str | None) -> int:
    """Every setting is checked before uvicorn starts: a bad one is one line and exit 2."""
    import socket

    import uvicorn

    host, port = loopback(listen or str(settings(config).get("listen", DEFAULT_LISTEN)))
    token = read_token(config)
    unsafe = token_unsafe(config, token) if token else None
    if unsafe is not None:
        raise IpaiError(f"hostd.token_file: {unsafe}")
    folder = runs_dir(config)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IpaiError(f"hostd.runs_dir {folder}: cannot create: {exc.strerror}") from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise IpaiError(f"hostd.listen {host}:{port}: cannot listen: {exc.strerror}") from None
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
    return EXIT_OK
