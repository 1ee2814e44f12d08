"""GitHub Actions plumbing: job summary, step outputs, annotations, the pull request number.

Pure functions build the text; the thin writers append it to the files the runner names in
the environment (`$GITHUB_STEP_SUMMARY`, `$GITHUB_OUTPUT`). Every function takes the
environment as a mapping (default `os.environ`) so that it is tested without a runner.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import TextIO

__all__ = [
    "PR_NUMBER_FILE",
    "PR_NUMBER_MAX",
    "SUMMARY_LIMIT_BYTES",
    "Annotation",
    "Level",
    "annotation_lines",
    "emit_annotations",
    "escape_data",
    "escape_property",
    "in_github_actions",
    "pr_number",
    "run_url",
    "truncate_summary",
    "write_outputs",
    "write_pr_number",
    "write_step_summary",
]

Level = Literal["error", "warning", "notice"]

# The runner shows about 10 errors and 10 warnings per step and drops the rest, so more
# lines would only hide the tail; the last line says how many were left out.
ANNOTATION_LIMIT = 10

# $GITHUB_STEP_SUMMARY holds at most 1 MiB per step (GitHub's documented limit; a larger
# summary is refused, not cut), so the writer keeps the step's total strictly below it.
SUMMARY_LIMIT_BYTES = 1024 * 1024

# Written into the report directory so that the comment workflow (which runs on
# `workflow_run`, where `workflow_run.pull_requests` is empty for forks) can cross-check
# the pull request it finds through the API.
PR_NUMBER_FILE = "pr-number"
PR_NUMBER_MAX = 10**9

_LEVELS: frozenset[str] = frozenset({"error", "warning", "notice"})
_OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Annotation:
    """One workflow-command annotation; `file`/`line` pin it to a line of the diff."""

    level: Level
    title: str
    message: str
    file: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        if self.level not in _LEVELS:
            raise ValueError(
                f"annotation level {self.level!r} is not one of error, warning, notice"
            )
        if self.line is not None and self.line < 1:
            raise ValueError(f"annotation line {self.line} must be 1 or more")


def _environ(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def in_github_actions(env: Mapping[str, str] | None = None) -> bool:
    """True inside a GitHub Actions job (the runner sets GITHUB_ACTIONS=true)."""
    return _environ(env).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """Escape a workflow-command message as actions/toolkit `escapeData` does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value (`title=…`) as toolkit `escapeProperty` does.

    `:` ends the property list and `,` separates properties, so both are encoded too.
    """
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(item: Annotation) -> str:
    props: list[str] = []
    if item.title:
        props.append(f"title={escape_property(item.title)}")
    if item.file:
        props.append(f"file={escape_property(item.file)}")
        if item.line is not None:
            props.append(f"line={item.line}")
    head = f"::{item.level}"
    if props:
        head += " " + ",".join(props)
    return f"{head}::{escape_data(item.message)}"


def annotation_lines(items: Sequence[Annotation], limit: int = ANNOTATION_LIMIT) -> list[str]:
    """Workflow-command lines for `items`, never more than `limit` of them.

    When there are more, the first `limit - 1` are kept and the last line counts the rest,
    at the most severe level among them, so that the count itself is not dropped.
    """
    if limit < 1:
        raise ValueError(f"annotation limit {limit} must be 1 or more")
    if len(items) <= limit:
        return [_command(item) for item in items]
    kept, rest = items[: limit - 1], items[limit - 1 :]
    level: Level = next(
        (lvl for lvl in ("error", "warning", "notice") if any(i.level == lvl for i in rest)),
        "notice",
    )
    more = Annotation(
        level,
        f"and {len(rest)} more",
        f"{len(rest)} more findings are not annotated; see the job summary for all of them.",
    )
    return [*(_command(item) for item in kept), _command(more)]


def emit_annotations(
    items: Sequence[Annotation], limit: int = ANNOTATION_LIMIT, stream: TextIO | None = None
) -> int:
    """Print `annotation_lines(items, limit)` to stdout (where the runner reads them)."""
    out = sys.stdout if stream is None else stream
    lines = annotation_lines(items, limit)
    for line in lines:
        out.write(line + "\n")
    out.flush()
    return len(lines)


def run_url(env: Mapping[str, str] | None = None) -> str | None:
    """The URL of the current workflow run (its page lists the artifacts), if known."""
    environ = _environ(env)
    server = environ.get("GITHUB_SERVER_URL", "")
    repo = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    if not (server and repo and run_id.isdigit()):
        return None
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"


def truncate_summary(markdown: str, budget: int, link: str | None = None) -> str:
    """`markdown` if it fits in `budget` UTF-8 bytes, else its head cut at a line plus a note."""
    if budget < 0:
        raise ValueError(f"summary budget {budget} must not be negative")
    data = markdown.encode("utf-8")
    if len(data) <= budget:
        return markdown
    where = f"[the workflow run]({link})" if link else "the workflow run"
    note = (
        "\n\n> [!WARNING]\n"
        "> The summary was cut to stay under GitHub's 1 MiB limit per step. "
        f"The full verdict (`verdict.md`) is in the `perf-report` artifact of {where}.\n"
    )
    room = budget - len(note.encode("utf-8"))
    if room <= 0:
        return ""
    head = data[:room].decode("utf-8", errors="ignore")
    # Cut at a line end so that no table row or link is left half-written.
    cut = head.rfind("\n")
    head = head[:cut] if cut >= 0 else ""
    return head + note


def write_step_summary(markdown: str, env: Mapping[str, str] | None = None) -> bool:
    """Append `markdown` to $GITHUB_STEP_SUMMARY, keeping the step's total under 1 MiB.

    Returns False (and writes nothing) outside GitHub Actions.
    """
    environ = _environ(env)
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    path = Path(target)
    used = path.stat().st_size if path.exists() else 0
    text = truncate_summary(markdown, max(SUMMARY_LIMIT_BYTES - 1 - used, 0), run_url(environ))
    if not text:
        return False
    if not text.endswith("\n"):
        text += "\n"
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return True


def write_outputs(outputs: Mapping[str, str], env: Mapping[str, str] | None = None) -> bool:
    """Append step outputs to $GITHUB_OUTPUT in the multiline-safe `name<<DELIMITER` form.

    The delimiter is random per value (as actions/toolkit does), so a value cannot end its
    own block early and inject another output. Returns False outside GitHub Actions.
    """
    lines: list[str] = []
    for name, value in outputs.items():
        if not _OUTPUT_NAME.fullmatch(name):
            raise ValueError(
                f"output name {name!r} must start with a letter or _ and hold only "
                "letters, digits, - and _"
            )
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        if delimiter in value:
            raise ValueError(f"output {name!r} contains its own delimiter")
        lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    target = _environ(env).get("GITHUB_OUTPUT")
    if not target:
        return False
    with Path(target).open("a", encoding="utf-8", newline="") as handle:
        handle.write("".join(lines))
    return True


def pr_number(env: Mapping[str, str] | None = None) -> int | None:
    """`pull_request.number` from the event payload at $GITHUB_EVENT_PATH, if there is one."""
    target = _environ(env).get("GITHUB_EVENT_PATH")
    if not target:
        return None
    try:
        event = json.loads(Path(target).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    pull = event.get("pull_request") if isinstance(event, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    # bool is an int subclass; a payload with `true` here is not a pull request number.
    if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= PR_NUMBER_MAX:
        return number
    return None


def write_pr_number(report_dir: Path, env: Mapping[str, str] | None = None) -> int | None:
    """Write the pull request number into `report_dir/pr-number` for the comment workflow."""
    number = pr_number(env)
    if number is None:
        return None
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / PR_NUMBER_FILE).write_text(f"{number}\n", encoding="ascii")
    return number
