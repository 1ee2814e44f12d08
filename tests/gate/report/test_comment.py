from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.report import comment
from agui_perf.gate.report.comment import (
    BODY_LIMIT,
    BODY_MAX_BYTES,
    MARKER,
    VERDICT_MAX_BYTES,
    Artifact,
    ArtifactError,
    build_body,
    main,
    parse_pr_number,
    read_artifact,
)

if TYPE_CHECKING:
    from pathlib import Path

SHA = "0123456789abcdef0123456789abcdef01234567"
RUN_URL = "https://github.com/octo/agui-perf/actions/runs/42"
VERDICT = "## Performance verdict: regression\n\n| benchmark | change |\n|---|---|\n| a | +25% |\n"


def _artifact(tmp_path: Path, verdict: str | bytes = VERDICT, pr: str | None = "17\n") -> Path:
    root = tmp_path / "perf-report"
    root.mkdir()
    data = verdict.encode("utf-8") if isinstance(verdict, str) else verdict
    (root / "verdict.md").write_bytes(data)
    (root / "verdict.json").write_text("{}", encoding="utf-8")
    (root / "charts").mkdir()
    (root / "charts" / "timing.svg").write_text("<svg/>", encoding="utf-8")
    if pr is not None:
        (root / "pr-number").write_text(pr, encoding="utf-8")
    return root


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- pull request number -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "number"), [("17", 17), ("17\n", 17), ("1000000000", 10**9)])
def test_parse_pr_number_accepts(text: str, number: int) -> None:
    assert parse_pr_number(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "1000000001",
        "-1",
        "+5",
        " 17",
        "17 ",
        "17\n\n",
        "1e3",
        "0x11",
        "\u0661\u0667",
        "17;rm",
    ],
)
def test_parse_pr_number_refuses(text: str) -> None:
    with pytest.raises(ArtifactError, match="pull request number"):
        parse_pr_number(text)


# --- reading the artifact ----------------------------------------------------------------


def test_read_artifact(tmp_path: Path) -> None:
    assert read_artifact(_artifact(tmp_path)) == Artifact(verdict=VERDICT, pr_number=17)


def test_read_artifact_without_pr_number(tmp_path: Path) -> None:
    assert read_artifact(_artifact(tmp_path, pr=None)).pr_number is None


def test_missing_verdict(tmp_path: Path) -> None:
    root = _artifact(tmp_path)
    (root / "verdict.md").unlink()
    with pytest.raises(ArtifactError, match=r"no verdict\.md"):
        read_artifact(root)


def test_symlinked_verdict_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("token", encoding="utf-8")
    root = _artifact(tmp_path)
    (root / "verdict.md").unlink()
    (root / "verdict.md").symlink_to(secret)
    with pytest.raises(ArtifactError, match=re.escape("'verdict.md' is a symlink")):
        read_artifact(root)


def test_a_symlink_anywhere_in_the_tree_is_refused(tmp_path: Path) -> None:
    root = _artifact(tmp_path)
    (root / "charts" / "link.svg").symlink_to("/etc/passwd")
    with pytest.raises(ArtifactError, match=re.escape("'charts/link.svg' is a symlink")):
        read_artifact(root)


def test_a_symlinked_directory_is_refused(tmp_path: Path) -> None:
    root = _artifact(tmp_path)
    (root / "up").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ArtifactError, match="'up' is a symlink"):
        read_artifact(root)


def test_the_artifact_root_must_be_a_real_directory(tmp_path: Path) -> None:
    root = _artifact(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(root, target_is_directory=True)
    with pytest.raises(ArtifactError, match="not a directory"):
        read_artifact(link)
    with pytest.raises(ArtifactError, match="cannot be read"):
        read_artifact(tmp_path / "missing")


def test_a_fifo_is_refused(tmp_path: Path) -> None:
    root = _artifact(tmp_path)
    os.mkfifo(root / "pipe")
    with pytest.raises(ArtifactError, match="'pipe' is not a regular file"):
        read_artifact(root)


def test_verdict_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    root = _artifact(tmp_path)
    (root / "verdict.md").unlink()
    (root / "verdict.md").mkdir()
    with pytest.raises(ArtifactError, match=re.escape("'verdict.md' is not a regular file")):
        read_artifact(root)


def test_reads_do_not_follow_a_symlink_swapped_in_after_the_check(tmp_path: Path) -> None:
    # The tree check runs first; a link created between it and the open must still fail.
    secret = tmp_path / "secret.txt"
    secret.write_text("token", encoding="utf-8")
    (tmp_path / "verdict.md").symlink_to(secret)
    with pytest.raises(ArtifactError, match="cannot be opened safely"):
        comment._read_capped(tmp_path / "verdict.md", 100)


def test_oversized_verdict_is_refused(tmp_path: Path) -> None:
    root = _artifact(tmp_path, verdict=b"x" * (VERDICT_MAX_BYTES + 1))
    with pytest.raises(ArtifactError, match=f"the limit is {VERDICT_MAX_BYTES}"):
        read_artifact(root)


def test_verdict_at_the_size_cap_is_read(tmp_path: Path) -> None:
    root = _artifact(tmp_path, verdict=b"x" * VERDICT_MAX_BYTES)
    assert len(read_artifact(root).verdict) == VERDICT_MAX_BYTES


def test_non_utf8_verdict_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not UTF-8"):
        read_artifact(_artifact(tmp_path, verdict=b"ok \xff\xfe"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("\u0661\u0667", "non-ASCII"),
        ("17 ; rm -rf /", "not a plain decimal"),
        ("9" * 40, "limit is 32"),
        ("0", "outside 1.."),
    ],
)
def test_bad_pr_number_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        read_artifact(_artifact(tmp_path, pr=content))


def test_entry_count_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comment, "MAX_ENTRIES", 5)
    root = _artifact(tmp_path)
    for i in range(5):
        (root / f"extra{i}").write_bytes(b"")
    with pytest.raises(ArtifactError, match="more than 5 entries"):
        read_artifact(root)


def test_nesting_depth_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comment, "MAX_DEPTH", 3)
    root = _artifact(tmp_path)
    (root / "a" / "b" / "c" / "d").mkdir(parents=True)
    with pytest.raises(ArtifactError, match="deeper than 3 levels"):
        read_artifact(root)


# --- building the body -------------------------------------------------------------------


def test_body_starts_with_the_marker_and_links_the_run() -> None:
    body = build_body(VERDICT, run_url=RUN_URL, head_sha=SHA)
    assert body.startswith(MARKER + "\n## Performance verdict: regression\n")
    assert "| a | +25% |" in body
    assert f"commit `{SHA[:12]}`" in body
    assert f"({RUN_URL})" in body


def test_body_without_footer() -> None:
    assert build_body("ok\n") == f"{MARKER}\nok\n"


def test_mentions_do_not_notify() -> None:
    body = build_body("ping @octocat and @org/team, mail a@b.example, @@x")
    assert "@\u200boctocat" in body
    assert "@\u200borg/team" in body
    assert "a@b.example" in body
    assert "@octocat" not in body


def test_control_characters_are_removed() -> None:
    body = build_body("a\x00b\x1b[31mc\r\nd\re\tf\x7f")
    assert body == f"{MARKER}\nab[31mc\nd\ne\tf\n"


def test_long_verdict_is_cut_at_a_line_with_a_note() -> None:
    row = "| test_encode | 1.00 ms | 1.25 ms | regression |\n"
    verdict = row * (2 * BODY_LIMIT // len(row))
    body = build_body(verdict, run_url=RUN_URL)
    assert _units(body) <= BODY_LIMIT < 65_536
    assert body.startswith(MARKER + "\n")
    assert "The verdict was cut to fit a pull request comment" in body
    assert body.rstrip().endswith(f"({RUN_URL})</sub>")
    kept = body[len(MARKER) + 1 : body.index("\n\n> [!NOTE]")]
    assert kept.split("\n") == [row.rstrip("\n")] * len(kept.split("\n"))


def test_length_is_counted_in_utf16_units() -> None:
    # Each emoji is one code point but two UTF-16 units; counting code points would let the
    # body run past GitHub's limit.
    body = build_body("😀" * 1000 + "\n" + "😀" * 1000, limit=1500)
    assert _units(body) <= 1500
    assert "cut to fit" in body


def test_body_is_capped_in_utf8_bytes_too() -> None:
    # 60,000 CJK characters fit the character limit but not an environment variable.
    body = build_body("漢字かな\n" * 12_000)
    assert _units(body) <= BODY_LIMIT
    assert len(body.encode("utf-8")) <= BODY_MAX_BYTES
    assert "cut to fit" in body


def test_cut_inside_a_code_block_closes_it() -> None:
    verdict = "intro\n```text\n" + "line\n" * 1000 + "```\n"
    body = build_body(verdict, limit=600)
    kept = body[: body.index("\n\n> [!NOTE]")]
    assert kept.endswith("\n```")
    assert kept.count("```") % 2 == 0


def test_limit_too_small_for_the_notes() -> None:
    with pytest.raises(ValueError, match="too small"):
        build_body("x\n" * 100, limit=50)


# --- command line ------------------------------------------------------------------------


def _outputs(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    result: dict[str, str] = {}
    i = 0
    while i < len(lines) and lines[i]:
        name, delimiter = lines[i].split("<<", 1)
        end = lines.index(delimiter, i + 1)
        result[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return result


def test_main_writes_step_outputs_and_never_the_body_to_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    root = _artifact(tmp_path, verdict="::error::injected\n" + VERDICT)
    argv = [str(root), "--pr", "17", "--run-url", RUN_URL, "--head-sha", SHA]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "injected" not in captured.err
    outputs = _outputs(out)
    assert outputs["pr-number"] == "17"
    assert outputs["body"].startswith(MARKER + "\n::error::injected\n")
    assert RUN_URL in outputs["body"]


def test_main_prints_the_body_outside_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    assert main([str(_artifact(tmp_path, pr=None)), "--pr", "17"]) == 0
    assert capsys.readouterr().out == build_body(VERDICT)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pr", "18"], "artifact names pull request #17, but the run belongs to #18"),
        (["--pr", "18x"], "pull request number '18x'"),
        (["--pr", "17", "--run-url", "javascript:alert(1)"], "not a plain https URL"),
        (["--pr", "17", "--run-url", "https://x/a) [y](https://evil"], "not a plain https URL"),
        (["--pr", "17", "--head-sha", "HEAD"], "not a full lowercase hex SHA"),
    ],
)
def test_main_refuses_with_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert main([str(_artifact(tmp_path)), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("agui-perf comment: ")
    assert message in captured.err
    assert not out.exists()


def test_hostile_file_names_stay_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _artifact(tmp_path)
    (root / "x\n::error::pwned").symlink_to("/etc/passwd")
    assert main([str(root), "--pr", "17"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "\n::error" not in err


def test_module_runs_as_a_script(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    root = _artifact(tmp_path)
    ok = subprocess.run(
        [sys.executable, "-m", "agui_perf.gate.report.comment", str(root), "--pr", "17"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(MARKER)
    bad = subprocess.run(
        [sys.executable, "-m", "agui_perf.gate.report.comment", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "--pr" in bad.stderr


def test_module_imports_without_the_gate_stack() -> None:
    # `nox -s comment` installs the project without the `gate` extras: the comment job
    # should install (and run) as little third-party code as possible.
    code = (
        "import sys, agui_perf.gate.report.comment; "
        "print(sorted({'scipy', 'pygal', 'memray', 'numpy'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
