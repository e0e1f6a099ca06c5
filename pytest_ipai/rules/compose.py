"""Compose files: which ports are published on which address, and whether images are pinned."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.addresses import allowed as allowlist_allows
from ..core.addresses import is_loopback
from ..core.errors import InputError
from ..core.textfile import read_yaml
from .compose_merge import ComposeLoader, Merged, merge_files

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
    """One compose file as written, ``!reset`` and ``!override`` kept as markers for the merge
    (compose_merge); read it through ``merged_compose`` to judge what runs."""
    data = read_yaml(path, "compose file", loader=ComposeLoader)
    if not isinstance(data, dict) or not isinstance(data.get("services", {}), dict):
        raise InputError(f"{path}: services: expected a mapping")
    return data


def merged_compose(base: Path, names: list[str]) -> tuple[Merged, list[tuple[str, dict[str, Any]]]]:
    """An environment's compose files merged in order, and each file as written (for where
    a value came from)."""
    loaded = [(name, load_compose(base / name)) for name in names]
    return merge_files(loaded), loaded


def origin_in(loaded: list[tuple[str, dict[str, Any]]]) -> Origin:
    """Which of the loaded files set a service's value: the last one whose service lists the
    entry under the key (for a scalar, holds it)."""
    return lambda service, key, entry: _origin(loaded, service, key, entry)


def _origin(loaded: list[tuple[str, dict[str, Any]]], service: str, key: str, entry: Any) -> str:
    for name, data in reversed(loaded):
        spec = (data.get("services") or {}).get(service)
        values = spec.get(key) if isinstance(spec, dict) else None
        values = getattr(values, "value", values)  # !override keeps its list in .value
        if (isinstance(values, list) and entry in values) or values == entry:
            return str(name)
    return loaded[-1][0] if loaded else ""


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


Origin = Callable[[str, str, Any], str]  # (service, key, entry) -> the file that set it


def published_ports(
    name: str, data: dict[str, Any], origin_of: Origin | None = None
) -> list[Published]:
    out = []
    for service, spec in (data.get("services") or {}).items():
        spec = spec or {}
        if spec.get("network_mode") == "host":
            where = origin_of(service, "network_mode", "host") if origin_of else name
            out.append(Published(where, service, "", "*", "network_mode: host"))
        for entry in spec.get("ports", []) or []:
            name = origin_of(service, "ports", entry) if origin_of else name
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


def images(name: str, data: dict[str, Any], origin_of: Origin | None = None) -> list[Image]:
    out = []
    for service, spec in (data.get("services") or {}).items():
        spec = spec or {}
        if spec.get("image") is not None:
            where = origin_of(service, "image", spec["image"]) if origin_of else name
            text = _render(spec["image"], f"{where}: services.{service}.image")
            out.append(Image(where, service, text))
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
