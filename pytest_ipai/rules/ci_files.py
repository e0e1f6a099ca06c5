"""CI files of a stack repository and the shell steps they run, with the lines they sit on.

Workflow files are read with a YAML composer that keeps every node's position (GitHub Actions,
GitLab CI, Azure Pipelines, Bitbucket, CircleCI, Drone, Woodpecker); Jenkinsfiles, Makefiles
and shell scripts are read as text. Each step comes with the shell options its platform runs
it under (GitHub's default ``bash -e``, CircleCI's ``bash -eo pipefail``, Azure's plain bash,
a Makefile's ``sh -c`` per line) and with the line of any setting that ignores its failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import yaml

from .shell_tree import Flags, apply_set

# Where each platform keeps its files; the platform decides how a file is read.
DEFAULT_PIPELINE_FILES: tuple[tuple[str, str], ...] = (
    (".github/workflows/*.yml", "github"),
    (".github/workflows/*.yaml", "github"),
    (".github/actions/**/action.yml", "github"),
    (".github/actions/**/action.yaml", "github"),
    (".gitlab-ci.yml", "gitlab"),
    (".gitlab/**/*.yml", "gitlab"),
    (".gitlab/**/*.yaml", "gitlab"),
    ("azure-pipelines*.yml", "azure"),
    ("azure-pipelines*.yaml", "azure"),
    ("azure-pipelines/**/*.yml", "azure"),
    ("azure-pipelines/**/*.yaml", "azure"),
    (".azure-pipelines/**/*.yml", "azure"),
    (".azure-pipelines/**/*.yaml", "azure"),
    (".azuredevops/**/*.yml", "azure"),
    (".azuredevops/**/*.yaml", "azure"),
    ("bitbucket-pipelines.yml", "bitbucket"),
    (".circleci/config.yml", "circleci"),
    (".drone.yml", "drone"),
    (".woodpecker.yml", "woodpecker"),
    (".woodpecker/*.yml", "woodpecker"),
    (".woodpecker/*.yaml", "woodpecker"),
    ("Jenkinsfile", "jenkins"),
    ("Jenkinsfile.*", "jenkins"),
    ("**/Jenkinsfile", "jenkins"),
    ("Makefile", "make"),
    ("makefile", "make"),
    ("GNUmakefile", "make"),
    ("*.sh", "shell"),
    ("**/*.sh", "shell"),
    (".ci/*", "shell"),
    ("ci/*", "shell"),
    ("scripts/**/*", "shell"),
    ("bin/*", "shell"),
)
# The shell each platform runs a step with, when the step does not say.
PLATFORM_FLAGS = {
    "github": Flags(True, False),  # bash -e {0}
    "gitlab": Flags(True, False),  # the runner stops at a failing line; pipefail is not assumed
    "azure": Flags(False, False),  # bash script.sh: only the last command's status counts
    "bitbucket": Flags(True, False),
    "circleci": Flags(True, True),  # /bin/bash -eo pipefail
    "drone": Flags(True, False),  # set -e
    "woodpecker": Flags(True, False),
    "jenkins": Flags(True, False),  # sh -xe
}
_SCRIPT_KEYS = {
    "github": ("run",),
    "gitlab": ("script", "before_script"),
    "azure": ("script", "bash"),
    "bitbucket": ("script",),
    "circleci": ("run", "command"),
    "drone": ("commands",),
    "woodpecker": ("commands",),
}
_STRUCTURAL = {
    "jobs", "steps", "stages", "pipelines", "branches", "default", "pull-requests", "tags",
    "custom", "inputs", "run", "defaults", "workflows", "runs", "parallel", "pipeline",
}  # fmt: skip
_IGNORE_KEYS = {"continue-on-error", "allow_failure", "continueOnError"}
_EXPRESSIONS = {
    "github": re.compile(r"\$\{\{.*?\}\}", re.S),
    "azure": re.compile(r"\$\{\{.*?\}\}|\$\[.*?\]|\$\((?=[^)]*[.A-Z])[A-Za-z_][\w.]*\)", re.S),
    "circleci": re.compile(r"<<.*?>>", re.S),
}


@dataclass(frozen=True)
class Step:
    file: str
    platform: str
    name: str
    script: str
    rows: tuple[int, ...]  # the file's 1-based line of each script row
    flags: Flags
    ignored_at: int | None = None  # line of a setting that ignores the step's failure
    ignored_by: str = ""

    def line(self, row: int) -> int:
        return self.rows[min(row, len(self.rows) - 1)] if self.rows else 1


class Unreadable(Exception):
    """A file that names itself a pipeline file but cannot be read as one."""


def platform_of(path: str, patterns: tuple[tuple[str, str], ...] = DEFAULT_PIPELINE_FILES) -> str:
    for glob, platform in patterns:
        if glob_regex(glob).match(path):
            return platform
    if path.endswith((".yml", ".yaml")):
        return "gitlab"
    return "shell"


def glob_regex(glob: str) -> re.Pattern[str]:
    """A path glob where ``**/`` spans folders and ``*`` stays within one."""
    out = ""
    index = 0
    while index < len(glob):
        if glob.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif glob[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif glob[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(glob[index]), index + 1
    return re.compile(out + r"\Z")


def steps_of(path: str, text: str, platform: str) -> list[Step]:
    if platform == "jenkins":
        return _jenkins_steps(path, text)
    if platform == "make":
        return _make_steps(path, text)
    if platform == "shell":
        return _shell_steps(path, text)
    return _yaml_steps(path, text, platform)


def _mask(text: str, platform: str) -> str:
    """Template expressions become a word of the same shape, so the shell parser sees a word
    and every line stays where it was."""
    pattern = _EXPRESSIONS.get(platform)
    if pattern is None:
        return text
    return pattern.sub(lambda m: re.sub(r"[^\n]", "X", m.group(0)), text)


def _shell_steps(path: str, text: str) -> list[Step]:
    first = text.split("\n", 1)[0]
    if not path.endswith(".sh") and not re.match(r"#!.*\b(ba|da|k|z)?sh\b", first):
        return []
    flags = Flags(False, False)
    if first.startswith("#!"):
        apply_set(flags, [w for w in first.split()[1:] if w.startswith(("-", "+"))])
    rows = tuple(range(1, text.count("\n") + 2))
    return [Step(path, "shell", path, text, rows, flags)]


_SH_STEP = re.compile(r"\bsh\s*\(?\s*(?:script\s*:\s*)?('''|\"\"\"|'|\")")


def _jenkins_steps(path: str, text: str) -> list[Step]:
    steps = []
    for match in _SH_STEP.finditer(text):
        quote = match.group(1)
        end = text.find(quote, match.end())
        if end < 0:
            continue
        if re.match(r"[^)\n]{0,120}return(Status|Stdout)\s*:\s*true", text[end : end + 140]):
            continue  # the status or output is handed to the pipeline, which checks it
        body = text[match.end() : end]
        first = text.count("\n", 0, match.end()) + 1
        rows = tuple(range(first, first + body.count("\n") + 1))
        steps.append(Step(path, "jenkins", f"sh at line {first}", body, rows, Flags(True, False)))
    return steps


def _make_steps(path: str, text: str) -> list[Step]:
    lines = text.split("\n")
    flags = Flags(False, False)
    flag_match = re.search(r"^\.SHELLFLAGS\s*[:+?]?=\s*(.*)$", text, re.M)
    if flag_match:
        apply_set(flags, flag_match.group(1).split())
    steps: list[Step] = []
    target = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        start = index
        while line.endswith("\\") and index + 1 < len(lines):
            index += 1
            line = line[:-1] + "\n" + lines[index].lstrip("\t")
        index += 1
        if not line.startswith("\t"):
            head = re.match(r"^([^\t#=:][^=:]*)::?(?!=)", line)
            target = head.group(1).strip() if head else target
            continue
        recipe = line[1:]
        prefix = re.match(r"^[@+\-\s]*", recipe).group(0)  # type: ignore[union-attr]
        body = _make_unvariable(recipe[len(prefix) :])
        if not body.strip() or body.lstrip().startswith("#"):
            continue
        rows = tuple(range(start + 1, index + 1))
        ignored = "-" in prefix
        steps.append(
            Step(path, "make", f"make {target}", body, rows, replace(flags),
                 start + 1 if ignored else None, "a `-` before the recipe line" if ignored else "")
        )  # fmt: skip
    return steps


def _make_unvariable(line: str) -> str:
    """Make's own references become words; ``$$`` becomes the shell's ``$``."""
    line = line.replace("$$", "\0")
    line = re.sub(
        r"\$\([^()]*\)|\$\{[^{}]*\}|\$[A-Za-z@<^?*%]", lambda m: "X" * len(m.group(0)), line
    )
    return line.replace("\0", "$")


# --- YAML platforms -------------------------------------------------------------------------


@dataclass
class _Context:
    name: str = ""
    flags: Flags | None = None
    ignored_at: int | None = None
    ignored_by: str = ""
    names: list[str] = field(default_factory=list)


def _yaml_steps(path: str, text: str, platform: str) -> list[Step]:
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise Unreadable(f"{path}{where}: invalid YAML") from None
    steps: list[Step] = []
    base = _Context(flags=PLATFORM_FLAGS.get(platform, Flags(True, False)))
    for document in documents:
        if document is not None:
            steps += _visit(path, platform, _mask_tree(document, platform), base)
    return steps


def _mask_tree(node: yaml.Node, platform: str) -> yaml.Node:
    for scalar in _scalars(node):
        scalar.value = _mask(scalar.value, platform)
    return node


def _scalars(node: yaml.Node) -> Iterator[yaml.ScalarNode]:
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            yield current
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            stack.extend(value for _, value in current.value)


def _items(node: yaml.MappingNode) -> dict[str, yaml.Node]:
    return {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _true(node: yaml.Node | None) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value.strip().lower() in {"true", "yes", "on"}


def _shell_flags(spec: str) -> Flags | None:
    """GitHub's and CircleCI's ``shell:``: bash runs -eo pipefail, sh -e; a custom command
    line says its own options; other interpreters are not shell."""
    words = spec.split()
    if not words:
        return None
    name = words[0].rsplit("/", 1)[-1]
    if name not in {"bash", "sh", "dash", "zsh"}:
        return None
    if len(words) == 1:
        return Flags(True, name == "bash")
    flags = Flags(False, False)
    apply_set(flags, [w for w in words[1:] if w.startswith(("-", "+")) or w == "pipefail"])
    return flags


def _visit(path: str, platform: str, node: yaml.Node, context: _Context) -> list[Step]:
    if isinstance(node, yaml.SequenceNode):
        return [s for item in node.value for s in _visit(path, platform, item, context)]
    if not isinstance(node, yaml.MappingNode):
        return []
    items = _items(node)
    here = replace(context)
    for key in _IGNORE_KEYS:
        if _true(items.get(key)):
            here.ignored_at, here.ignored_by = items[key].start_mark.line + 1, f"{key}: true"
    failure = items.get("failure")
    if isinstance(failure, yaml.ScalarNode) and failure.value == "ignore":
        here.ignored_at, here.ignored_by = failure.start_mark.line + 1, "failure: ignore"
    defaults = items.get("defaults")
    run = _items(defaults).get("run") if isinstance(defaults, yaml.MappingNode) else None
    shell = _items(run).get("shell") if isinstance(run, yaml.MappingNode) else None
    for spec in (shell, items.get("shell")):
        if isinstance(spec, yaml.ScalarNode):
            here.flags = _shell_flags(spec.value)
    labels = [items.get(k) for k in ("name", "displayName", "step")]
    label = next((n.value for n in labels if isinstance(n, yaml.ScalarNode)), "")
    here.name = label
    steps = []
    for key, value in items.items():
        if key in _SCRIPT_KEYS.get(platform, ()) and not isinstance(value, yaml.MappingNode):
            if here.flags is not None:
                steps += _script_step(path, platform, value, here, key)
        elif isinstance(value, yaml.MappingNode | yaml.SequenceNode):
            names = here.names + [n for n in (label,) if n]
            if key not in _STRUCTURAL and not isinstance(value, yaml.SequenceNode):
                names.append(key)
            steps += _visit(path, platform, value, replace(here, name="", names=names))
    return steps


def _script_step(
    path: str, platform: str, node: yaml.Node, context: _Context, key: str
) -> list[Step]:
    parts: list[tuple[str, int]] = []
    for scalar in _scalars_in_order(node):
        block = scalar.style in {"|", ">"}
        parts.append((scalar.value, scalar.start_mark.line + (2 if block else 1)))
    if not parts:
        return []
    script_lines: list[str] = []
    rows: list[int] = []
    for value, first in parts:
        value_lines = value.rstrip("\n").split("\n")
        script_lines += value_lines
        rows += [first + i for i in range(len(value_lines))]
    assert context.flags is not None
    name = " / ".join(dict.fromkeys([*context.names, context.name or key]))
    return [
        Step(path, platform, name, "\n".join(script_lines), tuple(rows),
             replace(context.flags), context.ignored_at, context.ignored_by)
    ]  # fmt: skip


def _scalars_in_order(node: yaml.Node) -> list[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        return [node]
    if isinstance(node, yaml.SequenceNode):
        return [s for item in node.value for s in _scalars_in_order(item)]
    return []
