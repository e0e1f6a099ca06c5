"""``pipeline.no_bypass``: the CI files of a stack repository hold no way around a gate.

Which files: the ones git tracks (what CI runs) that match the platform patterns. Each file's
steps are extracted with their lines (``ci_files``) and each step's shell is judged by its
structure (``shell_lint``). A file that cannot be read or parsed is listed, never skipped in
silence; the report names every file judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ToolError
from ..core.gitstate import git_raw
from ..core.textfile import read_text
from .ci_commands import CommandPolicy
from .ci_files import DEFAULT_PIPELINE_FILES, Step, Unreadable, glob_regex, platform_of, steps_of
from .shell_lint import STRICT, lint_script

MAX_PIPELINE_BYTES = 2 * 1024 * 1024
_SIMULATED = re.compile(r"\b(CODEX_SKIP|SKIP_REVIEW|REVIEW_SKIP|FAKE_APPROVAL)\b")
# The classes in the order a reader should see them: the worst bypass first.
RANK = (
    "gate_bypass",
    "failure_swallowed",
    "tests_select_nothing",
    "pipefail_missing",
    "health_loop_never_fails",
    "warning_instead_of_failure",
)


@dataclass(frozen=True)
class PipelineFinding:
    error_class: str
    file: str
    line: int
    step: str
    why: str

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.why} (step {self.step!r})"

    def to_dict(self) -> dict[str, object]:
        return {
            "class": self.error_class,
            "file": self.file,
            "line": self.line,
            "step": self.step,
            "why": self.why,
        }


@dataclass
class PipelineReport:
    files: list[str] = field(default_factory=list)  # every file judged, with its platform
    unreadable: list[str] = field(default_factory=list)
    steps: int = 0
    unparsed: list[str] = field(default_factory=list)  # steps with shell syntax errors
    findings: list[PipelineFinding] = field(default_factory=list)


def tracked_files(repo: Path) -> list[str]:
    code, out = git_raw(repo, "ls-files", "-z", "--cached")
    if code != 0:
        raise ToolError(f"git ls-files failed in {repo}")
    return sorted(name for name in out.split("\0") if name)


def select(files: Iterable[str], patterns: list[str] | None) -> list[tuple[str, str]]:
    """The pipeline files among ``files`` with their platform. ``patterns`` (from the config)
    replace the defaults; the platform still comes from where the file sits."""
    chosen = []
    if patterns is None:
        table = [(glob_regex(glob), platform) for glob, platform in DEFAULT_PIPELINE_FILES]
        for name in files:
            platform = next((p for regex, p in table if regex.match(name)), None)
            if platform is not None:
                chosen.append((name, platform))
        return chosen
    regexes = [glob_regex(glob) for glob in patterns]
    return [(n, platform_of(n)) for n in files if any(r.match(n) for r in regexes)]


def lint_pipelines(
    repo: Path,
    patterns: list[str] | None,
    policy: CommandPolicy,
    known_modules: Iterable[str] = (),
) -> PipelineReport:
    report = PipelineReport()
    modules = frozenset(known_modules)
    for name, platform in select(tracked_files(repo), patterns):
        path = repo / name
        if path.is_symlink() or not path.is_file():
            continue
        try:
            text = read_text(path, "pipeline file", max_bytes=MAX_PIPELINE_BYTES)
            steps = steps_of(name, text, platform)
        except (Unreadable, ToolError) as exc:
            report.unreadable.append(str(exc))
            continue
        except Exception as exc:
            message = getattr(exc, "message", None) or type(exc).__name__
            report.unreadable.append(f"{name}: {message}")
            continue
        if not steps and platform == "shell" and not name.endswith(".sh"):
            continue  # a file in a scripts folder that is not a shell script
        report.files.append(f"{name} ({platform}, {len(steps)} step(s))")
        report.findings += _simulated_verdicts(name, text)
        for step in steps:
            report.steps += 1
            report.findings += _judge_step(step, policy, modules, report)
    report.findings.sort(key=lambda f: (f.file, f.line, f.error_class))
    return report


def _simulated_verdicts(name: str, text: str) -> list[PipelineFinding]:
    return [
        PipelineFinding(
            "gate_bypass", name, number, "-", f"simulated review verdict ({m.group(1)})"
        )
        for number, line in enumerate(text.splitlines(), start=1)
        if (m := _SIMULATED.search(line))
    ]


def _judge_step(
    step: Step, policy: CommandPolicy, modules: frozenset[str], report: PipelineReport
) -> list[PipelineFinding]:
    result = lint_script(step.script, step.flags, policy, modules)
    if result.parse_errors:
        report.unparsed.append(f"{step.file}:{step.line(0)} (step {step.name!r})")
    found = [
        PipelineFinding(f.error_class, step.file, step.line(f.row), step.name, f.why)
        for f in result.findings
    ]
    kinds = result.kinds & STRICT
    if step.ignored_at is not None and kinds:
        found.append(
            PipelineFinding(
                "gate_bypass",
                step.file,
                step.ignored_at,
                step.name,
                f"{step.ignored_by} on a step that runs a {'/'.join(sorted(kinds))} command: "
                "its failure never fails the pipeline",
            )
        )
    return found
