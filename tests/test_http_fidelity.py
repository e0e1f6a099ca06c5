"""The HTTP gates against what real Odoo 18.0 serves: no generator tag without website (a healthy
Odoo must pass), the series from version_info, websocket on the gevent port and through the
public URL, and asset bundles that answer 200 while broken."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import postdeploy, run_ipai, set_env_keys
from loopback import free_port
from routing_proxy import RoutingProxy


def policy(stack: Path, text: str) -> None:
    path = stack / "test-policy.toml"
    path.write_text(text)
    set_env_keys(stack, policy=str(path))


def test_healthy_odoo_without_website_passes_and_names_its_series(
    stack_db: Any, standin: Any
) -> None:
    stack, _ = stack_db
    standin()
    result = postdeploy(stack)["http.health"]
    assert result["status"] == "pass", result["message"]
    assert result["measurements"]["server_series"] == "18.0"
    blob = {b["name"] for b in result["blobs"]}
    assert {"GET /web/login", "POST /web/webclient/version_info"} <= blob


def test_another_series_is_a_runtime_series_mismatch(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    standin("--server-series", "19.0")  # odoo:19 in an 18.0 stack
    result = postdeploy(stack)["http.health"]
    assert (result["status"], result["error_class"]) == ("fail", "runtime_series_mismatch")
    assert "the running server is Odoo 19.0 (series 19.0); the stack is 18.0" in result["message"]
    # The fingerprint is policy: an environment may rely on the login page alone.
    policy(stack, '[gates."http.health"]\nparams = { fingerprint = ["login"] }\n')
    assert postdeploy(stack)["http.health"]["status"] == "pass"
    policy(stack, '[gates."http.health"]\nparams = { fingerprint = ["generator"] }\n')
    refused = run_ipai("gate", "postdeploy", "--config", str(stack / "ipai.toml"))
    assert refused.returncode == 2  # a policy that cannot be what the operator meant runs nothing
    assert refused.stderr.endswith(
        "test-policy.toml: gates.http.health.params.fingerprint[0]: must be one of version_info,"
        " login\n"
    )


@pytest.fixture
def workers_odoo(stack_db: Any, standin: Any) -> Iterator[tuple[Path, Any, RoutingProxy, int]]:
    """The stand-in in workers mode behind a proxy that routes /websocket to its gevent port."""
    stack, _ = stack_db
    gevent = free_port()
    server = standin("--workers", "2", "--gevent-port", str(gevent))
    proxy = RoutingProxy(server.port, gevent)
    try:
        set_env_keys(
            stack,
            base_url=proxy.url,
            longpolling_url=f"http://127.0.0.1:{gevent}",
            workers=2,
        )
        yield stack, server, proxy, gevent
    finally:
        proxy.close()


def test_longpolling_in_workers_mode_and_its_routing(workers_odoo: Any) -> None:
    stack, server, proxy, _ = workers_odoo
    result = postdeploy(stack)["http.longpolling"]
    assert result["status"] == "pass", result["message"]
    assert result["measurements"]["mode"] == "workers"
    proxy.routes["/websocket"] = server.port  # a proxy that sends /websocket to 8069
    result = postdeploy(stack)["http.longpolling"]
    assert (result["status"], result["error_class"]) == ("fail", "websocket_not_routed")
    assert "HTTP/1.0 500" in result["message"]


def test_threaded_mode_serves_the_websocket_on_the_http_port(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    standin()
    set_env_keys(stack, workers=0)
    result = postdeploy(stack)["http.longpolling"]
    assert result["status"] == "pass", result["message"]
    assert result["measurements"]["mode"] == "threaded"


def test_a_gevent_child_that_cannot_bind_is_longpolling_down(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    gevent = free_port()
    blocker = socket.create_server(("127.0.0.1", gevent))  # accepts, never answers
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(blocker.accept()[0]), daemon=True).start()
    try:
        server = standin("--workers", "2", "--gevent-port", str(gevent))
        set_env_keys(
            stack,
            base_url=server.url,
            longpolling_url=f"http://127.0.0.1:{gevent}",
            workers=2,
        )
        policy(stack, '[gates."http.longpolling"]\nparams = { timeout = 1 }\n')
        result = postdeploy(stack)["http.longpolling"]
        assert (result["status"], result["error_class"]) == ("fail", "longpolling_down")
        assert "crash-looping" in result["message"]
    finally:
        for conn in accepted:
            conn.close()
        blocker.close()


@pytest.mark.parametrize(
    ("fault", "error_class", "says"),
    [
        ("broken-scss", "asset_css_error", "Odoo's CSS error block"),
        ("broken-js", "asset_js_syntax_error", "SyntaxError"),
        ("missing-asset", "asset_error_logged", "Could not get content for"),
    ],
)
def test_broken_bundles_answer_200_and_still_fail(
    stack_db: Any, standin: Any, fault: str, error_class: str, says: str
) -> None:
    stack, _ = stack_db
    server = standin("--fault", fault)
    set_env_keys(stack, log_source={"file": str(server.log)})
    results = postdeploy(stack, "--", "--ipai-since", "2000-01-01 00:00:00")
    result = results["http.assets"]
    assert (result["status"], result["error_class"]) == ("fail", error_class)
    assert says in result["message"]
    assert results["http.health"]["status"] == "pass"  # the login page itself is 200


def test_clean_bundles_pass(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    server = standin()
    set_env_keys(stack, log_source={"file": str(server.log)})
    result = postdeploy(stack, "--", "--ipai-since", "2000-01-01 00:00:00")["http.assets"]
    assert result["status"] == "pass", result["message"]
    assert len(result["measurements"]["bundles"]) == 3
