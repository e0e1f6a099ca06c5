"""Compose files: which ports are published on which address, and whether images are pinned."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core.addresses import allowed as allowlist_allows
from ..core.addresses import is_loopback
from ..core.errors import InputError
from ..core.textfile import read_text

MAX_COMPOSE_BYTES = 4 * 1024 * 1024
# ${VAR:-default} and ${VAR-default} (the default is what can be known before the deploy),
# ${VAR} and $VAR (known only at deploy); $$ is a literal $
_VAR = re.compile(r"\$\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|\$([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Published:
    file: str
    service: str
    address: str  # "" or 0.0.0.0 or :: = every interface
    port: str
    target: str

    @property
    def loopback(self) -> bool:
        return is_loopback(self.address)


@dataclass(frozen=True)
class Image:
    file: str
    service: str
    image: str


class Unrendered(InputError):
    """A value depends on a variable without a default: we cannot tell what it will be."""


def load_compose(path: Path) -> dict[str, Any]:
    text = read_text(path, "compose file", max_bytes=MAX_COMPOSE_BYTES)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: invalid YAML") from None
    if not isinstance(data, dict) or not isinstance(data.get("services", {}), dict):
        raise InputError(f"{path}: services: expected a mapping")
    return data


def interpolated(value: Any) -> tuple[str, str | None]:
    """Compose's interpolation as far as it is known without the deploy's environment: the
    text with defaults put in, and the first variable that has none (None when all do)."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(2) is None:
            missing.append(match.group(1) or match.group(3))
            return ""
        return match.group(2)

    text = _VAR.sub(substitute, str(value).replace("$$", "\0")).replace("\0", "$")
    return text, (missing[0] if missing else None)


def known(value: Any) -> str | None:
    """The interpolated value, or None when it depends on a variable without a default."""
    text, missing = interpolated(value)
    return text if missing is None else None


def _render(value: Any, where: str) -> str:
    text, missing = interpolated(value)
    if missing is not None:
        raise Unrendered(f"{where}: ${{{missing}}} has no default")
    return text


def published_ports(name: str, data: dict[str, Any]) -> list[Published]:
    out = []
    for service, spec in (data.get("services") or {}).items():
        spec = spec or {}
        if spec.get("network_mode") == "host":
            out.append(Published(name, service, "", "*", "network_mode: host"))
        for entry in spec.get("ports", []) or []:
            where = f"{name}: services.{service}.ports"
            if isinstance(entry, dict):
                address = _render(entry.get("host_ip", ""), where)
                port = _render(entry.get("published", ""), where) or "(ephemeral)"
                out.append(
                    Published(name, service, address, port, _render(entry.get("target", ""), where))
                )
                continue
            out.append(_short_syntax(name, service, _render(entry, where)))
    return out


def _short_syntax(name: str, service: str, text: str) -> Published:
    text = text.split("/", 1)[0]
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        rest = rest.lstrip(":")
        host_port, _, target = rest.rpartition(":")
        return Published(name, service, address, host_port or "(ephemeral)", target)
    parts = text.split(":")
    if len(parts) == 1:
        return Published(name, service, "", "(ephemeral)", parts[0])
    if len(parts) == 2:
        return Published(name, service, "", parts[0], parts[1])
    return Published(name, service, ":".join(parts[:-2]), parts[-2], parts[-1])


def images(name: str, data: dict[str, Any]) -> list[Image]:
    out = []
    for service, spec in (data.get("services") or {}).items():
        spec = spec or {}
        if "image" in spec:
            out.append(
                Image(name, service, _render(spec["image"], f"{name}: services.{service}.image"))
            )
    return out


def image_unpinned(image: str, require_digest: bool) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "no tag (means latest)"
    if last.endswith(":latest"):
        return "tag latest"
    if require_digest:
        return "a tag, not a digest (@sha256:...): tags move"
    return None


def allowed(published: Published, allowlist: list[str]) -> bool:
    return allowlist_allows(published.address, published.port, allowlist)


_ODOO_TAG = re.compile(r"^(\d+)(?:\.(\d+))?(?=$|[^\d])")


def image_series(image: str) -> str | None:
    """The Odoo series an Odoo image's tag names (``odoo:19`` -> ``19.0``, ``odoo:18.0-2024``
    -> ``18.0``), or None for other images and tags that name no series."""
    reference = image.split("@", 1)[0]
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        return None  # no tag (a registry port is not a tag)
    if "odoo" not in repository.rsplit("/", 1)[-1].lower():
        return None
    match = _ODOO_TAG.match(tag)
    if match is None:
        return None
    return f"{match.group(1)}.{match.group(2) or '0'}"
