"""Compose and odoo.conf checks on small inputs (the gates run them end to end elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_ipai.config.schema import first_problem
from pytest_ipai.core.addresses import allowed as address_allowed
from pytest_ipai.core.errors import InputError
from pytest_ipai.rules.compose import allowed, image_unpinned, images, load_compose, published_ports
from pytest_ipai.rules.odoo_cli import parse_odoo_args, service_command, systemd_exec_start
from pytest_ipai.rules.odoo_conf import check_odoo_conf


def compose(tmp_path: Path, text: str) -> list:
    path = tmp_path / "c.yml"
    path.write_text(text)
    return published_ports("c.yml", load_compose(path))


@pytest.mark.parametrize(
    ("entry", "address", "port"),
    [
        ('"8069:8069"', "", "8069"),
        ('"8069"', "", "(ephemeral)"),
        ('"127.0.0.1:8069:8069"', "127.0.0.1", "8069"),
        ('"[::]:8069:8069"', "::", "8069"),
        ('"[::1]:8072:8072/tcp"', "::1", "8072"),
        ('"0.0.0.0:443:443"', "0.0.0.0", "443"),
        ('"${HOST_IP:-127.0.0.1}:${PORT:-8069}:8069"', "127.0.0.1", "8069"),
    ],
)
def test_short_port_syntax(tmp_path: Path, entry: str, address: str, port: str) -> None:
    (published,) = compose(tmp_path, f"services:\n  odoo:\n    ports:\n      - {entry}\n")
    assert (published.address, published.port) == (address, port)


def test_long_syntax_network_mode_and_allowlist(tmp_path: Path) -> None:
    ports = compose(
        tmp_path,
        (
            "services:\n  web:\n    ports:\n      - target: 443\n        published: 443\n        host_ip: 0.0.0.0\n"
            "  agent:\n    network_mode: host\n  db:\n    expose: ['5432']\n"
        ),
    )
    assert [(p.service, p.address, p.port) for p in ports] == [
        ("web", "0.0.0.0", "443"),
        ("agent", "", "*"),
    ]
    assert allowed(ports[0], ["*:443"])
    assert not allowed(ports[0], ["127.0.0.1:443"])
    assert not allowed(ports[1], ["*:443"])
    assert not ports[0].loopback


def test_unrendered_variable_cannot_be_judged(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"services\.odoo\.ports: \$\{PORT\} has no default"):
        compose(tmp_path, 'services:\n  odoo:\n    ports:\n      - "${PORT}:8069"\n')


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"c\.yml:4: invalid YAML"):  # where the parser gave up
        compose(tmp_path, "services:\n  odoo:\n    ports: [\n")


@pytest.mark.parametrize(
    ("image", "digest_required", "problem"),
    [
        ("odoo", False, "no tag (means latest)"),
        ("registry.local:5000/odoo", False, "no tag (means latest)"),
        ("odoo:latest", False, "tag latest"),
        ("odoo:18.0", False, None),
        ("odoo:18.0", True, "a tag, not a digest (@sha256:...): tags move"),
        ("odoo:18.0@sha256:" + "a" * 64, True, None),
    ],
)
def test_image_pinning(image: str, digest_required: bool, problem: str | None) -> None:
    assert image_unpinned(image, digest_required) == problem


def test_images_listed_per_service(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("services:\n  odoo:\n    image: odoo:18.0\n  build_only:\n    build: .\n")
    assert [(i.service, i.image) for i in images("c.yml", load_compose(path))] == [
        ("odoo", "odoo:18.0")
    ]


def conf(
    tmp_path: Path, body: str, production: bool = True, proxy: bool = False, committed: bool = False
) -> dict[str, str]:
    path = tmp_path / "odoo.conf"
    path.write_text("[options]\n" + body)
    found = check_odoo_conf(path, production=production, behind_proxy=proxy, committed=committed)
    return {f.error_class: f.message for f in found}


STRONG = "admin_passwd = $pbkdf2-sha512$600000$abc$def\nlist_db = False\nworkers = 4\n"


def test_safe_conf(tmp_path: Path) -> None:
    assert conf(tmp_path, STRONG + "proxy_mode = True\n", proxy=True) == {}


@pytest.mark.parametrize(
    "password",
    [
        "admin", "changeme", "short-pw", "", "odoo",
        # long placeholders found in real stack repositories
        "CHANGE_ME_SUPERMASTER_PASSWORD", "CHANGE_ME_IN_PRODUCTION", "replace-me-before-deploy",
        "ADMIN_PASSWORD", "master_password",  # the name of a key, not a value
        "xxxxxxxxxxxxxxxx", "abababababababab",  # one or two characters repeated
    ],
)  # fmt: skip
def test_weak_master_password_never_echoed(tmp_path: Path, password: str) -> None:
    found = conf(tmp_path, STRONG.replace("$pbkdf2-sha512$600000$abc$def", password))
    assert (
        "admin_passwd: missing, a placeholder, or shorter than 12 characters"
        in found["master_password_weak"]
    )
    if password:
        assert password not in found["master_password_weak"].split("admin_passwd: ", 1)[1]


def test_literal_credentials_in_a_committed_conf(tmp_path: Path) -> None:
    literal = STRONG + "db_password = odoo\nsmtp_password = s3cr3t-relay-pw\n"
    assert conf(tmp_path, literal) == {}  # rendered on the host, never committed: fine
    path = tmp_path / "odoo.conf"
    found = check_odoo_conf(path, production=True, behind_proxy=False, committed=True)
    assert [(f.error_class, f.key, f.line) for f in found] == [
        ("secret_committed", "db_password", 5),
        ("secret_committed", "smtp_password", 6),
    ]
    assert found[0].message.startswith("odoo.conf:5: db_password: a literal credential")
    assert "odoo" not in found[0].message.split("db_password: ", 1)[1]
    rendered = STRONG + "db_password = False\nsmtp_password = ${SMTP_PASSWORD}\n"
    assert set(conf(tmp_path, rendered, committed=True)) == {"config_unrendered"}
    plain = "admin_passwd = a-long-enough-master\nlist_db = False\nworkers = 2\n"
    assert conf(tmp_path, plain, committed=True)["secret_committed"].startswith(
        "odoo.conf:2: admin_passwd: a plaintext master password in a committed file"
    )
    assert conf(tmp_path, plain) == {}


def test_unknown_and_unrendered_keys(tmp_path: Path) -> None:
    found = conf(tmp_path, STRONG + "wrokers = 4\ndb_password = ${DB_PASSWORD}\n")
    assert (
        found["unknown_config_key"]
        == "odoo.conf:5: wrokers: not an Odoo option (a typo is silently ignored by Odoo)"
    )
    assert found["config_unrendered"].startswith("odoo.conf:6: db_password:")
    assert "DB_PASSWORD" not in found["config_unrendered"]


def test_production_only_rules(tmp_path: Path) -> None:
    body = "admin_passwd = a-long-enough-master\n"
    assert set(conf(tmp_path, body, production=True)) == {"db_manager_exposed", "workers_disabled"}
    assert conf(tmp_path, body, production=False) == {}
    assert set(conf(tmp_path, body, production=False, proxy=True)) == {"proxy_mode_off"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "odoo.conf not found"),
        ("[server]\nx = 1\n", r"no \[options\] section"),
        ("[options]\nworkers = 1\nworkers = 2\n", "not a valid odoo.conf"),
    ],
)
def test_unreadable_conf(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "odoo.conf"
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError, match=message):
        check_odoo_conf(path, production=True, behind_proxy=False)


def test_the_command_line_wins_over_the_file_and_is_named(tmp_path: Path) -> None:
    """odoo.conf with workers = 0 and the database list on, run as the official image runs it:
    the compose command's options are what the server uses."""
    base = tmp_path / "docker-compose.yml"
    base.write_text(
        "services:\n  odoo:\n    image: odoo:18.0\n    command: ['--', '--workers=0']\n"
    )
    prod = tmp_path / "docker-compose.prod.yml"
    prod.write_text(
        "services:\n  odoo:\n    command: >-\n      -- --workers=${ODOO_WORKERS:-4} --no-database-list"
        " --proxy-mode --db-filter=^prod$ --http-interface=${BIND}\n"
    )
    loaded = [(str(f), load_compose(f)) for f in (base, prod)]
    words, origin = service_command(loaded, "odoo") or ([], "")
    assert origin == "docker-compose.prod.yml: services.odoo.command"  # the later file wins
    cli = parse_odoo_args(words, origin)
    assert cli.options == {"workers": "4", "list_db": "False", "proxy_mode": "True",
                           "dbfilter": "^prod$"}  # fmt: skip
    assert cli.unknown == ["http_interface"]  # ${BIND} has no default: decided at deploy
    path = tmp_path / "odoo.conf"
    path.write_text("[options]\nadmin_passwd = $pbkdf2-sha512$600000$abc$def\nworkers = 0\n")
    found = check_odoo_conf(path, production=True, behind_proxy=True, cli=cli)
    assert found == []  # before, this was workers_disabled, db_manager_exposed, proxy_mode_off
    worse = parse_odoo_args(["odoo", "--workers", "0", "-w", "pg-Secret-1"], "odoo.service")
    found = check_odoo_conf(path, production=True, behind_proxy=False, cli=worse,
                            cli_committed=True)  # fmt: skip
    messages = {f.error_class: f.message for f in found}
    assert messages["workers_disabled"].startswith("odoo.service (overrides odoo.conf): workers:")
    assert messages["secret_committed"].startswith("odoo.service: db_password:")
    assert messages["db_manager_exposed"].startswith("odoo.conf:-: list_db:")
    assert "pg-Secret-1" not in str(found)


@pytest.mark.parametrize(
    ("address", "port", "proto", "entry", "expected"),
    [
        ("10.89.0.1", "53", "udp", "udp:10.89.0.0/16:53", True),
        ("10.89.0.1", "53", "tcp", "udp:10.89.0.0/16:53", False),
        ("10.90.0.1", "53", "udp", "udp:10.89.0.0/16:53", False),
        ("10.89.0.1", "54", "udp", "10.89.0.0/16:53", False),
        ("10.89.0.1", "53", None, "udp:10.89.0.0/16:53", True),  # a compose binding: no proto
        ("fd00::5", "443", "tcp", "tcp:[fd00::]/8:443", True),
        ("0.0.0.0", "53", "udp", "udp:0.0.0.0/0:53", False),  # every interface is no network
        ("0.0.0.0", "443", "tcp", "*:443", True),
    ],
)
def test_allowlist_protocols_and_networks(
    address: str, port: str, proto: str | None, entry: str, expected: bool
) -> None:
    assert address_allowed(address, port, [entry], proto) is expected
    assert first_problem({"stack": {"addons_manifest": "a.json"},
                          "environments": {"dev": {"port_allowlist": [entry]}}},
                         "config") is None  # fmt: skip


def test_a_systemd_units_command_line() -> None:
    # systemctl show -p ExecStart --value odoo.service, as systemd 252 answers
    answer = (
        "{ path=/opt/odoo/venv/bin/python3 ; argv[]=/opt/odoo/venv/bin/python3 "
        "/opt/odoo/odoo-bin -c /etc/odoo/odoo.conf --workers=4 --proxy-mode ; "
        "ignore_errors=no ; start_time=[Sat 2026-12-05 10:00:00 UTC] ; stop_time=[n/a] ; "
        "pid=1234 ; code=(null) ; status=0/0 }\n"
    )
    words = systemd_exec_start(answer)
    assert words is not None and words[-2:] == ["--workers=4", "--proxy-mode"]
    cli = parse_odoo_args(words, "systemd unit odoo.service: ExecStart")
    assert cli.options == {"config": "/etc/odoo/odoo.conf", "workers": "4", "proxy_mode": "True"}
    assert systemd_exec_start("") is None  # a unit without ExecStart
