"""Is the running code the deployed code? What the environment's compose files say a service
runs (image, bind-mounted sources) against what a container runs, and when each Odoo process
started against when the deploy started: a process older than the deploy serves the code it
loaded at its start (Odoo reads its addons once), whatever is on disk now."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .compose import known
from .compose_merge import merge_files

REVISION_LABEL = "org.opencontainers.image.revision"
_REGISTRY_DEFAULTS = ("docker.io/library/", "docker.io/", "localhost/")
Finding = tuple[str, str]


def odoo_services(services: dict[str, str]) -> list[str]:
    """The services that run Odoo: the roles named ``odoo`` or ``odoo_*`` (``odoo_cron``...)."""
    return sorted({name for role, name in services.items() if role.split("_")[0] == "odoo"})


@dataclass(frozen=True)
class Expected:
    service: str
    image: str | None  # None: built, or set from a variable without a default
    binds: tuple[str, ...]  # absolute host paths the service mounts


def expected_service(compose: list[tuple[Path, dict[str, Any]]], service: str) -> Expected:
    """The service as the files merge it (``-f`` order: a later ``image`` wins; bind mounts
    add up; relative sources are relative to the project directory, the first file's)."""
    project = compose[0][0].parent if compose else Path(".")
    merged = merge_files([(str(path), data) for path, data in compose]).data
    spec = (merged.get("services") or {}).get(service)
    if not isinstance(spec, dict):
        return Expected(service, None, ())
    image = known(spec["image"]) if spec.get("image") is not None else None
    binds = {
        os.path.normpath(project / Path(source).expanduser())
        for volume in spec.get("volumes") or []
        if (source := _bind_source(volume)) is not None
    }
    return Expected(service, image, tuple(sorted(binds)))


def _bind_source(volume: Any) -> str | None:
    if isinstance(volume, dict):
        return (
            str(volume["source"]) if volume.get("type") == "bind" and volume.get("source") else None
        )
    source = str(volume).split(":", 1)[0]
    return source if source.startswith((".", "/", "~")) and ":" in str(volume) else None


def same_image(a: str, b: str) -> bool:
    """Image references that name the same image: ``odoo:18.0`` and
    ``docker.io/library/odoo:18.0`` do."""

    def bare(ref: str) -> str:
        for prefix in _REGISTRY_DEFAULTS:
            if ref.startswith(prefix):
                return ref[len(prefix) :]
        return ref

    return bare(a) == bare(b)


def started_at(attrs: dict[str, Any]) -> datetime | None:
    """The container's State.StartedAt as naive UTC, to the microsecond (the engine gives
    nanoseconds: a deploy and its containers' start often share a second)."""
    text = str((attrs.get("State") or {}).get("StartedAt") or "")
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", text)
    if not match:
        return None
    micro = (match.group(2) or "0")[:6].ljust(6, "0")
    zone = (match.group(3) or "Z").replace("Z", "+00:00")
    stamp = datetime.fromisoformat(f"{match.group(1)}.{micro}{zone}")
    return stamp.astimezone(UTC).replace(tzinfo=None)


def judge_container(
    attrs: dict[str, Any], expected: Expected, since: datetime, sha: str | None
) -> list[Finding]:
    """``since``: when the deploy started (naive UTC)."""
    name = str(attrs.get("Name", "?")).lstrip("/")
    findings: list[Finding] = []
    started = started_at(attrs)
    if started is None:
        findings.append(("code_stale", f"{name}: no start time: cannot tell what code it runs"))
    elif started < since:
        findings.append(("code_stale", f"{name}: running since {started:%Y-%m-%d %H:%M:%S} UTC, "
                         f"before the deploy at {since:%Y-%m-%d %H:%M:%S}: it serves the code it "
                         "started with"))  # fmt: skip
    config = attrs.get("Config") or {}
    running = str(config.get("Image") or "")
    if expected.image and not same_image(running, expected.image):
        text = f"{name}: runs {running}, the compose files say {expected.image}"
        findings.append(("image_not_deployed", text))
    mounted = {str(m.get("Source")) for m in attrs.get("Mounts") or [] if m.get("Type") == "bind"}
    # As written, or the same file once symlinks resolve (/lib is /usr/lib on merged-usr hosts).
    mounted |= {os.path.realpath(m) for m in mounted}
    for source in expected.binds:
        if source not in mounted and os.path.realpath(source) not in mounted:
            text = f"{name}: does not mount {source}, which the compose files do"
            findings.append(("mounts_not_deployed", text))
    revision = (config.get("Labels") or {}).get(REVISION_LABEL)
    if revision and sha and revision != sha:
        text = f"{name}: image built from {revision[:12]}, deployed {sha[:12]}"
        findings.append(("revision_mismatch", text))
    return findings


def judge_processes(ages: dict[int, float], since: datetime, now: datetime) -> list[Finding]:
    """Host mode: Odoo's processes (pid -> seconds since start) against the deploy's start;
    a second of slack for ps's whole-second elapsed times."""
    budget = (now - since).total_seconds() + 1.0
    old = sorted(pid for pid, age in ages.items() if age > budget)
    if not old:
        return []
    shown = ", ".join(str(pid) for pid in old[:10])
    return [("code_stale", f"Odoo process(es) {shown} started before the deploy at "
             f"{since:%Y-%m-%d %H:%M:%S}: they serve the code they started with")]  # fmt: skip
