"""What a command in a CI step is: a gate, a backup, a deploy, a pull or a health probe.

The categories are policy (``params.commands`` of ``pipeline.no_bypass``); the defaults below
fit an Odoo stack. A pattern is space-separated tokens: the first matches the command's name,
each further token must match one of its arguments; ``|`` separates alternatives and each
alternative is a glob. Wrappers (sudo, timeout, env, docker compose exec/run, python -m, ...)
are looked through, so ``docker compose run --rm odoo odoo -u all`` is an Odoo upgrade.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..core.errors import ConfigError

CATEGORIES = ("gate", "backup", "deploy", "pull", "probe")

DEFAULT_COMMANDS: dict[str, tuple[str, ...]] = {
    "gate": (
        "odoo|odoo-bin|odoo.py -i*|-u*|--init*|--update*|--test-enable|--test-tags*|--test-file*",
        "pytest|py.test|ipai|tox|nox|oca_run_tests|oca_init_test_database",
        "pre-commit run",
        "make test*|check*|lint*|gate*|verify*",
        "grype|trivy|bandit|semgrep|gitleaks|detect-secrets*|pip-audit|safety",
        "ruff|flake8|pylint|mypy|oca-checks-odoo-module|manifestoo",
    ),
    "backup": (
        "pg_dump|pg_dumpall|pg_restore|pg_basebackup|click-odoo-backupdb|click-odoo-restoredb",
        "restic backup|restore",
        "borg create",
    ),
    "deploy": (
        "docker|podman compose up",
        "docker-compose|podman-compose up",
        "docker stack deploy",
        "ansible-playbook|click-odoo-update",
        "kubectl apply|rollout",
        "helm upgrade|install",
    ),
    "pull": (
        "git pull|push",
        "docker|podman pull",
        "docker|podman compose pull",
        "docker-compose|podman-compose pull",
    ),
    "probe": (
        "curl|wget *health*|*/web/login*|*version_info*|*/web/database/*|*ping*|*ready*|*alive*",
        "pg_isready",
        "nc -z*",
        "docker|podman inspect *health*",
    ),
}


@dataclass(frozen=True)
class Pattern:
    name: tuple[str, ...]
    args: tuple[tuple[str, ...], ...]

    def matches(self, argv: list[str]) -> bool:
        if not argv:
            return False
        if not (_any_glob(argv[0], self.name) or _any_glob(_basename(argv[0]), self.name)):
            return False
        rest = argv[1:]
        return all(any(_any_glob(arg, alts) for arg in rest) for alts in self.args)


def _any_glob(text: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(text, glob) for glob in globs)


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def parse_pattern(text: str, where: str) -> Pattern:
    tokens = text.split()
    if not tokens or any(not alt for token in tokens for alt in token.split("|")):
        raise ConfigError(f"{where}: {text!r}: expected 'name[|name] [arg-glob[|alt] ...]'")
    return Pattern(tuple(tokens[0].split("|")), tuple(tuple(t.split("|")) for t in tokens[1:]))


@dataclass(frozen=True)
class CommandPolicy:
    patterns: Mapping[str, tuple[Pattern, ...]]

    @classmethod
    def from_params(cls, commands: object, where: str) -> CommandPolicy:
        """Defaults, with each category named in ``commands`` replaced by the given list."""
        if commands is None:
            commands = {}
        if not isinstance(commands, Mapping):
            raise ConfigError(f"{where}: expected a table of category = [patterns]")
        chosen: dict[str, tuple[Pattern, ...]] = {}
        for category in CATEGORIES:
            texts = commands.get(category, DEFAULT_COMMANDS[category])
            key = f"{where}.{category}"
            if not isinstance(texts, list | tuple) or not all(isinstance(t, str) for t in texts):
                raise ConfigError(f"{key}: expected a list of strings")
            chosen[category] = tuple(parse_pattern(t, key) for t in texts)
        unknown = sorted(set(commands) - set(CATEGORIES))
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown category (known: {CATEGORIES})")
        return cls(chosen)

    def categories(self, argv: list[str]) -> set[str]:
        """Every category any layer of the (unwrapped) command falls in."""
        found = set()
        for layer in unwrap(argv):
            for category, patterns in self.patterns.items():
                if any(p.matches(layer) for p in patterns):
                    found.add(category)
        return found


# Wrappers and the options of theirs that take a value (so the value is not the command).
_VALUE_OPTIONS = {
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user", "--group"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"},
    "nice": {"-n", "--adjustment"},
    "ionice": {"-c", "-n", "-p", "--class", "--classdata"},
    "env": {"-u", "--unset", "-C", "--chdir"},
    "xvfb-run": {"-n", "-s", "-f", "-e", "--server-num", "--server-args"},
    "stdbuf": {"-i", "-o", "-e"},
}
_PLAIN_WRAPPERS = {"nohup", "time", "exec", "command", "builtin", "xargs"}
_ENGINE_RUN_OPTIONS = {
    "-e", "--env", "-u", "--user", "-w", "--workdir", "--name", "--entrypoint", "-p",
    "--publish", "-v", "--volume", "--network", "--net", "-l", "--label", "--index",
    "--env-file", "--mount", "--pull", "--platform", "--cpus", "-m", "--memory",
}  # fmt: skip
_COMPOSE_GLOBAL_OPTIONS = {
    "-f", "--file", "-p", "--project-name", "--env-file", "--profile", "--project-directory",
    "--ansi", "--parallel", "--progress",
}  # fmt: skip
_RUNNERS = {"poetry", "uv", "pipenv", "pdm", "hatch", "rye"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def unwrap(argv: list[str]) -> list[list[str]]:
    """The command and each command it runs through wrappers, outermost first."""
    layers = [argv]
    current = argv
    for _ in range(8):
        inner = _inner(current)
        if not inner:
            break
        layers.append(inner)
        current = inner
    return layers


def _skip_options(args: list[str], with_value: set[str]) -> list[str]:
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "--":
        option = args[index]
        index += 2 if option in with_value and "=" not in option else 1
    if index < len(args) and args[index] == "--":
        index += 1
    return args[index:]


def _inner(argv: list[str]) -> list[str]:
    if not argv:
        return []
    name, args = _basename(argv[0]), argv[1:]
    if name in _VALUE_OPTIONS or name in _PLAIN_WRAPPERS:
        rest = _skip_options(args, _VALUE_OPTIONS.get(name, set()))
        if name == "timeout" and rest:
            rest = rest[1:]  # the duration
        if name == "env":
            while rest and _ASSIGNMENT.match(rest[0]):
                rest = rest[1:]
        return rest
    if re.fullmatch(r"python[0-9.]*", name) and len(args) >= 2 and args[0] == "-m":
        return args[1:]
    if name in _RUNNERS and args[:1] == ["run"]:
        return _skip_options(args[1:], set())
    if name in {"npx", "uvx", "pipx"}:
        return _skip_options(args[1:] if args[:1] == ["run"] else args, set())
    if name in {"docker", "podman"} and args[:1] == ["compose"]:
        return _compose_inner(args[1:])
    if name in {"docker-compose", "podman-compose"}:
        return _compose_inner(args)
    if name in {"docker", "podman"} and args[:1] in (["exec"], ["run"]):
        rest = _skip_options(args[1:], _ENGINE_RUN_OPTIONS)
        return rest[1:]  # the container or image
    if name == "kubectl" and "--" in args:
        return args[args.index("--") + 1 :]
    return []


def _compose_inner(args: list[str]) -> list[str]:
    rest = _skip_options(args, _COMPOSE_GLOBAL_OPTIONS)
    if rest[:1] not in (["exec"], ["run"]):
        return []
    rest = _skip_options(rest[1:], _ENGINE_RUN_OPTIONS)
    return rest[1:]  # the service


def git_no_verify(argv: list[str]) -> bool:
    """``--no-verify`` (or ``commit -n``) given to git itself, not a look-alike flag of
    another tool (``supabase functions deploy --no-verify-jwt``)."""
    for layer in unwrap(argv):
        if layer and _basename(layer[0]) == "git":
            sub = _skip_options(layer[1:], {"-C", "-c", "--git-dir", "--work-tree"})
            if "--no-verify" in sub:
                return True
            if sub[:1] == ["commit"] and any(re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", a) for a in sub):
                return True
    return False


# Odoo's --test-tags grammar: [-][tag][/module][:class][.method][[params]], comma-separated.
_TAG_SPEC = re.compile(
    r"^(?P<sign>[-+]?)(?P<tag>[^/:.\[]*)(?:/(?P<module>[^:.\[]*))?(?::(?P<cls>[^.\[]*))?"
    r"(?:\.(?P<method>[^\[]*))?(?:\[.*\])?$"
)


def odoo_test_problems(argv: list[str], known_modules: Iterable[str]) -> list[str]:
    """Why an Odoo command's --test-tags can select no test: a spec naming a module that is
    neither being installed or updated by the command nor a module of the stack."""
    for layer in unwrap(argv):
        if layer and _basename(layer[0]) in {"odoo", "odoo-bin", "odoo.py"}:
            return _tag_problems(layer[1:], set(known_modules))
    return []


def _option_values(args: list[str], short: str, long: str) -> list[str]:
    values = []
    for index, arg in enumerate(args):
        if arg in (short, long) and index + 1 < len(args):
            values.append(args[index + 1])
        elif arg.startswith(long + "="):
            values.append(arg.split("=", 1)[1])
        elif short and arg.startswith(short) and len(arg) > len(short) and not arg.startswith("--"):
            values.append(arg[len(short) :])
    return values


def _tag_problems(args: list[str], known: set[str]) -> list[str]:
    tags = _option_values(args, "", "--test-tags")
    installing: set[str] = set()
    for value in _option_values(args, "-i", "--init") + _option_values(args, "-u", "--update"):
        installing.update(v.strip() for v in value.split(","))
    problems = []
    for value in tags:
        if "$" in value:
            continue  # decided at run time: cannot judge
        for spec in filter(None, (s.strip() for s in value.split(","))):
            match = _TAG_SPEC.match(spec)
            if match is None or match["sign"] == "-":
                continue
            module = (match["module"] or "").split("/")[0]  # /module/tests/test_x.py: a file
            if module and module not in known and module not in installing:
                problems.append(
                    f"--test-tags {spec} selects the tests of a module {module!r}, which this "
                    f"command neither installs nor updates and the stack does not have: Odoo runs "
                    f"0 tests and exits 0"
                    + (
                        f" (to select the tag {module!r}, write {module})"
                        if not match["tag"]
                        else ""
                    )
                )
    return problems
