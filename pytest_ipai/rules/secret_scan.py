"""Committed secrets, found where they really are and named without their values.

``git grep -P`` picks the candidate lines of tracked text files (a superset of what any
detector flags, so large data files cost nothing); each candidate is then judged with its file's
context by detect-secrets' detectors and filters plus ours (rules/secret_detectors.py). The
values of the secrets the config names are searched verbatim, in every form a program writes
them. A finding recorded in the baseline (detect-secrets' ``.secrets.baseline``) with a reason
is accepted; every suppression is counted by its reason.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detect_secrets.core.potential_secret import PotentialSecret

from ..core.errors import IpaiError, ToolError
from ..core.gitstate import git, git_raw, work_tree_status
from ..core.redact import credential_parts
from ..core.textfile import read_bytes
from .grep_cache import GREP_TIMEOUT, cached_grep, grep
from .secret_baseline import DEFAULT_NAME, Baseline, baseline_name, load_baseline
from .secret_detectors import detectors, file_filtered, judge_lines, prefilter_patterns

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_CANDIDATES_PER_FILE = 1000
CONFIGURED = "Configured Secret"
ALLOWLIST_PRAGMA = "pragma: allowlist secret"


@dataclass(frozen=True)
class SecretFinding:
    file: str
    line: int
    kind: str  # the detector's secret type: "AWS Access Key", "Secret Keyword", ...
    hashed: str  # detect-secrets' hashed_secret (SHA-1): the baseline's key, never shown
    commit: str = ""  # for a finding in the history: the commit that added it

    @property
    def what(self) -> str:
        return f"{self.kind}, added in {self.commit}" if self.commit else self.kind


@dataclass
class SecretScan:
    findings: list[SecretFinding] = field(default_factory=list)
    files_tracked: int = 0
    files_scanned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # why -> how many tracked files
    suppressed: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, why
    candidate_lines: int = 0
    capped: int = 0  # files judged on their first MAX_CANDIDATES_PER_FILE candidate lines only

    def to_dict(self) -> dict[str, object]:
        """For the pack: places and kinds, never a value or its hash."""
        return {
            "files_tracked": self.files_tracked,
            "files_scanned": self.files_scanned,
            "files_skipped": self.skipped,
            "files_capped": self.capped,
            "findings": [
                {"file": f.file, "line": f.line, "type": f.kind, "commit": f.commit or None}
                for f in self.findings
            ],
            "suppressed": [{"file": f, "line": n, "reason": why} for f, n, why in self.suppressed],
        }

    def suppressed_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _file, _line, why in self.suppressed:
            counts[why] += 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class _Judge:
    """Turns detector verdicts into findings or counted suppressions, for the tree and the
    history alike."""

    def __init__(self, scan: SecretScan, ignore: list[str], values: list[str], baseline: Baseline):
        self.scan, self.ignore, self.values, self.baseline = scan, ignore, values, baseline
        self.plugins = detectors()
        self.prefilter = re.compile("|".join(prefilter_patterns(self.plugins)))

    def ignored(self, file: str) -> bool:
        return any(fnmatch.fnmatch(file, pattern) for pattern in self.ignore)

    def judge(
        self,
        file: str,
        lines: list[str],
        numbers: list[int],
        commit: str = "",
        line_of: Callable[[int], int] = int,
    ) -> None:
        """Judge ``numbers`` (1-based into ``lines``); ``line_of`` maps them to the file's
        own line numbers (a diff's added lines are not the whole file)."""
        scan = self.scan
        if self.ignored(file):
            scan.suppressed += [(file, line_of(n), "ignore_paths") for n in numbers]
            return
        if (why := file_filtered(file)) is not None:
            scan.suppressed += [(file, line_of(n), why) for n in numbers]
            return
        for verdict in judge_lines(self.plugins, file, lines, numbers):
            self._keep(file, line_of(verdict.secret.line_number), verdict.secret.type,
                       verdict.secret.secret_hash, verdict.suppressed_by, commit)  # fmt: skip
        for number in numbers:  # the configured values, found whatever their shape
            text = lines[number - 1]
            for value in self.values:
                if value in text:
                    why = "allowlist pragma" if ALLOWLIST_PRAGMA in text else None
                    hashed = PotentialSecret.hash_secret(value)
                    self._keep(file, line_of(number), CONFIGURED, hashed, why, commit)
                    break

    def _keep(self, file: str, line: int, kind: str, hashed: str, why: str | None,
              commit: str) -> None:  # fmt: skip
        if why is None:
            why = self.baseline.accepts(file, hashed)
        if why is not None:
            self.scan.suppressed.append((file, line, why))
        else:
            self.scan.findings.append(SecretFinding(file, line, kind, hashed, commit))


def _tracked(repo: Path) -> list[tuple[str, str]]:
    """(mode, path) of every tracked file."""
    code, out = git_raw(repo, "ls-files", "-z", "--stage")
    if code != 0:
        raise ToolError(f"git ls-files failed in {repo}")
    entries = []
    for record in out.split("\0"):
        if "\t" in record:
            meta, path = record.split("\t", 1)
            entries.append((meta.split(" ", 1)[0], path))
    return entries


def _text_files(repo: Path) -> set[str]:
    """Tracked files git reads as text (what ``git grep -I`` searches)."""
    code, out = git(repo, "grep", "-I", "-l", "-z", "-e", "", timeout=GREP_TIMEOUT)
    if code not in (0, 1):
        raise ToolError(f"git grep failed in {repo}")
    return {name for name in out.split("\0") if name}


def _empty(path: Path) -> bool:
    try:
        return os.lstat(path).st_size == 0
    except OSError:
        return False


def _lines(path: Path) -> list[str] | str:
    """The file's lines, or why it was not read (never follows a symlink)."""
    try:
        info = os.lstat(path)
    except OSError:
        return "missing from the work tree"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    try:
        data = read_bytes(path, "file", max_bytes=MAX_FILE_BYTES)
    except IpaiError:
        return f"unreadable or over {MAX_FILE_BYTES // (1024 * 1024)} MiB"
    return data.decode("utf-8", "replace").splitlines()


def scan_secrets(
    repo: Path,
    ignore: list[str],
    secret_values: Iterable[str] = (),
    baseline: Baseline | None = None,
) -> SecretScan:
    """Every tracked file judged; what was not scanned (binary, symlink, submodule, too large)
    is counted by reason, so a scan of nothing is never taken for a pass."""
    scan = SecretScan()
    baseline = baseline or Baseline.empty()
    values = sorted(credential_parts(secret_values), key=len, reverse=True)
    judge = _Judge(scan, ignore, values, baseline)
    tracked = _tracked(repo)
    scan.files_tracked = len(tracked)
    regular = {path for mode, path in tracked if mode in ("100644", "100755")}
    for mode, _path in tracked:
        if mode not in ("100644", "100755"):
            why = "symlink" if mode == "120000" else "submodule or other entry"
            scan.skipped[why] = scan.skipped.get(why, 0) + 1
    text_files = _text_files(repo) & regular
    for name in regular - text_files:  # git grep lists neither binary nor empty files
        why = "empty" if _empty(repo / name) else "binary"
        scan.skipped[why] = scan.skipped.get(why, 0) + 1
    candidates: dict[str, set[int]] = defaultdict(set)
    # One alternation, not one -e per pattern: git then searches each file's whole buffer
    # once instead of trying every pattern on every line (50 MB: 4 s, not minutes).
    # What HEAD holds is searched once per commit (grep_cache.py): the search names the cache
    # entry, so the config's secret values never join it (they are searched below).
    prefilter = ["-P", f"--max-count={MAX_CANDIDATES_PER_FILE}", "-e", judge.prefilter.pattern]
    matched, _in_head = cached_grep(repo, work_tree_status(repo), prefilter)
    for file, number in matched:
        candidates[file].add(number)
    if values:
        fixed = ["-F", f"--max-count={MAX_CANDIDATES_PER_FILE}"]
        for value in values:
            fixed += ["-e", value]
        for file, number, _text in grep(repo, *fixed):
            candidates[file].add(number)
    scan.files_scanned = len(text_files)
    for file in sorted(candidates):
        if file == baseline.name or file not in regular:
            continue
        lines = _lines(repo / file)
        if isinstance(lines, str):
            scan.skipped[lines] = scan.skipped.get(lines, 0) + 1
            scan.files_scanned -= 1
            continue
        numbers = sorted(n for n in candidates[file] if n <= len(lines))
        scan.capped += len(numbers) >= MAX_CANDIDATES_PER_FILE
        scan.candidate_lines += len(numbers)
        judge.judge(file, lines, numbers)
    scan.findings.sort(key=lambda f: (f.file, f.line, f.kind))
    return scan


def scan_with_params(
    repo: Path, params: dict[str, Any], secret_values: Iterable[str], *, history: bool = True
) -> tuple[SecretScan, Baseline]:
    """The scan as ``secrets.none_committed``'s policy params set it up: ``ignore_paths``,
    ``baseline``, and ``history`` (when ``history`` allows it). ConfigError for a baseline
    that cannot be read; ToolError when git cannot answer."""
    baseline = load_baseline(repo, baseline_name(params.get("baseline", DEFAULT_NAME)))
    ignore = list(params.get("ignore_paths", []))
    values = list(secret_values)
    scan = scan_secrets(repo, ignore, values, baseline)
    if history and params.get("history", False):
        depth = int(params.get("history_max_commits", 1000))
        history_secrets(repo, ignore, values, depth, baseline, scan)
    return scan, baseline


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
HISTORY_TIMEOUT = 300.0


def history_secrets(
    repo: Path,
    ignore: list[str],
    secret_values: Iterable[str] = (),
    max_commits: int = 1000,
    baseline: Baseline | None = None,
    scan: SecretScan | None = None,
) -> SecretScan:
    """Secrets in the lines the last ``max_commits`` commits added (a secret removed from the
    tree is still in the history), each naming the commit that added it; one finding per
    (file, type, commit)."""
    scan = scan or SecretScan()
    values = sorted(credential_parts(secret_values), key=len, reverse=True)
    judge = _Judge(scan, ignore, values, baseline or Baseline.empty())
    code, out = git_raw(
        repo, "log", f"--max-count={max_commits}", "-p", "-U0", "--no-color", "--no-ext-diff",
        "--no-renames", "--format=commit %H", timeout=HISTORY_TIMEOUT,
    )  # fmt: skip
    if code != 0:
        raise ToolError(f"git log failed in {repo}")
    before = len(scan.findings)
    for commit, file, added in _added_lines(out):
        texts = [text for _number, text in added]
        numbers = [i + 1 for i, text in enumerate(texts) if _candidate(judge, text, values)]
        if numbers:
            real = {i + 1: number for i, (number, _t) in enumerate(added)}
            judge.judge(file, texts, numbers, commit, real.__getitem__)
    seen: set[tuple[str, str, str]] = set()
    unique = scan.findings[:before]
    for finding in scan.findings[before:]:
        if (key := (finding.file, finding.kind, finding.commit)) not in seen:
            seen.add(key)
            unique.append(finding)
    scan.findings = unique
    return scan


def _candidate(judge: _Judge, text: str, values: list[str]) -> bool:
    return judge.prefilter.search(text) is not None or any(v in text for v in values)


def _added_lines(log: str) -> Iterable[tuple[str, str, list[tuple[int, str]]]]:
    """(commit, file, [(line number, text)]) for each file each commit touched."""
    commit, file, number = "", "", 0
    added: list[tuple[int, str]] = []
    for line in log.splitlines():
        if line.startswith(("commit ", "+++ ")) and added:
            yield commit, file, added
            added = []
        if line.startswith("commit "):
            commit = line[7:19]
        elif line.startswith("+++ "):
            file = line[6:] if line.startswith("+++ b/") else ""
        elif (hunk := _HUNK.match(line)) is not None:
            number = int(hunk.group(1))
        elif line.startswith("+") and file:
            added.append((number, line[1:]))
            number += 1
    if added:
        yield commit, file, added


_GENERIC = {"Secret Keyword": 3, "Assigned Secret": 3, "DSN Password": 2,
            "Basic Auth Credentials": 2}  # fmt: skip
_EXAMPLE = re.compile(
    r"(?:^|/)(?:tests?|docs?|examples?|samples?|fixtures?)/|[._-](?:example|sample|dist|template)"
    r"(?:$|[./])",
    re.I,
)


def grouped(findings: list[SecretFinding]) -> list[str]:
    """One line per distinct secret (a value committed in 17 places is one entry), the likely
    real ones first: values the config names, then provider tokens and keys, then credentials
    in URLs, then generic assignments; in each tier, files that look like examples or tests
    last and the most widely committed values first. Never a value, only kind and place."""
    groups: dict[tuple[str, str], list[SecretFinding]] = defaultdict(list)
    for finding in findings:
        groups[(finding.hashed, finding.commit)].append(finding)

    def order(places: list[SecretFinding]) -> tuple[float, int, str, int]:
        first = places[0]
        tier = 0 if first.kind == CONFIGURED else _GENERIC.get(first.kind, 1)
        example = 0.5 if all(_EXAMPLE.search(p.file) for p in places) else 0.0
        return (tier + example, -len(places), first.file, first.line)

    lines = []
    for places in sorted(groups.values(), key=order):
        first = places[0]
        text = f"{first.what} at {first.file}:{first.line}"
        if len(places) > 1:
            others = ", ".join(f"{p.file}:{p.line}" for p in places[1:4])
            more = f" and {len(places) - 4} more" if len(places) > 4 else ""
            text += f" (the same value in {len(places) - 1} more place(s): {others}{more})"
        lines.append(text)
    return lines
