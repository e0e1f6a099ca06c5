"""The stack configuration: ``ipai.toml`` or ``[tool.ipai]`` in ``pyproject.toml``.

Relative paths are resolved against the folder of the file they were read from, so the same
config works from any working directory. Secrets never live here: the config names the
environment variables or files that hold them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, IpaiError
from ..core.textfile import first_path, read_text, read_toml, resolved
from .schema import first_problem

CONFIG_ENV_VAR = "IPAI_CONFIG"
DEFAULT_EVIDENCE_ROOT = "evidence"


def _under(base: Path, value: Any, key: str) -> Path:
    """A path from the config, resolved against its folder; a symlink loop is one line."""
    return resolved(base / str(value), key, ConfigError)


@dataclass(frozen=True)
class Environment:
    name: str
    raw: dict[str, Any]
    base_dir: Path

    def path(self, key: str, default: str | None = None) -> Path | None:
        value = self.raw.get(key, default)
        return None if value is None else _under(self.base_dir, value, key)

    @property
    def evidence_root(self) -> Path:
        root = self.path("evidence_root", DEFAULT_EVIDENCE_ROOT)
        assert root is not None
        return root

    @property
    def policy_file(self) -> Path | None:
        return self.path("policy")

    @property
    def production(self) -> bool:
        """Production rules apply (pinned refs, clean trees, workers): ``production`` or "prod"."""
        return bool(self.raw.get("production", self.name == "prod"))

    @property
    def secret_env_vars(self) -> list[str]:
        return [self.raw["dsn_env"]] if "dsn_env" in self.raw else []


@dataclass(frozen=True)
class ManifestSource:
    """One file that declares the stack's addons, and how to read it (None: tell by looking)."""

    path: Path
    format: str | None
    key: str  # where the config names it, for messages: stack.addons_manifest[1]


# Settings an environment may give itself; the stack-level value is the default.
PER_ENVIRONMENT = ("odoo_conf", "addons_path", "pipeline_files")


@dataclass(frozen=True)
class StackConfig:
    file: Path
    raw: dict[str, Any]
    env: Environment
    secret_env_vars: tuple[str, ...] = field(default=())
    secret_files: tuple[Path, ...] = field(default=())

    @property
    def base_dir(self) -> Path:
        return self.file.parent

    @property
    def series(self) -> str | None:
        value = self.raw["stack"].get("series")
        return str(value) if value is not None else None

    @property
    def manifest_sources(self) -> list[ManifestSource]:
        declared = self.raw["stack"]["addons_manifest"]
        if isinstance(declared, str):
            key = "stack.addons_manifest"
            return [ManifestSource(_under(self.base_dir, declared, key), None, key)]
        sources = []
        for index, entry in enumerate(declared):
            key = f"stack.addons_manifest[{index}]"
            spec = {"path": entry} if isinstance(entry, str) else entry
            path = _under(self.base_dir, spec["path"], key)
            sources.append(ManifestSource(path, spec.get("format"), key))
        return sources

    @property
    def addons_manifest(self) -> Path:
        """The first declared manifest file (the one named in messages about the stack)."""
        return self.manifest_sources[0].path

    def setting(self, key: str) -> Any:
        """A per-environment setting (PER_ENVIRONMENT): the environment's own, else the stack's."""
        if key in self.env.raw:
            return self.env.raw[key]
        return self.raw["stack"].get(key)

    def setting_key(self, key: str) -> str:
        """Where setting(key) comes from, for messages: environments.ENV.KEY or stack.KEY."""
        return f"environments.{self.env.name}.{key}" if key in self.env.raw else f"stack.{key}"

    def setting_paths(self, key: str) -> list[Path]:
        return [_under(self.base_dir, p, self.setting_key(key)) for p in self.setting(key) or []]

    def stack_paths(self, key: str) -> list[Path]:
        return [_under(self.base_dir, p, f"stack.{key}") for p in self.raw["stack"].get(key) or []]

    @property
    def repo_root(self) -> Path:
        return _under(self.base_dir, self.raw["stack"].get("repo", "."), "stack.repo")

    @property
    def lock_file(self) -> Path | None:
        value = self.raw["stack"].get("lock_file")
        return None if value is None else _under(self.base_dir, value, "stack.lock_file")

    def secret_values(self) -> list[str]:
        """Current values of every secret the config names (for redaction only)."""
        values = [os.environ.get(name, "") for name in self.secret_env_vars]
        for path in self.secret_files:
            try:
                values.append(read_text(path, "secret file", max_bytes=SECRET_FILE_BYTES).strip())
            except IpaiError:
                continue  # a missing secret file is the business of the gate that needs it
        return [v for v in values if v]


SECRET_FILE_BYTES = 64 * 1024


def find_config(start: Path) -> Path | None:
    """``$IPAI_CONFIG``, else ``ipai.toml`` or a pyproject with ``[tool.ipai]`` in ``start``."""
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env)
    candidate = start / "ipai.toml"
    if candidate.is_file():
        return candidate
    pyproject = start / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = read_toml(pyproject, "pyproject", ConfigError)
        except IpaiError:
            return None
        if isinstance(data.get("tool"), dict) and "ipai" in data["tool"]:
            return pyproject
    return None


def load_config(path: Path, env_name: str | None = None, *, validate: bool = True) -> StackConfig:
    """Read, validate and select an environment. Raises ConfigError with a one-line message.

    ``validate=False`` is for xdist workers: the controller validated the same file already.
    """
    path = resolved(path, "config file", ConfigError)
    data = read_toml(path, "config file", ConfigError)
    nul = first_path(data, lambda v: isinstance(v, str) and "\0" in v)
    if nul is not None:
        raise ConfigError(f"{path}: {nul}: contains a NUL byte")
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        if not isinstance(tool, dict) or not isinstance(tool.get("ipai"), dict):
            raise ConfigError(f"{path}: no [tool.ipai] table")
        data = tool["ipai"]
        prefix = "tool.ipai."
    else:
        prefix = ""
    problem = first_problem(data, "config") if validate else None
    if problem is not None:
        raise ConfigError(f"{path}: {prefix}{problem}")
    envs: dict[str, Any] = data["environments"]
    chosen = env_name or data["stack"].get("default_env")
    if chosen is None:
        if len(envs) != 1:
            names = ", ".join(sorted(envs))
            raise ConfigError(f"{path}: {prefix}stack.default_env: not set; choose one of {names}")
        chosen = next(iter(envs))
    if chosen not in envs:
        names = ", ".join(sorted(envs))
        raise ConfigError(f"{path}: {prefix}environments.{chosen}: no such environment ({names})")
    env = Environment(name=chosen, raw=envs[chosen], base_dir=path.parent)
    secrets = data.get("secrets", {})
    secret_vars = tuple(dict.fromkeys([*secrets.get("env", []), *env.secret_env_vars]))
    secret_files = tuple(_under(path.parent, f, "secrets.files") for f in secrets.get("files", []))
    return StackConfig(
        file=path, raw=data, env=env, secret_env_vars=secret_vars, secret_files=secret_files
    )
