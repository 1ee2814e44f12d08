"""`agui-perf load`: its options (one line and exit 2 for any mistake), the Locust commands it
builds, `--check-only`, and the one line a missing Locust gets."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agui_perf.cli import build_parser
from agui_perf.cli import main as agui_perf
from agui_perf.gate.errors import GateError
from agui_perf.load import LOCUSTFILE
from agui_perf.load.cli import INSTALL_HINT, LoadOptions, main, parse_load_args
from agui_perf.load.session import locust_commands
from agui_perf.suite.target import DEFAULT_TARGET, Target
from tests._support.locust_csv import LOAD_BUDGETS, write_csv, write_pyproject

ROOT = Path(__file__).resolve().parents[2]


def test_default_options() -> None:
    options = parse_load_args([])
    assert options == LoadOptions()
    assert options.target == Target("app", DEFAULT_TARGET)
    assert options.serves_our_core
    assert (options.path, options.input_body, options.server_workers) == ("/agent", None, 1)


def test_options() -> None:
    options = parse_load_args(
        [
            *("--users", "300", "--spawn-rate", "50", "--duration", "45"),
            *("--workers", "2", "--server-workers", "2", "--user-class", "AccountAnalysisUser"),
            *("--workflow", "paced", "--think", "0.5,1"),
            *("--params", '{"rate_per_s":5,"text_chunks":50}'),
        ]
    )
    assert (options.users, options.spawn_rate, options.duration) == (300, 50.0, 45)
    assert (options.workers, options.server_workers) == (2, 2)
    assert options.user_classes == ("AccountAnalysisUser",)
    assert (options.workflow, options.think) == ("paced", (0.5, 1.0))


def test_targets_path_and_input(tmp_path: Path) -> None:
    url = parse_load_args(["--target", "http://127.0.0.1:9000/", "--path", "/"])
    assert (url.target, url.path, url.serves_our_core) == (
        Target("url", "http://127.0.0.1:9000"),
        "/",
        False,
    )
    app = parse_load_args(["--target", "myapp.server:app"])
    assert (app.target, app.serves_our_core) == (Target("app", "myapp.server:app"), False)
    body = {"threadId": "t", "runId": "r", "messages": []}
    (tmp_path / "input.json").write_text(json.dumps(body))
    assert parse_load_args(["--input", str(tmp_path / "input.json")]).input_body == body


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        parse_load_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("agui-perf load: error: ")
    assert err.endswith(" — see agui-perf load --help\n")
    return err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--users", "0"], "0 is outside 1..5000"),
        (["--users", "many"], "'many' is not an integer"),
        (["--duration", "601"], "601 is outside 1..600"),
        (["--workers", "17"], "outside 0..16"),
        (["--spawn-rate", "nan"], "must be a number"),
        (["--think", "3,1"], "0 <= MIN <= MAX"),
        (["--params", "[1]"], "is not a JSON object"),
        (["--params", '{"colour": 1}'], "unknown workflow parameter 'colour'"),
        (["--params", '{"stamp": "off"}'], "'stamp' is set by the load test"),
        (["--user-class", "Nobody"], "invalid choice: 'Nobody'"),
        (["--target", "myapp"], "has no ':' between module and attribute"),
        (["--target", "https://example.com"], "only http:// is supported"),
        (["--path", "agent"], "'agent' is not an endpoint path"),
        (["--input", "/nonexistent/input.json"], "cannot read '/nonexistent/input.json'"),
    ],
)
def test_bad_options_are_one_line_errors(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fragment in _usage_error(argv, capsys)


def test_an_input_that_is_not_an_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "bad.json").write_text("{")
    assert "holds a list, not a JSON object" in _usage_error(
        ["--input", str(tmp_path / "list.json")], capsys
    )
    assert "is not JSON" in _usage_error(["--input", str(tmp_path / "bad.json")], capsys)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--target", "http://127.0.0.1:9", "--server-workers", "2"], "a server we do not start"),
        (["--target", "myapp:app", "--server-workers", "1"], "runs as one uvicorn process"),
        (["--input", "INPUT", "--workflow", "paced"], "give one or the other"),
        (["--input", "INPUT", "--params", "{}"], "give one or the other"),
    ],
)
def test_conflicting_options(argv: list[str], fragment: str, tmp_path: Path) -> None:
    (tmp_path / "input.json").write_text("{}")
    argv = [str(tmp_path / "input.json") if arg == "INPUT" else arg for arg in argv]
    with pytest.raises(GateError) as info:
        parse_load_args(argv)
    assert fragment in info.value.message


def test_conflicts_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert agui_perf(["load", "--target", "http://127.0.0.1:9", "--server-workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agui-perf load: error: --server-workers applies to the default target")
    assert err.count("\n") == 1


def test_the_command_is_part_of_agui_perf(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["load", "--users", "0"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("agui-perf load: error: argument --users")


def test_locust_commands_local_and_distributed() -> None:
    budgets = {"latency_p95_ms": 300.0, "workflow_s": 10.0}
    url = "http://127.0.0.1:8123"
    (local,) = locust_commands(LoadOptions(users=20, duration=15), url, 5557, budgets)
    assert local[local.index("-f") + 1] == LOCUSTFILE
    assert Path(LOCUSTFILE).is_file()
    assert local[local.index("--host") + 1] == url
    assert local[local.index("--run-time") + 1] == "15s"
    assert local[local.index("--users") + 1] == "20"
    assert local[local.index("--agui-path") + 1] == "/agent"
    assert local[local.index("--agui-input") + 1] == ""
    assert json.loads(local[local.index("--agui-run-budgets") + 1]) == budgets
    assert "--master" not in local
    assert local[-2:] == ["AccountAnalysisUser", "BurstTrafficUser"]

    master, *workers = locust_commands(LoadOptions(workers=2), url, 5557, budgets)
    assert master[master.index("--master-bind-host") + 1] == "127.0.0.1"
    assert master[master.index("--expect-workers") + 1] == "2"
    assert len(workers) == 2
    for worker in workers:
        assert worker[worker.index("--master-host") + 1] == "127.0.0.1"
        assert worker[worker.index("--master-port") + 1] == "5557"
        assert "--run-time" not in worker  # the master decides users and time
        assert "--reset-stats" not in worker


def test_the_input_goes_to_locust_as_json() -> None:
    body = {"threadId": "t", "runId": "r", "messages": []}
    options = LoadOptions(input_body=body, path="/")
    (command,) = locust_commands(options, "http://127.0.0.1:1", 5557, {})
    assert json.loads(command[command.index("--agui-input") + 1]) == body
    assert command[command.index("--agui-path") + 1] == "/"


def test_steady_state_resets_stats_on_master_and_workers() -> None:
    options = LoadOptions(workers=2, steady_state=True)
    commands = locust_commands(options, "http://127.0.0.1:8123", 5557, {})
    assert all("--reset-stats" in command for command in commands)
    assert parse_load_args(["--steady-state"]).steady_state


def _check_only(tmp_path: Path, *extra: str) -> int:
    pyproject = write_pyproject(tmp_path, LOAD_BUDGETS)
    return main(["--check-only", "--out", str(tmp_path), "--pyproject", str(pyproject), *extra])


def test_check_only_pass_and_breach(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path)
    assert _check_only(tmp_path) == 0
    out = capsys.readouterr().out
    assert out.startswith("**PASS: all 3 load budgets met")
    assert "| goodput (good runs: " in out
    write_csv(tmp_path, p95="450")
    assert _check_only(tmp_path) == 1
    out = capsys.readouterr().out
    assert out.startswith("**BREACH: 1 of 3 load budgets breached")
    assert json.loads((tmp_path / "verdict.json").read_text())["outcome"] == "breach"


def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check_only(tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith("agui-perf load: error: Locust CSV ")
    assert err.count("\n") == 1


def test_without_locust_one_line_says_what_to_install(tmp_path: Path) -> None:
    # An interpreter in which `locust` cannot be imported, as without the `load` extra.
    code = (
        "import sys, importlib.util; real = importlib.util.find_spec; "
        "importlib.util.find_spec = lambda name, *a: None if name == 'locust' else real(name, *a); "
        "from agui_perf.cli import main; sys.exit(main(['load', '--out', sys.argv[1]]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stderr == f"agui-perf load: error: {INSTALL_HINT}\n"
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()  # nothing started, nothing written


def test_a_url_nothing_listens_on_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        argv = [
            "--target",
            url,
            "--out",
            str(tmp_path),
            "--pyproject",
            str(ROOT / "pyproject.toml"),
        ]
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"agui-perf load: error: nothing accepts connections at {url}")
    assert err.count("\n") == 1
    assert not (tmp_path / "verdict.json").exists()
