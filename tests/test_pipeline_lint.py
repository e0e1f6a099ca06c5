"""pipeline.no_bypass reads CI files by their structure: shell snippets as found in a real
stack repository's CI (each with the class it must get, or none), every platform's file layout
with the line each finding sits on, and the gate's verdicts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, run_ipai, run_suite
from gitrepo import commit_all, make_repo

from pytest_ipai.core.errors import ConfigError
from pytest_ipai.rules.ci_commands import CommandPolicy
from pytest_ipai.rules.pipeline import lint_pipelines
from pytest_ipai.rules.shell_lint import lint_script
from pytest_ipai.rules.shell_tree import Flags

POLICY = CommandPolicy.from_params(None, "params.commands")
GITHUB = Flags(True, False)  # a run step without shell: (bash -e)

# (snippet, expected classes); each row is a shape found in real CI files.
SNIPPETS = [
    # missed before: a pre-deploy backup of the wrong database whose failure is swallowed
    ("pg_dump -h db -U odoo odoo_core -Fc -f predeploy.dump || true", {"failure_swallowed"}),
    # missed before: a health loop that never fails the job
    (
        "for i in $(seq 1 30); do\n  curl -fsS http://localhost:8069/web/health && break\n"
        "  sleep 5\ndone\necho deployed",
        {"health_loop_never_fails"},
    ),
    (
        "for i in 1 2 3 4 5; do\n  curl -fsS http://localhost:8069/web/login && break\n"
        "  sleep 5\ndone",
        {"health_loop_never_fails"},
    ),
    (
        'curl -fsS http://localhost:8069/web/health || echo "::warning::unhealthy"',
        {"warning_instead_of_failure"},
    ),
    (
        'if ! curl -fsS http://localhost:8069/web/health; then\n  echo "::warning::unhealthy"\nfi',
        {"warning_instead_of_failure"},
    ),
    (
        "odoo -c odoo.conf -d ci -i ipai_core --test-enable --stop-after-init | tee install.log",
        {"pipefail_missing"},
    ),
    (
        "odoo -d ci -i oddfacts_tests --test-tags=/unit --without-demo=all --stop-after-init",
        {"tests_select_nothing"},
    ),
    ("git pull --ff-only origin main || true", {"failure_swallowed"}),
    ("grype dir:. --fail-on high || true", {"failure_swallowed"}),
    ("oca_run_tests || true", {"failure_swallowed"}),  # OCA's CI image runs Odoo's tests
    ("git push --no-verify origin HEAD:main", {"gate_bypass"}),
    ("trap 'exit 0' ERR\npytest -m predeploy", {"failure_swallowed"}),
    ("pytest -q && echo 'tests ok'\necho next", {"failure_swallowed"}),
    ("docker compose exec -T odoo bash -c 'pytest -q || true'", {"failure_swallowed"}),
    ("ssh deploy@host 'pytest -q | tee out'", {"pipefail_missing"}),
    ("bash --noprofile -c 'pytest -q; echo done'", {"failure_swallowed"}),  # no -e in there
    ("bash -eo pipefail -c 'pytest -q | tee out'", set()),
    # false alarms before: none of these may be flagged
    ("supabase functions deploy hello --no-verify-jwt", set()),
    ('find . -name "*.pyc" -delete || true', set()),
    ('WHEEL=$(ls dist/*.whl || true)\n[ -n "$WHEEL" ] || exit 1', set()),
    ('STATUS=$(curl -s -o /dev/null -w "%{http_code}" http://x/web/health || true)', set()),
    # right as written: each failure reaches the job
    (
        "for i in $(seq 1 30); do\n  curl -fsS http://x/web/health && break\n  sleep 2\ndone\n"
        "curl -fsS http://x/web/health",
        set(),
    ),
    (
        "for i in $(seq 1 30); do\n  curl -fsS http://x/web/health && exit 0\n  sleep 2\ndone\n"
        "exit 1",
        set(),
    ),
    ("until curl -fsS http://x/web/health; do sleep 2; done", set()),
    ("set -o pipefail\nodoo -d ci -i a --test-enable --stop-after-init | tee log", set()),
    ("odoo -d ci -i a --test-tags /a --stop-after-init", set()),
    ("odoo -d ci -i a --test-tags /contacts,-/base:TestX --stop-after-init", set()),
    ("odoo -d ci -u a --test-tags /a/tests/test_x.py:TestX.test_y,slow --stop-after-init", set()),
    ('pg_dump odoo > x.dump || { echo "backup failed" >&2; exit 1; }', set()),
    ("git pull || git pull", set()),
    ("cd build && pytest -q", set()),
    # a poll loop whose result the script's last test judges, and the same without that test
    (
        'for a in $(seq 1 180); do\n  status=$(curl -fsS "$api/runs?id=$id" | jq -r .status)\n'
        '  [ "$status" != running ] && break\n  sleep 10\ndone\n[ "$status" = passed ]',
        set(),
    ),
    (
        'for a in $(seq 1 180); do\n  status=$(curl -fsS "$api/runs?id=$id" | jq -r .status)\n'
        '  [ "$status" != running ] && break\n  sleep 10\ndone\necho "$status"',
        {"health_loop_never_fails"},
    ),
    # constructs an older parser could not read are read
    ('case "$ENV" in\n  prod) pytest -m predeploy || true ;;\nesac', {"failure_swallowed"}),
    ('[[ -f odoo.conf ]] && echo $(( 1 + 2 ))\nx="$(a || b)"', set()),
]


@pytest.mark.parametrize(("snippet", "expected"), SNIPPETS)
def test_snippets_get_their_class(snippet: str, expected: set[str]) -> None:
    report = lint_script(snippet, GITHUB, POLICY, known_modules={"a", "contacts", "base"})
    assert {f.error_class for f in report.findings} == expected, report.findings
    assert report.parse_errors == 0


def test_the_shell_a_platform_uses_decides() -> None:
    gate_then_more = "pytest -q\necho done"
    # Azure's plain bash and a Makefile line have no set -e: the failure is lost
    azure = lint_script(gate_then_more, Flags(False, False), POLICY)
    assert [f.error_class for f in azure.findings] == ["failure_swallowed"]
    assert lint_script(gate_then_more, GITHUB, POLICY).findings == []
    tee = "pytest -q | tee out.txt"
    assert lint_script(tee, Flags(True, True), POLICY).findings == []  # CircleCI: -eo pipefail
    assert lint_script(tee + "\nexit ${PIPESTATUS[0]}", GITHUB, POLICY).findings == []


def test_commands_are_policy() -> None:
    policy = CommandPolicy.from_params({"gate": ["./run-checks.sh"]}, "params.commands")
    assert [
        f.error_class for f in lint_script("./run-checks.sh || true", GITHUB, policy).findings
    ] == ["failure_swallowed"]
    assert lint_script("pytest || true", GITHUB, policy).findings == []  # gates replaced
    with pytest.raises(ConfigError, match=r"params.commands.gates: unknown category"):
        CommandPolicy.from_params({"gates": []}, "params.commands")
    with pytest.raises(ConfigError, match=r"params.commands.gate: expected a list of strings"):
        CommandPolicy.from_params({"gate": "pytest"}, "params.commands")


PLATFORM_FILES = {
    ".github/workflows/deploy.yml": (
        "on: push\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - name: backup\n        run: |\n          echo start\n"
        "          pg_dump odoo > b.dump || true\n"
        "      - name: health\n        run: curl -f ${{ vars.URL }}/web/health || true\n"
    ),
    ".gitlab-ci.yml": (
        "stages: [test]\ntests:\n  stage: test\n  allow_failure: true\n  script:\n"
        "    - pip install -e .\n    - pytest -m predeploy\n"
    ),
    "azure-pipelines-prod.yml": (
        "steps:\n- script: |\n    pytest -m predeploy\n    echo done\n  displayName: gates\n"
    ),
    ".azuredevops/deploy.yaml": "steps:\n- bash: git pull || true\n",
    "azure-pipelines/templates/scan.yml": "steps:\n- bash: grype dir:. || true\n",
    "bitbucket-pipelines.yml": (
        "pipelines:\n  default:\n    - step:\n        name: gates\n        script:\n"
        "          - pytest -m predeploy | tee out.txt\n"
    ),
    ".github/workflows/custom-shell.yml": (
        "on: push\njobs:\n  t:\n    defaults:\n      run:\n"
        "        shell: bash --noprofile --norc -eo pipefail {0}\n    steps:\n"
        "      - run: pytest | tee a\n      - run: pytest | tee b\n        shell: sh\n"
    ),
    ".circleci/config.yml": (
        "version: 2.1\njobs:\n  test:\n    steps:\n      - run:\n          name: gates\n"
        "          command: pytest -m predeploy | tee out.txt\n"
    ),
    ".drone.yml": (
        "kind: pipeline\nname: default\nsteps:\n- name: test\n  failure: ignore\n"
        "  commands:\n  - pytest -m predeploy\n"
    ),
    ".woodpecker/ci.yml": "steps:\n  test:\n    commands:\n      - 'ipai gate predeploy || :'\n",
    "Jenkinsfile": (
        "pipeline {\n  stages {\n    stage('t') {\n      steps {\n"
        "        sh 'pytest -m predeploy || true'\n"
        "        sh(script: 'pytest -m predeploy', returnStatus: true)\n      }\n    }\n  }\n}\n"
    ),
    "Makefile": "check:\n\t-pytest -m predeploy\n\tpytest -q; echo done\n\t@echo $(VERSION)\n",
    "scripts/deploy/run.sh": "#!/bin/bash\nset -e\nodoo -u all --stop-after-init | tee u.log\n",
    "scripts/README.md": "not a script\n",
}


def test_every_platform_is_read_with_its_lines(tmp_path: Path) -> None:
    report = lint_pipelines(make_repo(tmp_path / "stack", PLATFORM_FILES), None, POLICY)
    found = {(f.file, f.line, f.error_class) for f in report.findings}
    assert found == {
        (".github/workflows/deploy.yml", 9, "failure_swallowed"),
        (".github/workflows/deploy.yml", 11, "failure_swallowed"),
        (".github/workflows/custom-shell.yml", 9, "pipefail_missing"),  # shell: sh
        (".gitlab-ci.yml", 4, "gate_bypass"),
        ("azure-pipelines-prod.yml", 3, "failure_swallowed"),
        (".azuredevops/deploy.yaml", 2, "failure_swallowed"),
        ("azure-pipelines/templates/scan.yml", 2, "failure_swallowed"),
        ("bitbucket-pipelines.yml", 6, "pipefail_missing"),
        (".drone.yml", 5, "gate_bypass"),
        (".woodpecker/ci.yml", 4, "failure_swallowed"),
        ("Jenkinsfile", 5, "failure_swallowed"),
        ("Makefile", 2, "gate_bypass"),
        ("Makefile", 3, "failure_swallowed"),
        ("scripts/deploy/run.sh", 3, "pipefail_missing"),
    }
    assert len(report.files) == 13 and report.unreadable == []
    gitlab = next(f for f in report.findings if f.file == ".gitlab-ci.yml")
    assert gitlab.why.startswith("allow_failure: true on a step that runs a gate command")
    assert gitlab.step == "tests / script"


def test_only_tracked_files_count_and_bad_yaml_is_listed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {".gitlab-ci.yml": "test:\n  script: [pytest\n"})
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "local.yml").write_text(
        "jobs: {a: {steps: [{run: 'pytest || true'}]}}\n"
    )
    report = lint_pipelines(repo, None, POLICY)
    assert report.files == [] and report.findings == []
    assert report.unreadable == [".gitlab-ci.yml:3: invalid YAML"]


def test_the_gate_names_every_finding_and_locates_it(demo_stack: Path) -> None:
    workflow = demo_stack / ".github" / "workflows" / "deploy.yml"
    workflow.write_text(PLATFORM_FILES[".github/workflows/deploy.yml"])
    (demo_stack / "Makefile").write_text(PLATFORM_FILES["Makefile"])
    commit_all(demo_stack)
    result = run_suite(demo_stack, "predeploy")[1]["pipeline.no_bypass"]
    assert (result["status"], result["error_class"]) == ("fail", "gate_bypass")
    assert result["measurements"]["files_checked"] == 3
    assert result["measurements"]["error_classes"] == {"gate_bypass": 1, "failure_swallowed": 3}
    located = {(f["file"], f["line"], f["class"]) for f in result["measurements"]["locations"]}
    assert located == {
        ("Makefile", 2, "gate_bypass"),
        ("Makefile", 3, "failure_swallowed"),
        (".github/workflows/deploy.yml", 9, "failure_swallowed"),
        (".github/workflows/deploy.yml", 11, "failure_swallowed"),
    }
    assert result["message"].startswith("Makefile:2: a `-` before the recipe line on a step")


def test_no_pipeline_file_is_skipped_not_passed(demo_stack: Path, tmp_path: Path) -> None:
    subprocess.run(
        ["git", "-C", str(demo_stack), "rm", "-q", "-r", ".github"], check=True, timeout=60
    )
    commit_all(demo_stack)
    result = run_suite(demo_stack, "predeploy")[1]["pipeline.no_bypass"]
    assert result["status"] == "skipped"
    assert result["message"] == "no CI or pipeline file found (nothing to judge)"
    policy = tmp_path / "prod-policy.toml"
    policy.write_text('[gates."pipeline.no_bypass"]\nparams = { require_files = true }\n')
    config = demo_stack / "ipai.toml"
    config.write_text(
        config.read_text().replace(
            "[environments.prod]\n", f'[environments.prod]\npolicy = "{policy}"\n'
        )
    )
    commit_all(demo_stack)
    result = run_suite(demo_stack, "predeploy", "--env", "prod")[1]["pipeline.no_bypass"]
    assert (result["status"], result["error_class"]) == ("fail", "no_pipeline_files")


def test_a_mistyped_command_policy_is_refused(demo_stack: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[gates."pipeline.no_bypass"]\nparams = { commands = { gate = "pytest" } }\n')
    config = demo_stack / "ipai.toml"
    config.write_text(
        config.read_text().replace(
            "[environments.dev]\n", f'[environments.dev]\npolicy = "{policy}"\n'
        )
    )
    proc = run_ipai("gate", "predeploy", "--config", str(config))
    assert (proc.returncode, proc.stderr) == (
        2,
        f"ipai: error: {policy}: gates.pipeline.no_bypass.params.commands.gate: expected array,"
        " got string\n",
    )
    assert not (demo_stack / "evidence").exists()


def test_the_ci_examples_pass_the_gate(demo_stack: Path) -> None:
    examples = ROOT / "examples" / "ci"
    (demo_stack / ".github" / "workflows" / "ipai.yml").write_text(
        (examples / "github-actions.yml").read_text()
    )
    (demo_stack / ".gitlab-ci.yml").write_text((examples / "gitlab-ci.yml").read_text())
    commit_all(demo_stack)
    result = run_suite(demo_stack, "predeploy")[1]["pipeline.no_bypass"]
    assert result["status"] == "pass", result["message"]
    assert result["measurements"]["files_checked"] == 3
    assert result["measurements"]["steps_checked"] == 7  # 1 + 4 run steps + 2 GitLab scripts
