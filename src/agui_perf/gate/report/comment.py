"""The sticky pull-request comment: validate a downloaded report artifact, build the body.

Run by `.github/workflows/perf-comment.yml` (via `nox -s comment`) from the default
branch's code, on an artifact that a pull request's code produced. Every byte of that
artifact is untrusted: the tree may hold symlinks, FIFOs or huge files, the verdict may
hold control characters or @mentions, the pull request number may lie. So the tree is
checked before anything is read, each read is capped, the number must match the one the
workflow found through the API, and the body stays below GitHub's 65,536-character limit.

    python -m agui_perf.gate.report.comment DIR --pr N [--run-url URL] [--head-sha SHA]

Exit 0 with the body in the step outputs `body` and `pr-number` (or on stdout outside
GitHub Actions); exit 2 with one line on stderr when the artifact is unusable.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate.report.github import PR_NUMBER_FILE, PR_NUMBER_MAX, write_outputs

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "BODY_LIMIT",
    "BODY_MAX_BYTES",
    "MARKER",
    "MAX_ENTRIES",
    "VERDICT_MAX_BYTES",
    "Artifact",
    "ArtifactError",
    "build_body",
    "main",
    "parse_pr_number",
    "read_artifact",
]

# The workflow finds its earlier comment by this first line, so that one comment per pull
# request is edited in place instead of a new one per push.
MARKER = "<!-- agui-perf-verdict -->"
VERDICT_FILE = "verdict.md"
VERDICT_MAX_BYTES = 1024 * 1024
PR_FILE_MAX_BYTES = 32
# GitHub refuses a comment body over 65,536 characters; the margin absorbs any difference
# in how it counts (the length here is taken in UTF-16 code units, the stricter count).
BODY_LIMIT = 65_000
# The comment workflow hands the body from one job to the next through an environment
# variable, and Linux caps one at 128 KiB (MAX_ARG_STRLEN); 65,000 CJK characters would be
# 195,000 UTF-8 bytes, so the body is capped in bytes as well.
BODY_MAX_BYTES = 120_000
# Bounds the walk over the artifact tree: a report holds a handful of files.
MAX_ENTRIES = 10_000
MAX_DEPTH = 16

_MENTION = re.compile(r"(?<![\w@])@(?=[A-Za-z0-9])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_RUN_URL = re.compile(r"https://[^\s()<>\[\]\"'`]+")
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_ZERO_WIDTH_SPACE = "\u200b"


class ArtifactError(ValueError):
    """The artifact cannot be used; the message says what is wrong, in one line."""


@dataclass(frozen=True)
class Artifact:
    """What the comment needs from the report artifact."""

    verdict: str
    pr_number: int | None


def parse_pr_number(text: str) -> int:
    """A pull request number: ASCII digits only (one trailing newline allowed), 1..10^9."""
    digits = text.removesuffix("\n")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 10):
        raise ArtifactError(f"pull request number {text[:20]!r} is not a plain decimal number")
    number = int(digits)
    if not 1 <= number <= PR_NUMBER_MAX:
        raise ArtifactError(f"pull request number {number} is outside 1..{PR_NUMBER_MAX}")
    return number


def _check_tree(root: Path) -> None:
    """Refuse a tree that holds anything but plain directories and regular files."""
    try:
        mode = os.lstat(root).st_mode
    except OSError as exc:
        raise ArtifactError(f"artifact directory {str(root)!r} cannot be read: {exc}") from None
    if not stat.S_ISDIR(mode):
        raise ArtifactError(f"artifact path {str(root)!r} is not a directory (or is a symlink)")
    try:
        _walk(root)
    except OSError as exc:
        raise ArtifactError(f"artifact tree cannot be read: {exc.strerror}") from None


def _walk(root: Path) -> None:
    pending: list[tuple[Path, int]] = [(root, 0)]
    seen = 0
    while pending:
        directory, depth = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                seen += 1
                if seen > MAX_ENTRIES:
                    raise ArtifactError(f"artifact holds more than {MAX_ENTRIES} entries")
                name = os.path.relpath(entry.path, root)
                if entry.is_symlink():
                    raise ArtifactError(f"artifact entry {name!r} is a symlink; refusing it")
                if entry.is_dir(follow_symlinks=False):
                    if depth + 1 > MAX_DEPTH:
                        raise ArtifactError(f"artifact is nested deeper than {MAX_DEPTH} levels")
                    pending.append((Path(entry.path), depth + 1))
                elif not entry.is_file(follow_symlinks=False):
                    raise ArtifactError(f"artifact entry {name!r} is not a regular file")


def _read_capped(path: Path, cap: int) -> bytes | None:
    """The bytes of `path` (None if absent), refusing symlinks, non-files and > `cap` bytes."""
    # O_NOFOLLOW closes the window between the tree check and this open; O_NONBLOCK keeps
    # a FIFO swapped in meanwhile from blocking the open.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArtifactError(f"{path.name!r} cannot be opened safely: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"{path.name!r} is not a regular file")
        if info.st_size > cap:
            raise ArtifactError(f"{path.name!r} is {info.st_size} bytes; the limit is {cap}")
        chunks: list[bytes] = []
        total = 0
        # Each read returns at least one byte or ends the loop, so it runs <= cap + 1 times.
        while total <= cap:
            chunk = os.read(fd, min(1 << 16, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > cap:
        raise ArtifactError(f"{path.name!r} grew past {cap} bytes while being read")
    return data


def read_artifact(directory: Path) -> Artifact:
    """Check the artifact tree, then read `verdict.md` and the optional `pr-number`."""
    _check_tree(directory)
    raw = _read_capped(directory / VERDICT_FILE, VERDICT_MAX_BYTES)
    if raw is None:
        raise ArtifactError(f"artifact has no {VERDICT_FILE}; did the perf job write its report?")
    try:
        verdict = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{VERDICT_FILE} is not UTF-8 (byte {exc.start})") from None
    number_raw = _read_capped(directory / PR_NUMBER_FILE, PR_FILE_MAX_BYTES)
    number = None
    if number_raw is not None:
        try:
            number = parse_pr_number(number_raw.decode("ascii"))
        except UnicodeDecodeError:
            raise ArtifactError(f"{PR_NUMBER_FILE} holds non-ASCII bytes") from None
    return Artifact(verdict=verdict, pr_number=number)


def _units(text: str) -> int:
    """Length in UTF-16 code units (a character outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _size(text: str) -> tuple[int, int]:
    return _units(text), len(text.encode("utf-8"))


def _clip(text: str, units: int, nbytes: int) -> str:
    """The longest prefix of whole lines of `text` within both `units` and `nbytes`."""
    head = text.encode("utf-16-le")[: units * 2].decode("utf-16-le", errors="ignore")
    head = head.encode("utf-8")[:nbytes].decode("utf-8", errors="ignore")
    cut = head.rfind("\n")
    return head[:cut] if cut >= 0 else ""


def _sanitize(verdict: str) -> str:
    """Plain Markdown only: no control characters, no @mentions that would notify people."""
    text = _CONTROL.sub("", verdict.replace("\r\n", "\n").replace("\r", "\n"))
    # A zero-width space after @ keeps the text readable but stops GitHub from notifying a
    # user or team that the pull request's code chose to name.
    return _MENTION.sub("@" + _ZERO_WIDTH_SPACE, text).strip("\n")


def build_body(
    verdict: str,
    *,
    run_url: str | None = None,
    head_sha: str | None = None,
    limit: int = BODY_LIMIT,
    max_bytes: int = BODY_MAX_BYTES,
) -> str:
    """The comment: marker, sanitized verdict (cut at a line if needed), link to the run.

    The body stays within `limit` UTF-16 code units and `max_bytes` UTF-8 bytes.
    """
    footer_parts: list[str] = []
    if head_sha:
        footer_parts.append(f"commit `{head_sha[:12]}`")
    if run_url:
        footer_parts.append(f"[workflow run with the full report and charts]({run_url})")
    footer = f"\n\n---\n<sub>{' · '.join(footer_parts)}</sub>\n" if footer_parts else "\n"
    head = f"{MARKER}\n"
    text = _sanitize(verdict)
    body = head + text + footer
    units, nbytes = _size(body)
    if units <= limit and nbytes <= max_bytes:
        return body
    note = (
        "\n\n> [!NOTE]\n> The verdict was cut to fit a pull request comment "
        "(65,536 characters at most); the full `verdict.md` is in the run's "
        "`perf-report` artifact."
    )
    fence = "\n```"
    fixed_units, fixed_bytes = _size(head + footer + note + fence)
    room_units, room_bytes = limit - fixed_units, max_bytes - fixed_bytes
    if room_units < 0 or room_bytes < 0:
        raise ValueError(f"comment limits {limit}/{max_bytes} are too small for the notes")
    kept = _clip(text, room_units, room_bytes)
    # An odd number of fence lines means the cut fell inside a code block; close it so the
    # note renders as text.
    if sum(line.lstrip().startswith("```") for line in kept.split("\n")) % 2:
        kept += fence
    return head + kept + note + footer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agui_perf.gate.report.comment",
        description="Validate a downloaded perf-report artifact and build the sticky comment.",
    )
    parser.add_argument("directory", type=Path, help="the downloaded artifact directory")
    parser.add_argument("--pr", required=True, help="the pull request number found through the API")
    parser.add_argument("--run-url", help="https URL of the perf workflow run")
    parser.add_argument("--head-sha", help="the commit the perf run measured")
    return parser


def _comment(args: argparse.Namespace) -> tuple[int, str]:
    expected = parse_pr_number(args.pr)
    if args.run_url is not None and not _RUN_URL.fullmatch(args.run_url):
        raise ArtifactError(f"--run-url {args.run_url!r} is not a plain https URL")
    if args.head_sha is not None and not _SHA.fullmatch(args.head_sha):
        raise ArtifactError(f"--head-sha {args.head_sha!r} is not a full lowercase hex SHA")
    artifact = read_artifact(args.directory)
    if artifact.pr_number is not None and artifact.pr_number != expected:
        raise ArtifactError(
            f"artifact names pull request #{artifact.pr_number}, but the run belongs to "
            f"#{expected}; refusing to comment"
        )
    body = build_body(artifact.verdict, run_url=args.run_url, head_sha=args.head_sha)
    return expected, body


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        number, body = _comment(args)
    except ArtifactError as exc:
        print(f"agui-perf comment: {exc}", file=sys.stderr)
        return 2
    # Never echo the body to the log inside Actions: a line of it starting with `::` would
    # be read by the runner as a workflow command.
    if not write_outputs({"body": body, "pr-number": str(number)}):
        sys.stdout.write(body)
    print(f"agui-perf comment: body for #{number} is {len(body)} characters", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
