"""Compose files merged in ``-f`` order, the way Docker Compose merges them.

The rules (the Compose specification's merge section): mappings merge key by key and a later
scalar wins; a sequence is appended to (``ports: []`` in an overlay removes nothing); ``ports``,
``volumes``, ``secrets`` and ``configs`` keep one entry per unique key, the later one winning;
``command``, ``entrypoint`` and ``healthcheck.test`` are replaced, not appended; ``environment``,
``labels`` and the like merge as mappings whether written as lists or mappings; ``!reset``
removes what earlier files set and ``!override`` replaces it whole.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import yaml

REPLACED = {"command", "entrypoint"}
# list-or-mapping attributes: KEY=VALUE strings and mappings are the same thing
AS_MAPPING = {"environment", "labels", "extra_hosts", "sysctls", "annotations", "build_args"}


class Reset:
    """``!reset``: forget what earlier files set for this key."""

    def __repr__(self) -> str:
        return "!reset"


@dataclass(frozen=True)
class Override:
    """``!override VALUE``: replace what earlier files set, do not merge."""

    value: Any


class ComposeLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus Compose's two merge tags."""


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    return Reset()


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))  # type: ignore[arg-type]


ComposeLoader.add_constructor("!reset", _reset)
ComposeLoader.add_constructor("!override", _override)


def plain(value: Any) -> Any:
    """A value with the merge tags taken off (``!reset`` reads as absent: None)."""
    if isinstance(value, Override):
        return plain(value.value)
    if isinstance(value, Reset):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass
class Merged:
    files: list[str]
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # overlays that do not do what they seem to


def merge_files(loaded: list[tuple[str, dict[str, Any]]]) -> Merged:
    merged: dict[str, Any] = {}
    notes: list[str] = []
    for name, data in loaded:
        _note_empty_ports(name, merged, data, notes)
        merged = _merge(merged, data, ())
    return Merged([name for name, _ in loaded], plain(merged), notes)


def _note_empty_ports(
    name: str, merged: dict[str, Any], data: dict[str, Any], notes: list[str]
) -> None:
    for service, spec in (data.get("services") or {}).items():
        if (
            isinstance(spec, dict)
            and spec.get("ports") == []
            and not isinstance(spec["ports"], Override)
        ):
            before = ((merged.get("services") or {}).get(service) or {}).get("ports")
            if before:
                notes.append(
                    f"{name}: services.{service}.ports: [] removes nothing: compose appends "
                    f"ports, so the {len(before)} published before stay (write "
                    "`ports: !reset []` to remove them)"
                )


def _merge(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    if isinstance(over, Reset):
        return Reset()
    if isinstance(over, Override):
        return copy.deepcopy(over.value)
    key = path[-1] if path else ""
    in_service = len(path) == 3 and path[0] == "services"
    if (in_service and key in REPLACED) or path[-2:] == ("healthcheck", "test"):
        return copy.deepcopy(over)
    if in_service and key in AS_MAPPING:
        return {**_as_mapping(base), **_as_mapping(over)}
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v, (*path, str(k))) if k in base else _fresh(v)
        return {k: v for k, v in out.items() if not isinstance(v, Reset)}
    if isinstance(base, list) and isinstance(over, list):
        if in_service and key in ("ports", "volumes", "secrets", "configs"):
            return _unique(key, base + [_fresh(v) for v in over])
        return base + [_fresh(v) for v in over]
    return _fresh(over)


def _fresh(value: Any) -> Any:
    return plain(copy.deepcopy(value))


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(plain(value))
    out: dict[str, Any] = {}
    for item in value or []:
        key, sep, rest = str(item).partition("=")
        out[key] = rest if sep else None
    return out


def _unique(key: str, entries: list[Any]) -> list[Any]:
    """One entry per unique key, the later winning, in the order keys first appeared."""
    kept: dict[Any, Any] = {}
    for entry in entries:
        kept[_entry_key(key, entry)] = entry
    return list(kept.values())


def _entry_key(key: str, entry: Any) -> Any:
    if key == "ports":
        if isinstance(entry, dict):
            return tuple(
                str(entry.get(k, "")) for k in ("host_ip", "published", "target", "protocol")
            )
        return str(entry)
    if key == "volumes":  # unique by the path in the container
        if isinstance(entry, dict):
            return str(entry.get("target", ""))
        parts = str(entry).split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    if isinstance(entry, dict):  # secrets, configs
        return str(entry.get("target") or entry.get("source", ""))
    return str(entry)
