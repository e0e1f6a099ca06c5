"""hostd under hostile clients and bad settings: only `Bearer <token>` from a file only its owner
reads, loopback Host names only, a body limit that holds after authentication, settings refused
in one line before uvicorn starts, and run output redacted before it is cut."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
from conftest import run_ipai, set_env_keys
from hostd_bed import TOKEN, HostdServer
from loopback import free_port

RUN = "20261202T000000Z-00000000"  # a well-formed run id no run has


@pytest.fixture
def server(demo_stack: Path, tmp_path: Path) -> Iterator[HostdServer]:
    hostd = HostdServer(demo_stack / "ipai.toml", tmp_path)
    try:
        set_env_keys(demo_stack, hostd=hostd.settings())
        hostd.write_token()
        hostd.start()
        yield hostd
    finally:
        hostd.kill()
    assert TOKEN not in hostd.log.read_text()


def _get(server: HostdServer, headers: dict[str, str | bytes]) -> tuple[int, str]:
    answer = requests.get(f"{server.url}/api/runs", params={"id": RUN}, headers=headers, timeout=10)
    return answer.status_code, answer.json()["error_class"]


def test_only_a_bearer_token_from_a_private_file_is_accepted(server: HostdServer) -> None:
    assert _get(server, {"Authorization": f"Bearer {TOKEN}"}) == (404, "RUN_NOT_FOUND")
    assert _get(server, {"Authorization": f"bearer {TOKEN}"}) == (404, "RUN_NOT_FOUND")  # RFC 7235
    assert _get(server, {"Authorization": TOKEN}) == (403, "HOSTD_FORBIDDEN")  # a bare token
    assert _get(server, {"Authorization": f"Basic {TOKEN}"}) == (403, "HOSTD_FORBIDDEN")
    server.token_file.chmod(0o644)
    assert _get(server, {"Authorization": f"Bearer {TOKEN}"}) == (503, "HOSTD_TOKEN_UNSAFE")
    server.write_token("short-token-0123")
    assert _get(server, {"Authorization": "Bearer short-token-0123"}) == (503, "HOSTD_TOKEN_UNSAFE")
    # compared as bytes, whatever they encode
    token = "jeton-d'administration-très-secret-ü".encode()
    server.write_token(token)
    assert _get(server, {"Authorization": b"Bearer " + token}) == (404, "RUN_NOT_FOUND")
    latin = "jeton-d'administration-très-secret-ü".encode("latin-1")
    assert _get(server, {"Authorization": b"Bearer " + latin}) == (403, "HOSTD_FORBIDDEN")


def test_a_foreign_host_name_is_refused_even_with_the_token(server: HostdServer) -> None:
    bearer = f"Bearer {TOKEN}"
    assert _get(server, {"Authorization": bearer, "Host": "evil.example"}) == (
        421,
        "HOST_NOT_ALLOWED",
    )
    assert _get(server, {"Authorization": bearer, "Host": f"evil.example:{server.port}"}) == (
        421,
        "HOST_NOT_ALLOWED",
    )
    assert _get(server, {"Authorization": bearer, "Host": f"localhost:{server.port}"}) == (
        404,
        "RUN_NOT_FOUND",
    )


def _raw_post(port: int, head: bytes, body_chunks: int) -> bytes:
    """A POST that claims or streams a large body, read back as the raw answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head)
        try:
            for _ in range(body_chunks):  # 1 MiB chunks of chunked encoding
                sock.sendall(b"100000\r\n" + b"x" * 0x100000 + b"\r\n")
        except OSError:
            pass  # hostd answered and closed: the rest was never read
        sock.settimeout(20)
        answer = b""
        while True:
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", head, re.I)
            if length and len(body) >= int(length.group(1)):
                return answer
            data = sock.recv(65536)
            if not data:
                return answer
            answer += data


def test_bodies_are_limited_after_authentication_too(server: HostdServer) -> None:
    auth = f"Authorization: Bearer {TOKEN}\r\nHost: 127.0.0.1:{server.port}\r\n".encode()
    claimed = (
        b"POST /api/exec HTTP/1.1\r\n" + auth + b"Content-Type: application/json\r\n"
        b"Content-Length: 52428800\r\n\r\n"
    )
    chunked = (
        b"POST /api/exec HTTP/1.1\r\n" + auth + b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    assert server.proc is not None
    before = psutil.Process(server.proc.pid).memory_info().rss
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: _raw_post(server.port, *(
            (claimed, 0) if i % 2 else (chunked, 50))), range(8)))  # fmt: skip
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b'"error_class":"BODY_TOO_LARGE"' in answer
    grown = psutil.Process(server.proc.pid).memory_info().rss - before
    assert grown < 64 * 1024 * 1024  # 8 bodies of 50 MiB were never held
    assert not list(server.runs.glob("*.json"))


def test_bad_settings_are_one_line_before_uvicorn(demo_stack: Path, tmp_path: Path) -> None:
    hostd = HostdServer(demo_stack / "ipai.toml", tmp_path)
    config = str(demo_stack / "ipai.toml")
    hostd.write_token(mode=0o640)
    set_env_keys(demo_stack, hostd=hostd.settings())
    proc = run_ipai("hostd", "serve", "--config", config, timeout=60)
    assert (proc.returncode, proc.stderr) == (
        2,
        f"ipai: error: hostd.token_file: {hostd.token_file}: readable or writable by group or "
        "others (chmod 600 it)\n",
    )
    hostd.write_token()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    set_env_keys(demo_stack, hostd={**hostd.settings(), "runs_dir": str(blocker / "runs")})
    proc = run_ipai("hostd", "serve", "--config", config, timeout=60)
    assert (proc.returncode, proc.stderr) == (
        2,
        f"ipai: error: hostd.runs_dir {blocker / 'runs'}: cannot create: Not a directory\n",
    )
    set_env_keys(demo_stack, hostd=hostd.settings())
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = run_ipai(
            "hostd", "serve", "--config", config, "--listen", f"127.0.0.1:{port}", timeout=60
        )
    assert (proc.returncode, proc.stderr) == (
        2,
        f"ipai: error: hostd.listen 127.0.0.1:{port}: cannot listen: Address already in use\n",
    )


def test_run_output_is_redacted_before_it_is_cut(tmp_path: Path) -> None:
    secret = "Qv7#Wk2!Pm9@Lx4$"
    result = tmp_path / "result.json"
    printer = f"import sys; sys.stdout.write({secret!r} + 'y' * (8000 - 5))"
    subprocess.run(
        [sys.executable, "-m", "ipai_ops.hostd_exec", str(result), "--timeout", "60",
         "--secret-env", "RUN_SECRET", "--", sys.executable, "-c", printer],
        env={**os.environ, "RUN_SECRET": secret}, check=True, timeout=120,
    )  # fmt: skip
    tail = json.loads(result.read_text())["output_tail"]
    assert len(tail) == 8000 and tail.endswith("y" * 100)
    assert secret[-5:] not in tail and secret[-4:] not in tail  # a cut first kept these
