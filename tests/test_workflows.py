"""The GitHub Actions workflows follow the project's security and gate policy.

zizmor and actionlint (run by `nox -s lint`) catch the generic mistakes; these tests pin
the choices specific to this project, so that an edit cannot quietly undo one of them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agui_perf.gate.report.comment import MARKER

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "perf.yml", "perf-comment.yml")
ARTIFACT = "perf-report"

_PINNED = re.compile(r"[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}")
_PINNED_LINE = re.compile(
    r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40} # v\d+(?:\.\d+){0,2}\s*$"
)


def _load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict)
    return triggers


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(action + "@")


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    value = request.param
    assert isinstance(value, str)
    return value


def test_the_three_workflows_exist() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)


# --- policy for every workflow -----------------------------------------------------------


def test_every_action_is_pinned_to_a_commit_with_a_version_comment(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    uses_lines = [line for line in text.splitlines() if re.match(r"^\s*(?:-\s+)?uses:", line)]
    assert uses_lines
    for line in uses_lines:
        assert _PINNED_LINE.match(line), f"{name}: not pinned by SHA with a version: {line!r}"
    for step in _steps(_load(name)):
        if "uses" in step:
            assert _PINNED.fullmatch(step["uses"]), step["uses"]


def test_one_action_one_pin_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for name in NAMES:
        for step in _steps(_load(name)):
            if "uses" in step:
                action, sha = step["uses"].split("@")
                pins.setdefault(action, set()).add(sha)
    assert {action: len(shas) for action, shas in pins.items()} == dict.fromkeys(pins, 1)


def test_no_default_permissions(name: str) -> None:
    workflow = _load(name)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{name}:{job_id} grants no explicit set"


def test_every_job_has_a_timeout(name: str) -> None:
    for job_id, job in _load(name)["jobs"].items():
        timeout = job.get("timeout-minutes")
        assert isinstance(timeout, int), f"{name}:{job_id} has no timeout-minutes"
        assert 1 <= timeout <= 60


def test_superseded_runs_are_cancelled(name: str) -> None:
    concurrency = _load(name)["concurrency"]
    assert "${{" in concurrency["group"]
    assert concurrency["cancel-in-progress"] in (True, "${{ github.event_name == 'pull_request' }}")


def test_checkouts_do_not_persist_credentials(name: str) -> None:
    checkouts = [s for s in _steps(_load(name)) if _uses(s, "actions/checkout")]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


def test_no_expression_is_expanded_inside_a_script(name: str) -> None:
    # `${{ … }}` in `run:` is pasted into the shell before it runs (template injection);
    # values reach scripts through `env:` instead.
    for step in _steps(_load(name)):
        assert "${{" not in step.get("run", ""), f"{name}: {step.get('name')}"


def test_no_dependency_cache(name: str) -> None:
    # A cache written by a pull request run could be restored by a privileged one.
    for step in _steps(_load(name)):
        if _uses(step, "actions/setup-python"):
            assert "cache" not in step.get("with", {})


# --- ci.yml ------------------------------------------------------------------------------


def test_ci_runs_tests_and_lint_through_nox_on_both_pythons() -> None:
    workflow = _load("ci.yml")
    assert set(_triggers(workflow)) == {"push", "pull_request"}
    (job,) = workflow["jobs"].values()
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[0] == "python -m pip install 'nox[uv]'"
    # valgrind for the real callgrind tests (they skip without it), then only nox.
    assert "apt-get install --yes --no-install-recommends valgrind" in runs[1]
    assert runs[2:] == ["nox -s tests lint"]
    assert job["permissions"] == {"contents": "read"}


# --- perf.yml ----------------------------------------------------------------------------


def test_perf_triggers() -> None:
    triggers = _triggers(_load("perf.yml"))
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"] == {"branches": ["main"]}


def test_perf_runs_the_gate_with_full_history() -> None:
    workflow = _load("perf.yml")
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    steps = job["steps"]
    checkout = next(s for s in steps if _uses(s, "actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    python = next(s for s in steps if _uses(s, "actions/setup-python"))
    assert python["with"]["python-version"] == "3.11"
    gate = next(s for s in steps if s.get("run") == "nox -s perf")
    # The gate's exit code is the check's result: nothing may swallow it.
    assert "continue-on-error" not in gate
    assert "if" not in gate


def test_perf_uploads_the_report_even_when_the_gate_fails() -> None:
    steps = _load("perf.yml")["jobs"]["perf"]["steps"]
    upload = next(s for s in steps if _uses(s, "actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert upload["with"]["name"] == ARTIFACT
    assert upload["with"]["path"] == ".perf/report/"
    # upload-artifact skips dot-directories unless told otherwise.
    assert upload["with"]["include-hidden-files"] is True
    link = steps[steps.index(upload) + 1]
    assert link["if"].startswith("always()")
    assert link["env"]["ARTIFACT_URL"] == f"${{{{ steps.{upload['id']}.outputs.artifact-url }}}}"
    assert "$GITHUB_STEP_SUMMARY" in link["run"]


def test_perf_keeps_screenshots_of_the_report_in_a_browser() -> None:
    steps = _load("perf.yml")["jobs"]["perf"]["steps"]
    look = next(s for s in steps if s.get("id") == "browser")
    assert look["run"].startswith(
        "python -m agui_perf.gate.report.browser .perf/report/report.html"
    )
    assert "--screenshots .perf/screenshots" in look["run"]
    assert look["if"].startswith("always()")
    assert look["continue-on-error"] is True  # a verdict is never failed by its pictures
    upload = steps[steps.index(look) + 1]
    assert _uses(upload, "actions/upload-artifact")
    assert upload["with"]["name"] == "perf-screenshots"  # not in perf-report, which is validated
    assert upload["with"]["path"] == ".perf/screenshots/"
    assert upload["with"]["include-hidden-files"] is True


# --- perf-comment.yml --------------------------------------------------------------------


def test_comment_runs_after_perf_on_pull_requests_only() -> None:
    workflow = _load("perf-comment.yml")
    assert _triggers(workflow) == {"workflow_run": {"workflows": ["perf"], "types": ["completed"]}}
    assert _load("perf.yml")["name"] == "perf"
    build = workflow["jobs"]["build"]
    assert "github.event.workflow_run.event == 'pull_request'" in build["if"]


def test_comment_never_checks_out_the_pull_request() -> None:
    workflow = _load("perf-comment.yml")
    checkouts = [s for s in _steps(workflow) if _uses(s, "actions/checkout")]
    assert len(checkouts) == 1
    # Without `ref`/`repository` the checkout is the default branch of this repository.
    assert checkouts[0]["with"] == {"persist-credentials": False}
    text = (WORKFLOWS / "perf-comment.yml").read_text(encoding="utf-8")
    assert "pull_request.head" not in text
    assert "pull_request_target" not in text


def test_comment_jobs_hold_only_what_they_need() -> None:
    jobs = _load("perf-comment.yml")["jobs"]
    assert jobs["build"]["permissions"] == {
        "actions": "read",
        "contents": "read",
        "pull-requests": "read",
    }
    assert jobs["post"]["permissions"] == {"pull-requests": "write"}
    # The job with the write token runs no action and no project code, only the gh CLI.
    assert all("uses" not in step for step in jobs["post"]["steps"])
    assert "nox" not in str(jobs["post"])


def test_comment_validates_the_artifact_with_trusted_code() -> None:
    steps = _load("perf-comment.yml")["jobs"]["build"]["steps"]
    download = next(s for s in steps if _uses(s, "actions/download-artifact"))
    checkout = next(s for s in steps if _uses(s, "actions/checkout"))
    assert steps.index(checkout) < steps.index(download)
    assert download["with"]["name"] == ARTIFACT
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["path"].startswith("${{ runner.temp }}")
    validate = next(s for s in steps if s.get("id") == "body")
    assert validate["run"].startswith("nox -s comment -- ")
    assert '--pr "$PR_NUMBER"' in validate["run"]
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert re.search(r"^def comment\(session", noxfile, re.MULTILINE)


def test_comment_finds_the_pull_request_through_the_api() -> None:
    steps = _load("perf-comment.yml")["jobs"]["build"]["steps"]
    find = steps[0]
    assert find["id"] == "pr"
    assert "gh api" in find["run"]
    assert find["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    assert "select(.head.sha == $sha)" in find["run"]


def test_comment_marker_matches_the_python_side() -> None:
    post = _load("perf-comment.yml")["jobs"]["post"]["steps"][0]["run"]
    assert f'startswith("{MARKER}")' in post
    assert 'select(.user.login == "github-actions[bot]")' in post
