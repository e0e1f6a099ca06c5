"""Structural bypass checks over one shell script (a CI step, a recipe line, a .sh file).

The script is parsed with tree-sitter's bash grammar (it reads what CI scripts really hold:
``$(a || b)``, ``[[ ]]``, ``case``, arithmetic, here-documents), and the checks reason about
structure, not lines: which command an ``|| true`` swallows, whether ``set -e`` or ``pipefail``
is on where a gate runs, whether a retry loop can end without failing, what a failure branch
does. Findings carry the script's 0-based row; the caller maps it to the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from tree_sitter import Node

from .ci_commands import CommandPolicy, git_no_verify, odoo_test_problems, unwrap
from .shell_tree import (
    Flags,
    IfParts,
    apply_set,
    argv,
    can_run_out,
    commands,
    if_parts,
    nested_script,
    parser,
    short,
    statements,
    status_read,
    text_of,
    walk,
)

STRICT = frozenset({"gate", "backup", "deploy", "pull"})  # their failure must fail the job
JUDGED = STRICT | {"probe"}
_WARNING = re.compile(r"::warning|::notice|##vso\[task\.logissue type=warning|SucceededWithIssues")
_LOOPS = ("for_statement", "c_style_for_statement", "while_statement")


@dataclass(frozen=True)
class ShellFinding:
    error_class: str
    row: int
    why: str


@dataclass
class _Script:
    policy: CommandPolicy
    known_modules: frozenset[str]
    failing_functions: set[str] = field(default_factory=set)
    findings: list[ShellFinding] = field(default_factory=list)
    row_offset: int = 0
    parse_errors: int = 0
    kinds: set[str] = field(default_factory=set)
    block_tail: bool = True  # whether the block being judged ends the script

    def add(self, error_class: str, node: Node, why: str) -> None:
        self.findings.append(ShellFinding(error_class, self.row_offset + node.start_point.row, why))


@dataclass(frozen=True)
class ScriptReport:
    findings: list[ShellFinding]
    parse_errors: int  # syntax errors tree-sitter recovered from
    kinds: frozenset[str]  # the categories of every command the script runs


def lint_script(
    text: str, flags: Flags, policy: CommandPolicy, known_modules: Iterable[str] = ()
) -> ScriptReport:
    script = _Script(policy, frozenset(known_modules))
    _lint_text(script, text, replace(flags), 0)
    unique = {(f.error_class, f.row): f for f in script.findings}
    findings = sorted(unique.values(), key=lambda f: f.row)
    return ScriptReport(findings, script.parse_errors, frozenset(script.kinds))


def _lint_text(script: _Script, text: str, flags: Flags, row: int) -> None:
    tree = parser().parse(text.encode("utf-8", "replace"))
    saved = script.row_offset
    script.row_offset = row
    script.parse_errors += sum(1 for _ in walk(tree.root_node, lambda n: n.type == "ERROR"))
    for fn in walk(tree.root_node, lambda n: n.type == "function_definition"):
        body = fn.child_by_field_name("body")
        name = fn.child_by_field_name("name")
        if body is not None and name is not None and _fails(script, body):
            script.failing_functions.add(text_of(name))
    _block(script, statements(tree.root_node), flags, tail=True, in_loop=False)
    script.row_offset = saved


def _categories(script: _Script, node: Node) -> set[str]:
    found: set[str] = set()
    for command in commands(node):
        found |= script.policy.categories(argv(command))
    return found


def _fails(script: _Script, node: Node) -> bool:
    """Whether running this node can end the job with a failure: exit N (N not 0), false,
    return N, or a call of a function that does."""
    for command in commands(node):
        words = argv(command)
        if not words:
            continue
        if words[0] in {"exit", "return"} and len(words) > 1 and words[1] != "0":
            return True
        if words[0] == "false" or words[0] in script.failing_functions:
            return True
    return False


def _warns(node: Node) -> bool:
    return any(_WARNING.search(" ".join(argv(c))) for c in commands(node))


def _block(
    script: _Script, statements: list[Node], flags: Flags, tail: bool, in_loop: bool
) -> None:
    saved = script.block_tail
    for index, node in enumerate(statements):
        last = tail and index == len(statements) - 1
        script.block_tail = tail
        _statement(script, node, flags, last, statements[index + 1 :], in_loop)
    script.block_tail = saved


def _statement(
    script: _Script, node: Node, flags: Flags, last: bool, rest: list[Node], in_loop: bool
) -> None:
    following = rest[0] if rest else None
    kind = node.type
    if kind == "redirected_statement":
        body = node.child_by_field_name("body")
        if body is not None:
            _statement(script, body, flags, last, rest, in_loop)
        return
    if kind == "if_statement":
        _if(script, if_parts(node), flags, last, in_loop)
        return
    if kind in _LOOPS:
        _loop(script, node, flags, rest, script.block_tail)
        return
    if kind in {"subshell", "compound_statement"}:
        inner = replace(flags) if kind == "subshell" else flags
        _block(script, statements(node), inner, last, in_loop)
        return
    if kind == "case_statement":
        for item in node.named_children:
            if item.type == "case_item":
                _block(script, statements(item)[1:], flags, last, in_loop)
        return
    if kind == "function_definition":
        body = node.child_by_field_name("body")
        if body is not None:
            _block(script, statements(body), replace(flags), True, False)
        return
    if kind == "command":
        _command(script, node, flags)
    elif kind == "list":
        _list(script, node, flags, last, following)
    elif kind == "pipeline":
        _pipeline(script, node, flags, following)
    else:
        if kind == "negated_command" and not last and _categories(script, node) & STRICT:
            script.add(
                "failure_swallowed",
                node,
                "`!` before a gate command: its failure never stops the job",
            )
        for command in commands(node):
            _command(script, command, flags)
    unchecked = not flags.errexit and not last and not status_read(following)
    if unchecked and kind in _SIMPLE and _categories(script, node) & STRICT:
        script.add(
            "failure_swallowed",
            node,
            f"`{short(node)}` runs without `set -e` and is not the last command: its "
            "exit status is lost",
        )
    for sub in walk(node, lambda n: n.type == "command_substitution"):
        for child in sub.named_children:
            for nested in commands(child):
                _command(script, nested, flags)
            for inner_list in walk(child, lambda n: n.type == "list"):
                _swallow(script, inner_list, in_substitution=True)


_SIMPLE = {"command", "pipeline"}


def _command(script: _Script, node: Node, flags: Flags) -> None:
    words = argv(node)
    if not words:
        return
    script.kinds |= script.policy.categories(words)
    if words[0] == "set":
        apply_set(flags, words[1:])
    if (
        words[0] == "trap"
        and len(words) >= 3
        and re.search(r"\bexit\s+0\b|^\s*(true|:)\s*$", words[1])
    ) and {"ERR", "EXIT", "0"} & set(words[2:]):
        script.add(
            "failure_swallowed",
            node,
            f"`trap {words[1]!r} {' '.join(words[2:])}` turns a failure into success",
        )
    if git_no_verify(words):
        script.add("gate_bypass", node, f"`{short(node)}`: --no-verify skips git's hooks")
    for problem in odoo_test_problems(words, script.known_modules):
        script.add("tests_select_nothing", node, problem)
    for layer in unwrap(words):
        nested = nested_script(layer)
        if nested is not None:
            _lint_text(script, nested[0], nested[1], script.row_offset + node.start_point.row)


def _list(script: _Script, node: Node, flags: Flags, last: bool, following: Node | None) -> None:
    _swallow(script, node, in_substitution=False)
    operands = node.named_children
    operators = [c.type for c in node.children if c.type in {"&&", "||"}]
    if operators and operators[-1] == "&&" and not last and not status_read(following):
        left = operands[0]
        if _categories(script, left) & STRICT and not _fails(script, operands[-1]):
            script.add(
                "failure_swallowed",
                left,
                f"`{short(node)}`: a failure left of && does not stop the job (not even with "
                "set -e) unless the list is the script's last command",
            )
    for operand in operands:
        if operand.type == "pipeline":
            _pipeline(script, operand, flags, following)
        elif operand.type != "list":
            for command in commands(operand):
                _command(script, command, flags)
        else:
            _list(script, operand, flags, True, following)


def _swallow(script: _Script, node: Node, in_substitution: bool) -> None:
    """``X || R`` where R neither fails nor runs X's kind of command again."""
    operators = [c for c in node.children if c.type in {"&&", "||"}]
    if not operators or operators[-1].type != "||":
        return
    left, right = node.named_children[0], node.named_children[-1]
    kinds = _categories(script, left) & (STRICT if in_substitution else JUDGED)
    if not kinds or _fails(script, right) or _categories(script, right) & kinds:
        return
    if _warns(right):
        script.add(
            "warning_instead_of_failure", node, f"`{short(node)}`: a failure only prints a warning"
        )
    else:
        script.add(
            "failure_swallowed",
            node,
            f"`{short(node)}`: the {'/'.join(sorted(kinds))} command's failure is swallowed",
        )


def _pipeline(script: _Script, node: Node, flags: Flags, following: Node | None) -> None:
    parts = [c for c in node.named_children if c.type != "comment"]
    for part in parts:
        for command in commands(part):
            _command(script, command, flags)
    if flags.pipefail or status_read(following):
        return
    for part in parts[:-1]:
        kinds = _categories(script, part) & (STRICT - {"pull"})
        if kinds:
            script.add(
                "pipefail_missing",
                part,
                f"`{short(node)}`: without `set -o pipefail` the pipeline's status is the last "
                f"command's, so the {'/'.join(sorted(kinds))} command's failure is lost",
            )


def _if(script: _Script, parts: IfParts, flags: Flags, last: bool, in_loop: bool) -> None:
    for condition in parts.conditions:
        negated = condition.type == "negated_command"
        kinds = _categories(script, condition)
        branch = parts.body if negated else parts.rest
        fails = any(_fails(script, b) or _categories(script, b) & kinds for b in branch)
        if kinds & JUDGED and not fails and not in_loop:
            if any(_warns(b) for b in branch):
                script.add(
                    "warning_instead_of_failure",
                    condition,
                    f"`if {short(condition)}`: its failure branch only prints a warning",
                )
            elif kinds & (STRICT - {"pull"}):
                script.add(
                    "failure_swallowed",
                    condition,
                    f"`if {short(condition)}`: nothing fails the job when it fails",
                )
        for command in commands(condition):
            _command(script, command, flags)
    _block(script, parts.body, flags, last, in_loop)
    for index, clause in enumerate(parts.rest):
        if clause.type == "elif_clause":
            inner = if_parts(clause)
            inner.rest = parts.rest[index + 1 :]
            _if(script, inner, flags, last, in_loop)
            break
        _block(script, statements(clause), flags, last, in_loop)


def _loop(script: _Script, node: Node, flags: Flags, rest: list[Node], ends_script: bool) -> None:
    """A retry loop around a probe that can run out must be followed by something that fails
    when it did: an exit, a probe or gate once more, or a test as the script's last word."""
    body = node.child_by_field_name("body")
    if body is None:
        return
    _block(script, statements(body), flags, tail=False, in_loop=True)
    probes = any(
        script.policy.categories(argv(c)) & {"probe", "gate"} or argv(c)[:1] in (["curl"], ["wget"])
        for c in commands(body, into_substitutions=True)
    )
    succeeds_early = any(
        argv(c)[:1] == ["break"] or argv(c)[:2] in (["exit", "0"], ["return", "0"])
        for c in commands(body)
    )
    if not probes or not succeeds_early or not can_run_out(node):
        return
    checks = [s for s in rest if _fails(script, s) or _categories(script, s) & {"probe", "gate"}]
    if checks or (ends_script and rest and _is_test(rest[-1])):
        return
    warning = next((s for s in rest if _warns(s)), None)
    if warning is not None:
        script.add(
            "warning_instead_of_failure",
            warning,
            "after a retry loop that ran out, only a warning is printed",
        )
        return
    script.add(
        "health_loop_never_fails",
        node,
        "a retry loop around a probe can run out without success, and nothing after it fails "
        "the job (add `exit 1` after the loop, or check once more)",
    )


def _is_test(node: Node) -> bool:
    return node.type == "test_command" or (
        node.type == "command" and argv(node)[:1] in (["test"], ["["])
    )
