"""The shell side of the CI checks: tree-sitter's bash grammar and the few structural
questions the checks ask of its trees (the words of a command, the commands a statement runs,
the parts of an if, whether a loop can run out, what ``set`` and ``bash -c`` change)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from tree_sitter import Language, Node, Parser

SHELLS = {"bash", "sh", "dash", "zsh", "ksh"}


@dataclass
class Flags:
    errexit: bool
    pipefail: bool


@lru_cache(maxsize=1)
def parser() -> Parser:
    import tree_sitter_bash

    return Parser(Language(tree_sitter_bash.language()))


def walk(node: Node, keep: Callable[[Node], bool]) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        if keep(current):
            yield current
        stack.extend(reversed(current.children))


def text_of(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def statements(node: Node) -> list[Node]:
    return [c for c in node.named_children if c.type not in {"comment", "heredoc_body"}]


def _word(node: Node) -> str:
    text = text_of(node)
    if node.type in {"raw_string", "string"} and len(text) >= 2:
        return text[1:-1]
    return text.replace('"', "").replace("'", "")


def argv(command: Node) -> list[str]:
    words = []
    for index, child in enumerate(command.children):
        if command.field_name_for_child(index) in {"name", "argument"}:
            words.append(_word(child))
    return words


def commands(node: Node, into_substitutions: bool = False) -> Iterator[Node]:
    """Simple commands a statement runs itself (not inside $(...) unless asked, nor inside
    a function definition)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "command":
            yield current
        if current.type == "function_definition" or (
            current.type in {"command_substitution", "process_substitution"}
            and not into_substitutions
        ):
            continue
        stack.extend(reversed(current.named_children))


def status_read(following: Node | None) -> bool:
    """The next statement reads the exit status ($?, PIPESTATUS)."""
    return following is not None and bool(
        re.search(r"\$\?|\$\{\?\}|PIPESTATUS", text_of(following))
    )


def short(node: Node) -> str:
    text = " ".join(text_of(node).split())
    return text if len(text) <= 60 else text[:57] + "..."


_SSH_VALUE_OPTIONS = {"-p", "-i", "-l", "-o", "-F", "-J", "-E", "-S", "-W", "-b", "-c", "-m"}


def nested_script(layer: list[str]) -> tuple[str, Flags] | None:
    """The script of ``bash -c SCRIPT`` (with the options before it: ``bash -eo pipefail -c``)
    or of ``ssh HOST COMMAND...``, and the shell options it starts with."""
    name = layer[0].rsplit("/", 1)[-1] if layer else ""
    if name in SHELLS:
        for index, arg in enumerate(layer[1:], start=1):
            if not arg.startswith("-") and not re.fullmatch(r"[-+][a-zA-Z]*o", layer[index - 1]):
                return None  # a script file, not a command string
            if re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", arg) and index + 1 < len(layer):
                flags = Flags(False, False)
                apply_set(flags, [*layer[1:index], arg.replace("c", "")])
                return layer[index + 1], flags
        return None
    if name == "ssh":
        rest, index = layer[1:], 0
        while index < len(rest) and rest[index].startswith("-"):
            index += 2 if rest[index] in _SSH_VALUE_OPTIONS else 1
        if index + 1 < len(rest):
            return " ".join(rest[index + 1 :]), Flags(False, False)
    return None


def apply_set(flags: Flags, args: list[str]) -> None:
    index = 0
    while index < len(args):
        arg = args[index]
        on = arg.startswith("-")
        if arg[:1] in "-+" and arg not in {"-", "--"} and not arg.startswith("--"):
            letters = arg[1:]
            if "e" in letters:
                flags.errexit = on
            if "o" in letters and index + 1 < len(args):
                index += 1
                if args[index] == "pipefail":
                    flags.pipefail = on
                elif args[index] == "errexit":
                    flags.errexit = on
        index += 1


@dataclass
class IfParts:
    conditions: list[Node]
    body: list[Node]
    rest: list[Node]  # the elif and else clauses that run when the conditions fail


def if_parts(node: Node) -> IfParts:
    parts = IfParts([], [], [])
    seen_then = False
    for child in node.children:
        if child.type == "then":
            seen_then = True
        elif child.type in {"elif_clause", "else_clause"}:
            parts.rest.append(child)
        elif child.is_named and child.type != "comment":
            (parts.body if seen_then else parts.conditions).append(child)
    return parts


def can_run_out(loop: Node) -> bool:
    """A for loop always can; a while/until loop can unless its condition is the probe itself
    (until curl ...) or always true (while true)."""
    if loop.type != "while_statement":
        return True
    condition = loop.child_by_field_name("condition")
    if condition is None:
        return False
    text = text_of(condition).strip()
    if text in {"true", ":", "[ 1 ]", "(( 1 ))"}:
        return False
    return condition.type in {"test_command", "binary_expression"} or text.startswith(
        ("[", "test ", "((")
    )
