"""Odoo's command-line options, as the odoo.conf keys they set: the effective configuration of
a server is odoo.conf overlaid with the options of its command line (``--workers=2`` on a compose
service's ``command`` wins over ``workers = 0`` in the file).

The names follow odoo/tools/config.py (16.0-19.0): ``--foo-bar`` sets ``foo_bar`` unless the
table below says otherwise; flags set a boolean.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compose import known
from .compose_merge import Reset, plain

# options whose key is not their long name with dashes as underscores
_RENAMED = {
    "database": "db_name", "d": "db_name", "db-filter": "dbfilter", "smtp": "smtp_server",
    "load": "server_wide_modules", "p": "http_port", "w": "db_password", "r": "db_user",
    "D": "data_dir", "i": "init", "u": "update", "c": "config", "l": "language",
    "longpolling-port": "gevent_port", "xmlrpc-port": "http_port", "xmlrpc-interface":
    "http_interface",
}  # fmt: skip
# flags: the key and the value they set
_FLAGS = {
    "proxy-mode": ("proxy_mode", "True"), "x-sendfile": ("x_sendfile", "True"),
    "no-database-list": ("list_db", "False"), "no-http": ("http_enable", "False"),
    "no-xmlrpc": ("http_enable", "False"), "stop-after-init": ("stop_after_init", "True"),
    "without-demo": ("without_demo", "all"), "unaccent": ("unaccent", "True"),
    "smtp-ssl": ("smtp_ssl", "True"), "test-enable": ("test_enable", "True"),
}  # fmt: skip


@dataclass(frozen=True)
class CommandLine:
    options: dict[str, str]  # odoo.conf key -> value
    origin: str  # where the command line was read: "docker-compose.yml: services.odoo.command"
    unknown: list[str] = field(default_factory=list)  # keys set from a variable without default


def parse_odoo_args(argv: list[str], origin: str) -> CommandLine:
    """The odoo.conf keys an Odoo command line sets. Words before the first option (the
    program, ``odoo``, ``--``, a sub-command) are skipped."""
    options: dict[str, str] = {}
    unknown: list[str] = []
    words = [w for w in argv if w != "--"]
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("-") or word == "-":
            continue
        name, has_value, value = word.lstrip("-").partition("=")
        if name in _FLAGS and not has_value:
            key, flag_value = _FLAGS[name]
            options[key] = flag_value
            continue
        key = _RENAMED.get(name, name.replace("-", "_"))
        if not has_value:
            if index < len(words) and not words[index].startswith("-"):
                value = words[index]
                index += 1
            else:
                value = "True"  # a flag this table does not know
        rendered = known(value)
        if rendered is None:
            unknown.append(key)  # decided at deploy: the file's value is judged instead
            options.pop(key, None)
        else:
            options[key] = rendered
    return CommandLine(options, origin, unknown)


def service_command(
    compose: list[tuple[str, dict[str, Any]]], service: str
) -> tuple[list[str], str] | None:
    """The service's command (entrypoint words after it) as compose merges the files: a later
    file's ``command`` or ``entrypoint`` replaces an earlier one. None when no file sets one."""
    found: dict[str, tuple[list[str], str]] = {}
    for name, data in compose:
        spec = (data.get("services") or {}).get(service)
        if not isinstance(spec, dict):
            continue
        for part in ("entrypoint", "command"):
            if isinstance(spec.get(part), Reset):
                found.pop(part, None)
            elif part in spec and spec[part] is not None:
                words = _words(plain(spec[part]))
                found[part] = (words, f"{Path(name).name}: services.{service}.{part}")
    if not found:
        return None
    words = found.get("entrypoint", ([], ""))[0] + found.get("command", ([], ""))[0]
    origin = found["command"][1] if "command" in found else found["entrypoint"][1]
    return words, origin


def _words(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        return shlex.split(str(value))  # compose splits a string command like a shell would
    except ValueError:
        return str(value).split()


_EXEC_ARGV = re.compile(r"argv\[\]=(.*?) ; ")


def systemd_exec_start(text: str) -> list[str] | None:
    """The command line of ``systemctl show -p ExecStart --value UNIT``'s answer
    (``{ path=... ; argv[]=/usr/bin/odoo -c /etc/odoo.conf --workers=4 ; ignore_errors=no ; ...
    }``), or None when it holds none."""
    match = _EXEC_ARGV.search(text)
    return _words(match.group(1)) if match else None
