"""What ``ipai init`` reads in a stack repository, without changing anything: the compose file
sets and the environments they make, each environment's Odoo service, its odoo.conf, its
addons_path in repository paths, database names and the variables that hold credentials, and
the published ports. Each proposed value keeps where it came from (file:line)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_ipai.core.errors import IpaiError
from pytest_ipai.rules.compose import image_series, load_compose, origin_in, published_ports
from pytest_ipai.rules.compose_merge import merge_files, plain
from pytest_ipai.rules.odoo_cli import parse_odoo_args, service_command
from pytest_ipai.rules.odoo_conf import read_conf

from .init_mounts import Mounts, yaml_lines

COMPOSE_NAME = re.compile(r"^(?:docker-)?compose(?:[.-]([A-Za-z0-9_.-]+?))?\.ya?ml$")
ALIASES = {
    "override": "dev",
    "development": "dev",
    "local": "dev",
    "production": "prod",
    "prd": "prod",
    "stage": "staging",
    "stg": "staging",
}
PRODUCTION = ("prod", "production")
COMPOSE_FOLDERS = ("compose", "compose.d", "docker-compose")
BASE_STEMS = ("base", "common", "default", "compose", "docker-compose")
DEFAULT_RC = "/etc/odoo/odoo.conf"  # the official image's ODOO_RC
PROXY_IMAGES = ("nginx", "traefik", "caddy", "haproxy", "envoy", "apache", "httpd")
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL", re.I)
_DSN_NAME = re.compile(r"DSN|DATABASE_URL|DB_URL|PG_URL", re.I)
# Odoo's own addons folder: .../odoo/addons (a package install, or a source checkout's)
_CORE_ADDONS = re.compile(r"/odoo/addons/?$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)|\$([A-Za-z_]\w*)")


@dataclass
class Proposal:
    """The config ``init`` proposes, where each value came from, and what it could not decide."""

    stack: dict[str, Any] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets_env: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # dotted key -> file:line
    undecided: list[str] = field(default_factory=list)
    odoo_images: dict[str, str] = field(default_factory=dict)  # environment -> merged image

    def put(self, table: dict[str, Any], key: str, value: Any, dotted: str, origin: str) -> None:
        table[key] = value
        self.origins[dotted] = origin


def compose_sets(files: list[str]) -> dict[str, list[str]]:
    """Environments from compose file names: a folder's base file (``compose.yaml``,
    ``docker-compose.yml``) under each of its overlays (``docker-compose.prod.yml`` -> prod),
    ``-f`` order. A base without overlays is one environment named after its folder. In a
    folder of compose files (``docker/compose/prod.yml``), each file is an environment, over
    ``base.yml`` or ``common.yml`` when there is one."""
    by_folder: dict[str, list[tuple[str | None, str]]] = {}
    for name in sorted(files):
        path = PurePosixPath(name)
        match = COMPOSE_NAME.match(path.name)
        if match is not None:
            by_folder.setdefault(str(path.parent), []).append((match.group(1), name))
        elif path.parent.name in COMPOSE_FOLDERS and path.suffix in (".yml", ".yaml"):
            # docker/compose/prod.yml: a folder of compose files named by environment
            middle = None if path.stem in BASE_STEMS else path.stem
            by_folder.setdefault(str(path.parent), []).append((middle, name))
    sets: dict[str, list[str]] = {}
    for folder, items in sorted(by_folder.items()):
        bases = sorted((f for m, f in items if m is None), key=lambda f: "docker-" in f)
        overlays = [(m, f) for m, f in items if m is not None]
        base = bases[:1]
        if base and not overlays:
            _add(sets, "main" if folder == "." else folder, base)
        for middle, name in overlays:
            _add(sets, middle, [*base, name])
    return sets


def env_name(text: str) -> str:
    word = re.sub(r"[^a-z0-9_-]+", "-", text.lower().rsplit("/", 1)[-1]).strip("-") or "main"
    word = ALIASES.get(word, word)
    return (word if word[0].isalpha() else f"env-{word}")[:32]


def _add(sets: dict[str, list[str]], label: str, files: list[str]) -> None:
    name = env_name(label)
    if name in sets:
        folder = env_name(str(PurePosixPath(files[-1]).parent))
        name = f"{name}-{folder}"[:32]
    sets[name] = files


def scan_environment(root: Path, name: str, files: list[str], proposal: Proposal) -> None:
    env: dict[str, Any] = {}
    key = f"environments.{name}"
    proposal.environments[name] = env
    proposal.put(env, "compose_files", files, f"{key}.compose_files", ", ".join(files))
    production = name in PRODUCTION
    proposal.put(env, "production", production, f"{key}.production", f"named {name}")
    loaded = [(f, load_compose(root / f)) for f in files]
    merged = merge_files(loaded).data
    services: dict[str, Any] = merged.get("services") or {}
    odoo = _odoo_service(services)
    if odoo is None:
        proposal.undecided.append(f"{key}.services.odoo: no service runs an Odoo image")
        return
    lines = {f: yaml_lines(root / f) for f in files}
    proposal.odoo_images[name] = str((services[odoo] or {}).get("image") or "")
    roles = {"odoo": odoo}
    db = _db_service(services)
    if db is not None:
        roles["db"] = db
    images = "; ".join(
        f"{role} runs {(services[name] or {}).get('image') or 'a built image'}"
        for role, name in roles.items()
    )
    where = f"{_where(lines, ('services', odoo))} ({images})"
    proposal.put(env, "services", roles, f"{key}.services", where)
    project = (root / files[0]).parent

    def volume_line(entry: Any) -> str:
        return _entry_line(loaded, lines, odoo, "volumes", entry)

    mounts = Mounts.of(root, project, merged, odoo, volume_line)
    command = service_command(loaded, odoo)
    cli = parse_odoo_args(*command) if command else None
    conf_in_container = (
        (cli.options.get("config") if cli else None)
        or _env_value(services[odoo], "ODOO_RC")
        or DEFAULT_RC
    )
    conf_rel, why = mounts.to_repo(conf_in_container)
    options: dict[str, str] = {}
    if conf_rel is None:
        proposal.undecided.append(f"{key}.odoo_conf: {conf_in_container} in the container: {why}")
    else:
        proposal.put(
            env, "odoo_conf", conf_rel, f"{key}.odoo_conf", mounts.origin(conf_in_container)
        )
        try:
            options, _ = read_conf(root / conf_rel)
        except IpaiError as exc:
            proposal.undecided.append(f"{key}.odoo_conf: {exc.message}")
    if cli is not None:
        options = {**options, **cli.options}
    _addons_path(proposal, env, key, options, mounts, conf_rel, cli.origin if cli else "")
    _database(proposal, env, key, options, services, odoo, conf_rel)
    _ports(proposal, env, key, merged, loaded, production)
    for variable in sorted(_variables(services)):
        here = f"${{{variable}}} in {', '.join(files)}"  # names only: values never leave
        if _DSN_NAME.search(variable) and "dsn_env" not in env:
            proposal.put(env, "dsn_env", variable, f"{key}.dsn_env", here)
        elif _SECRET_NAME.search(variable) and variable not in proposal.secrets_env:
            proposal.secrets_env.append(variable)
            seen = proposal.origins.get("secrets.env")
            proposal.origins["secrets.env"] = f"{seen}; {here}" if seen else here
    if "dsn_env" not in env:
        proposal.undecided.append(
            f"{key}.dsn_env: no variable holds a database URL; name one for the post-deploy "
            "database gates"
        )


def _where(lines: dict[str, dict[tuple[Any, ...], int]], path: tuple[Any, ...]) -> str:
    for name, found in reversed(lines.items()):
        if path in found:
            return f"{name}:{found[path]}"
    return next(iter(lines), "")


def _entry_line(
    loaded: list[tuple[str, dict[str, Any]]],
    lines: dict[str, dict[tuple[Any, ...], int]],
    service: str,
    key: str,
    entry: Any,
) -> str:
    """file:line of the list entry a service's merged value came from."""
    name = origin_in(loaded)(service, key, entry)
    spec = (dict(loaded).get(name, {}).get("services") or {}).get(service) or {}
    values = plain(spec.get(key)) or []
    if entry in values:
        line = lines.get(name, {}).get(("services", service, key, values.index(entry)))
        if line:
            return f"{name}:{line}"
    return name


def _db_service(services: dict[str, Any]) -> str | None:
    found = [
        n
        for n, spec in services.items()
        if "postgres" in str((spec or {}).get("image") or "").lower() or n in ("db", "postgres")
    ]
    return sorted(found)[0] if found else None


def _odoo_service(services: dict[str, Any]) -> str | None:
    def image(name: str) -> str:
        return str((services[name] or {}).get("image") or "")

    if "odoo" in services:
        return "odoo"
    runs = [n for n in services if image_series(image(n)) or "odoo" in image(n).lower()]
    built = [n for n in services if "odoo" in n.lower() and (services[n] or {}).get("build")]
    found = runs or built
    return sorted(found)[0] if found else None


def _env_value(spec: dict[str, Any], name: str) -> str | None:
    environment = spec.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(str(e).partition("=")[::2] for e in environment)
    value = environment.get(name)
    return str(value) if value else None


def _addons_path(
    proposal: Proposal,
    env: dict[str, Any],
    key: str,
    options: dict[str, str],
    mounts: Mounts,
    conf_rel: str | None,
    cli_origin: str,
) -> None:
    declared = options.get("addons_path")
    if not declared:
        proposal.undecided.append(f"{key}.addons_path: neither odoo.conf nor the command sets it")
        return
    paths, origins = [], []
    for container_path in (p.strip() for p in declared.split(",") if p.strip()):
        if _CORE_ADDONS.search(container_path):
            continue  # Odoo's own addons, inside the image
        rel, why = mounts.to_repo(container_path)
        if rel is None:
            proposal.undecided.append(f"{key}.addons_path: {container_path}: {why}")
            continue
        paths.append(rel)
        origins.append(f"{container_path} via {mounts.origin(container_path)}")
    if paths:
        where = conf_rel or cli_origin
        proposal.put(
            env, "addons_path", paths, f"{key}.addons_path", f"{where}: " + "; ".join(origins)
        )


def _database(
    proposal: Proposal,
    env: dict[str, Any],
    key: str,
    options: dict[str, str],
    services: dict[str, Any],
    odoo: str,
    conf_rel: str | None,
) -> None:
    name = options.get("db_name")
    origin = f"{conf_rel}: db_name" if name else ""
    if not name:
        for service, spec in services.items():
            value = _env_value(spec or {}, "POSTGRES_DB")
            if value and "$" not in value:
                name, origin = value, f"services.{service}.environment.POSTGRES_DB"
                break
    if name and re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$", name) and "," not in name:
        proposal.put(env, "database", name, f"{key}.database", origin)
    else:
        proposal.undecided.append(f"{key}.database: no db_name in odoo.conf, no POSTGRES_DB")


def _ports(
    proposal: Proposal,
    env: dict[str, Any],
    key: str,
    merged: dict[str, Any],
    loaded: list[tuple[str, dict[str, Any]]],
    production: bool,
) -> None:
    allow: list[str] = []
    services = merged.get("services") or {}
    try:
        ports = published_ports("merged", merged)
    except IpaiError as exc:
        proposal.undecided.append(f"{key}.port_allowlist: {exc.message}")
        return
    for port in ports:
        if port.loopback:
            continue
        image = str((services.get(port.service) or {}).get("image") or "").lower()
        if any(word in image for word in PROXY_IMAGES) and port.target in ("80", "443"):
            allow.append(f"*:{port.port}")
        else:
            proposal.undecided.append(
                f"{key}.port_allowlist: {port.service} publishes "
                f"{port.address or '0.0.0.0'}:{port.port} on every interface; not allowlisted "  # noqa: S104
                "(bind it to 127.0.0.1, or allowlist it by hand if it must be public)"
            )
    if allow:
        files = ", ".join(name for name, _ in loaded)
        proposal.put(
            env,
            "port_allowlist",
            sorted(set(allow)),
            f"{key}.port_allowlist",
            f"reverse proxy in {files}",
        )


def _variables(services: dict[str, Any]) -> set[str]:
    """Variable names the services' environments are set from (names only, never values)."""
    found: set[str] = set()
    for spec in services.values():
        environment = (spec or {}).get("environment") or {}
        values = environment.values() if isinstance(environment, dict) else environment
        for value in values:
            for match in _VARIABLE.finditer(str(value or "")):
                found.add(match.group(1) or match.group(2))
    return found
