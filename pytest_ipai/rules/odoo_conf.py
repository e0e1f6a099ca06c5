"""odoo.conf safety: database manager, master password, unrendered templates, unknown keys,
proxy mode, workers. Judged on the effective configuration (the file overlaid with the Odoo
command line, rules/odoo_cli.py), each finding naming where its value came from. Never echoes
a value."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from ..core.textfile import read_text
from .odoo_cli import CommandLine

# Options of odoo-bin (odoo/tools/config.py) across 16.0-19.0, as they appear in [options].
KNOWN_OPTIONS = frozenset(
    [
        "addons_path",
        "admin_passwd",
        "bin_path",
        "csv_internal_sep",
        "data_dir",
        "db_host",
        "db_maxconn",
        "db_maxconn_gevent",
        "db_name",
        "db_password",
        "db_port",
        "db_replica_host",
        "db_replica_port",
        "db_sslmode",
        "db_template",
        "db_user",
        "db_app_name",
        "dbfilter",
        "demo",
        "email_from",
        "from_filter",
        "geoip_city_db",
        "geoip_country_db",
        "geoip_database",
        "gevent_port",
        "http_enable",
        "http_interface",
        "http_port",
        "import_partial",
        "init",
        "language",
        "limit_memory_hard",
        "limit_memory_hard_gevent",
        "limit_memory_soft",
        "limit_memory_soft_gevent",
        "limit_request",
        "limit_time_cpu",
        "limit_time_real",
        "limit_time_real_cron",
        "limit_time_worker_cron",
        "list_db",
        "load_language",
        "log_db",
        "log_db_level",
        "log_handler",
        "log_level",
        "logfile",
        "longpolling_port",
        "max_cron_threads",
        "osv_memory_age_limit",
        "osv_memory_count_limit",
        "overwrite_existing_translations",
        "pg_path",
        "pidfile",
        "pre_upgrade_scripts",
        "proxy_mode",
        "publisher_warranty_url",
        "reportgz",
        "root_path",
        "screencasts",
        "screenshots",
        "server_wide_modules",
        "shell_interface",
        "smtp_password",
        "smtp_port",
        "smtp_server",
        "smtp_ssl",
        "smtp_ssl_certificate_filename",
        "smtp_ssl_private_key_filename",
        "smtp_user",
        "stop_after_init",
        "syslog",
        "test_enable",
        "test_file",
        "test_tags",
        "transient_age_limit",
        "translate_modules",
        "unaccent",
        "update",
        "upgrade_path",
        "websocket_keep_alive_timeout",
        "websocket_rate_limit_burst",
        "websocket_rate_limit_delay",
        "without_demo",
        "workers",
        "x_sendfile",
        "dev_mode",
        "config",
        "save",
    ]
)
PLACEHOLDERS = frozenset(
    {
        "admin",
        "odoo",
        "password",
        "changeme",
        "change_me",
        "change-me",
        "secret",
        "master",
        "12345678",
        "123456789012",
        "false",
        "none",
        "todo",
        "xxx",
        "xxxxxxxx",
        "placeholder",
        "your_password",
        "yourpassword",
    }
)
_UNRENDERED = re.compile(r"\$\{[^}]*\}|\{\{[^}]*\}\}|@@[A-Z_]+@@|<%=?")
MIN_MASTER_PASSWORD = 12
# Words that start a value nobody chose: CHANGE_ME_SUPERMASTER_PASSWORD, REPLACE_ME, your_...
_PLACEHOLDER_START = re.compile(
    r"^(change[_-]?me|replace[_-]?me|your[_-]|insert[_-]|todo|fixme|set[_-]?me)"
)
_PASSWORD_KEYS = frozenset(
    {"adminpasswd", "adminpassword", "masterpassword", "masterpasswd", "password", "passwd",
     "dbpassword", "postgrespassword", "odooadminpasswd", "odoopassword", "smtppassword"}
)  # fmt: skip
# Credentials Odoo reads from odoo.conf: committed literally, they are committed secrets.
_CREDENTIALS = ("db_password", "smtp_password")
_NO_VALUE = frozenset({"", "false", "none"})


def weak_password(value: str) -> bool:
    """A value nobody chose: a known placeholder, CHANGE_ME..., the name of a password key,
    one or two characters repeated, or shorter than MIN_MASTER_PASSWORD."""
    low = value.strip().lower()
    bare = re.sub(r"[^a-z0-9]", "", low)
    return (
        len(value.strip()) < MIN_MASTER_PASSWORD
        or low in PLACEHOLDERS
        or bool(_PLACEHOLDER_START.match(low))
        or bare in _PASSWORD_KEYS
        or len(set(low)) <= 2
    )


@dataclass(frozen=True)
class ConfFinding:
    error_class: str
    key: str
    line: int | None
    message: str


def _lines(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    section = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        elif section == "options" and "=" in stripped and not stripped.startswith(("#", ";")):
            out.setdefault(stripped.split("=", 1)[0].strip(), number)
    return out


def read_conf(path: Path) -> tuple[dict[str, str], dict[str, int]]:
    """The [options] of an odoo.conf, and the line each key is set on."""
    text = read_text(path, "odoo.conf")
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise InputError(f"{path}: not a valid odoo.conf: {first}") from None
    if not parser.has_section("options"):
        raise InputError(f"{path}: no [options] section")
    return dict(parser.items("options")), _lines(text)


def check_odoo_conf(
    path: Path,
    *,
    production: bool,
    behind_proxy: bool,
    committed: bool = False,
    cli: CommandLine | None = None,
    cli_committed: bool = False,
) -> list[ConfFinding]:
    """``committed``: git tracks the file, so every literal credential in it is in the history.
    ``cli``: the options of the server's command line, which win over the file's
    (``cli_committed``: the file that holds that command line is tracked)."""
    in_file, where = read_conf(path)
    from_cli = dict(cli.options) if cli else {}
    options = {**in_file, **from_cli}
    findings: list[ConfFinding] = []

    def add(error_class: str, key: str, message: str) -> None:
        if key in from_cli and cli is not None:
            place = f"{cli.origin} (overrides {path.name})" if key in in_file else cli.origin
            findings.append(ConfFinding(error_class, key, None, f"{place}: {key}: {message}"))
            return
        line = where.get(key)
        findings.append(
            ConfFinding(error_class, key, line, f"{path.name}:{line or '-'}: {key}: {message}")
        )

    for key, value in in_file.items():
        if key not in KNOWN_OPTIONS:
            add(
                "unknown_config_key", key, "not an Odoo option (a typo is silently ignored by Odoo)"
            )
        if _UNRENDERED.search(value):
            add("config_unrendered", key, "holds an unrendered template placeholder")
    list_db = options.get("list_db", "True").strip().lower()
    if production and list_db not in ("false", "0", "no", "off"):
        add(
            "db_manager_exposed",
            "list_db",
            "must be False in production (the database manager is public)",
        )
    master = options.get("admin_passwd", "").strip()
    if not _UNRENDERED.search(master) and not master.startswith("$pbkdf2-"):
        if weak_password(master):
            add(
                "master_password_weak",
                "admin_passwd",
                "missing, a placeholder, or shorter than 12 characters (value not shown)",
            )
        elif committed:
            add(
                "secret_committed",
                "admin_passwd",
                "a plaintext master password in a committed file (value not shown; commit Odoo's "
                "$pbkdf2-sha512$ hash or render it at deploy)",
            )
    for key in _CREDENTIALS:
        value = options.get(key, "").strip()
        tracked = cli_committed if key in from_cli else committed
        if tracked and value.lower() not in _NO_VALUE and not _UNRENDERED.search(value):
            add(
                "secret_committed",
                key,
                "a literal credential in a committed file (value not shown; render it at deploy "
                "from a secret, e.g. ${DB_PASSWORD})",
            )
    if behind_proxy and options.get("proxy_mode", "False").strip().lower() not in (
        "true",
        "1",
        "yes",
        "on",
    ):
        add(
            "proxy_mode_off",
            "proxy_mode",
            "must be True behind a reverse proxy (client IPs and https)",
        )
    if production:
        try:
            workers = int(options.get("workers", "0"))
        except ValueError:
            workers = -1
        if workers <= 0:
            add(
                "workers_disabled",
                "workers",
                "must be a positive number in production (threaded mode cannot scale)",
            )
    return findings
