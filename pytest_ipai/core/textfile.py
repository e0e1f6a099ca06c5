"""Read the files users hand us (config, policy, manifests, lock, compose, odoo.conf, packs) with
one kind of error: exit 2, one line naming the file and, where the parser knows it, the line.

Hostile files are refused by name before they can hurt: a path with a NUL byte, a symlink loop,
anything but a regular file (a FIFO would block forever, /dev/zero never ends), a file over the
size cap, and documents nested deeper than MAX_NESTING.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InputError, IpaiError

MAX_INPUT_BYTES = 16 * 1024 * 1024
MAX_NESTING = 64  # the deepest real config, manifest or pack is under 10 levels
_KINDS = {
    stat.S_IFLNK: "a symlink",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
}


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, for a message: "a FIFO", "a symlink"..."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def checked_path(path: Path, what: str, error: type[IpaiError] = InputError) -> Path:
    """The path as given, refused when it cannot name a file (a NUL byte, an undecodable
    byte from a config)."""
    text = str(path)
    if "\0" in text:
        raise error(f"{what} path {text.split(chr(0))[0]!r}...: contains a NUL byte")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} path {text.encode('utf-8', 'replace')!r}: not valid UTF-8") from None
    return path


def resolved(path: Path, what: str, error: type[IpaiError] = InputError) -> Path:
    """``path.resolve()`` with a symlink loop as one line, not a RuntimeError."""
    checked_path(path, what, error)
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        raise error(f"{path}: {what}: a symlink loop") from None


def read_bytes(
    path: Path, what: str, error: type[IpaiError] = InputError, max_bytes: int = MAX_INPUT_BYTES
) -> bytes:
    checked_path(path, what, error)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{path}: {what}: a symlink loop") from None
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = file_kind(info.st_mode)
            raise error(f"{path}: {what} is {kind}, not a regular file")
        limit = f"larger than {max_bytes // (1024 * 1024) or 1} MiB"
        if info.st_size > max_bytes:
            raise error(f"{path}: {limit}")
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:  # grew while we read it
        raise error(f"{path}: {limit}")
    return data


def read_text(
    path: Path, what: str, error: type[IpaiError] = InputError, max_bytes: int | None = None
) -> str:
    data = read_bytes(path, what, error, MAX_INPUT_BYTES if max_bytes is None else max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None


def nesting_problem(value: Any, limit: int = MAX_NESTING) -> str | None:
    """``key.path: nested deeper than LIMIT levels``, or None; iterative, so it cannot itself
    run out of stack."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        current, depth, where = stack.pop()
        if isinstance(current, dict):
            items: Any = current.items()
        elif isinstance(current, list):
            items = enumerate(current)
        else:
            continue
        if depth > limit:
            return f"{where.lstrip('.') or 'the document'}: nested deeper than {limit} levels"
        for key, item in items:
            stack.append((item, depth + 1, f"{where}.{key}" if isinstance(key, str) else where))
    return None


def first_path(value: Any, match: Callable[[Any], bool], where: str = "") -> str | None:
    """The key path (``a.b[2].c``) of the first value, or the parent of the first key, in
    JSON-like data that ``match`` accepts; None when nothing does. For data whose nesting is
    already bounded (``nesting_problem``)."""
    if match(value):
        return where or "(top)"
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and match(key):
            return where or "(top)"
        label = f"{where}.{key}".lstrip(".") if isinstance(key, str) else f"{where}[{key}]"
        found = first_path(item, match, label)
        if found is not None:
            return found
    return None


def _parsed(path: Path, error: type[IpaiError], text: str, parse: Callable[[str], Any]) -> Any:
    """``parse(text)`` with too-deep nesting refused, whether the parser or our count finds it;
    the parser's own errors are the caller's to word."""
    try:
        data = parse(text)
    except RecursionError:
        raise error(f"{path}: nested deeper than {MAX_NESTING} levels") from None
    problem = nesting_problem(data)
    if problem:
        raise error(f"{path}: {problem}")
    return data


def read_json(path: Path, what: str, error: type[IpaiError] = InputError) -> Any:
    text = read_text(path, what, error)
    try:
        return _parsed(path, error, text, json.loads)
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def read_toml(path: Path, what: str, error: type[IpaiError] = InputError) -> dict[str, Any]:
    text = read_text(path, what, error)
    try:
        data: dict[str, Any] = _parsed(path, error, text, tomllib.loads)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line L, column C)" in the message: keep it, it is the location.
        raise error(f"{path}: invalid TOML: {exc}") from None
    return data


def read_yaml(
    path: Path, what: str, error: type[IpaiError] = InputError, loader: Any = None
) -> Any:
    """A YAML document with PyYAML's safe loader (or a subclass of it that knows more tags)."""
    import yaml

    text = read_text(path, what, error)
    try:
        return _parsed(path, error, text, lambda t: yaml.load(t, Loader=loader or yaml.SafeLoader))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise error(f"{path}{where}: invalid YAML: {problem}") from None
