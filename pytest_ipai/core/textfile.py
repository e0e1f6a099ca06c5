"""Read the files users hand us (config, policy, manifests, lock, compose, odoo.conf) with one
kind of error: exit 2, one line naming the file and, where the parser knows it, the line."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from .errors import InputError, IpaiError


def read_text(
    path: Path, what: str, error: type[IpaiError] = InputError, max_bytes: int | None = None
) -> str:
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise error(f"{path}: larger than {max_bytes // (1024 * 1024)} MiB")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None


def read_json(path: Path, what: str, error: type[IpaiError] = InputError) -> Any:
    text = read_text(path, what, error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def read_toml(path: Path, what: str, error: type[IpaiError] = InputError) -> dict[str, Any]:
    text = read_text(path, what, error)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line L, column C)" in the message: keep it, it is the location.
        raise error(f"{path}: invalid TOML: {exc}") from None
