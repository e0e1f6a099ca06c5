"""Container paths back to repository paths, for ``ipai init``: through the Odoo service's bind
mounts, named volumes that are bind mounts in disguise (``driver_opts: {type: none, o: bind,
device: ./addons}``), and the ``COPY``/``ADD`` lines of the image it builds."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.textfile import read_text
from pytest_ipai.rules.compose_merge import ComposeLoader


@dataclass(frozen=True)
class Mount:
    target: str  # in the container
    source: Path | None  # on the host; None: a volume whose content is not in the repository
    origin: str  # how it is mounted, for the preview
    why: str = ""  # for a volume: why its content cannot be read here
    baked: bool = False  # copied into the image: any volume over the same path hides it


@dataclass
class Mounts:
    root: Path
    entries: list[Mount]  # the later an entry, the stronger (mounts cover what the image holds)

    @classmethod
    def of(
        cls,
        root: Path,
        project: Path,
        merged: dict[str, Any],
        service: str,
        line_of: Callable[[Any], str],
    ) -> Mounts:
        spec = (merged.get("services") or {}).get(service) or {}
        volumes = merged.get("volumes") or {}
        entries = _baked(root, project, spec)
        for volume in spec.get("volumes") or []:
            origin = f"{line_of(volume)} (services.{service}.volumes)"
            source, target, kind = _volume_parts(volume)
            if not target:
                continue
            if kind == "bind":
                entries.append(Mount(target, (project / os.path.expanduser(source)), origin))
                continue
            device = _bind_device(volumes.get(source) or {})
            if device is not None:
                entries.append(
                    Mount(target, project / device, f"{origin} (volume {source}, a bind)")
                )
            else:
                why = (
                    f"named volume '{source}': its content lives in the engine, not the repository"
                )
                entries.append(Mount(target, None, origin, why))
        return cls(root.resolve(), entries)

    def _find(self, container_path: str) -> tuple[Mount, str] | None:
        """The mount that shows this path: a volume over what the image holds, then the
        deepest target (nested mounts), then the later one."""
        path = posixpath.normpath(container_path)
        best: tuple[tuple[bool, int, int], Mount, str] | None = None
        for index, mount in enumerate(self.entries):
            target = posixpath.normpath(mount.target)
            if path == target or path.startswith(target.rstrip("/") + "/"):
                rank = (not mount.baked, len(target), index)
                if best is None or rank > best[0]:
                    best = (rank, mount, posixpath.relpath(path, target))
        return (best[1], best[2]) if best else None

    def to_repo(self, container_path: str) -> tuple[str | None, str]:
        """The repository path a container path shows, or None and why not."""
        found = self._find(container_path)
        if found is None:
            return None, "not mounted from the repository, nor copied into the image it builds"
        mount, rest = found
        if mount.source is None:
            return None, mount.why
        host = (mount.source / rest).resolve() if rest != "." else mount.source.resolve()
        if not host.is_relative_to(self.root):
            return None, f"mounted from {host}, outside the repository"
        return host.relative_to(self.root).as_posix() or ".", ""

    def origin(self, container_path: str) -> str:
        found = self._find(container_path)
        return found[0].origin if found else ""


def _volume_parts(volume: Any) -> tuple[str, str, str]:
    """(source, target, bind|volume) of a service volume in short or long syntax."""
    if isinstance(volume, dict):
        kind = str(volume.get("type") or "volume")
        return str(volume.get("source") or ""), str(volume.get("target") or ""), kind
    parts = str(volume).split(":")
    if len(parts) == 1:
        return "", parts[0], "volume"  # an anonymous volume
    source, target = parts[0], parts[1]
    kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    return source, target, kind


def _bind_device(declared: dict[str, Any]) -> str | None:
    options = declared.get("driver_opts") or {}
    if str(options.get("type", "")) == "none" and "bind" in str(options.get("o", "")):
        device = options.get("device")
        return str(device) if device else None
    return None


def _baked(root: Path, project: Path, spec: dict[str, Any]) -> list[Mount]:
    """What the service's Dockerfile copies into the image, as mounts of its build context."""
    build = spec.get("build")
    if not build:
        return []
    context = project / (build if isinstance(build, str) else str(build.get("context", ".")))
    dockerfile = context / (
        "Dockerfile" if isinstance(build, str) else str(build.get("dockerfile", "Dockerfile"))
    )
    try:
        text = read_text(dockerfile, "Dockerfile")
    except IpaiError:
        return []
    out = []
    workdir = "/"
    for number, line in enumerate(_logical_lines(text), 1):
        words = line.split()
        if not words:
            continue
        instruction = words[0].upper()
        if instruction == "WORKDIR" and len(words) > 1:
            workdir = posixpath.join(workdir, words[1])
        if instruction not in ("COPY", "ADD") or len(words) < 3:
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]) or len(args) < 2:
            continue  # from another stage: not the repository's files
        *sources, dest = args
        dest = posixpath.join(workdir, dest)
        inside = dockerfile.is_relative_to(root)
        name = dockerfile.relative_to(root).as_posix() if inside else str(dockerfile)
        into = dest.endswith("/") or len(sources) > 1
        for source in sources:
            copied = context / source
            # a folder's contents land in dest; a file lands in dest, or under it by name
            keep_name = into and not copied.is_dir()
            target = posixpath.join(dest, posixpath.basename(source)) if keep_name else dest
            out.append(Mount(target, copied, f"{name}:{number} ({instruction})", baked=True))
    return out


def _logical_lines(text: str) -> list[str]:
    """Dockerfile lines with backslash continuations joined, numbered by their first line
    (continuation lines become empty so numbering stays true)."""
    out: list[str] = []
    pending = ""
    blanks = 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            line = ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            blanks += 1
            continue
        out.append(pending + line)
        out.extend([""] * blanks)
        pending, blanks = "", 0
    return out


def yaml_lines(path: Path) -> dict[tuple[Any, ...], int]:
    """The line of each key and list item in a YAML file: ("services", "odoo") -> 12."""
    try:
        node = yaml.compose(read_text(path, "compose file"), Loader=ComposeLoader)
    except (IpaiError, yaml.YAMLError):
        return {}
    out: dict[tuple[Any, ...], int] = {}

    def walk(current: Any, path: tuple[Any, ...]) -> None:
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                here = (*path, key.value)
                out[here] = key.start_mark.line + 1
                walk(value, here)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                out[(*path, index)] = item.start_mark.line + 1
                walk(item, (*path, index))

    walk(node, ())
    return out
