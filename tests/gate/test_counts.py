"""gate.counts and its pytest plugin: the count stage's processes, files and errors.

Most tests run the plugin in a plain process (its client requests then do nothing) or read
hand-written callgrind files, so they take a second. The tests marked `valgrind` count a toy
benchmark for real under callgrind; they need valgrind and take a few seconds.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from fractions import Fraction
from pathlib import Path

import pytest

from agui_perf.gate.decide.count_compare import REPEATABILITY, CountState, count_state
from agui_perf.gate.measure.counts import (
    COUNT_SELECT,
    VALGRIND_NOT_FOUND,
    CountRequest,
    CountsError,
    CountsUnavailable,
    Tools,
    count_command,
    count_sides,
    count_targets,
    find_tools,
    read_dumps,
)
from agui_perf.gate.measure.counts import _stage_dir as stage_dir
from agui_perf.gate.measure.runner import PLUGIN_DIR, RunOptions, Side
from agui_perf.gate.store.results import CountResult, Counts

PLUGIN = "agui_perf_counts"
HAS_VALGRIND = shutil.which("valgrind") is not None
needs_valgrind = pytest.mark.skipif(not HAS_VALGRIND, reason="valgrind is not installed here")

#: A suite that uses every calling convention of pytest-benchmark's fixture, and records how
#: often each target ran (the plugin must call it WARMUP_CALLS + calls times).
PLUGIN_SUITE = textwrap.dedent(
    """\
    import json
    import os

    import pytest

    CALLS = {}


    def counted(name):
        def target(*args, **kwargs):
            CALLS[name] = CALLS.get(name, 0) + 1
            return (args, kwargs)
        return target


    @pytest.mark.cpu_bound
    def test_call(benchmark):
        assert benchmark(counted("call"), 1, k=2) == ((1,), {"k": 2})
        assert benchmark.stats is None
        benchmark.extra_info["x"] = 1
        benchmark.group = "g"


    @pytest.mark.cpu_bound
    @pytest.mark.parametrize("size", [3])
    def test_pedantic(benchmark, size):
        out = benchmark.pedantic(
            counted("pedantic"), args=(size,), rounds=60, iterations=100, warmup_rounds=2
        )
        assert out == ((3,), {})


    @pytest.mark.cpu_bound
    def test_setup(benchmark):
        made = []

        def setup():
            made.append(1)
            return (len(made),), {}

        benchmark.pedantic(counted("setup"), setup=setup, teardown=counted("teardown"))
        assert len(made) == CALLS["setup"]


    @pytest.mark.cpu_bound
    def test_twice(benchmark):
        benchmark(counted("twice"))
        benchmark(counted("twice"))


    def test_not_counted_here(benchmark):
        benchmark(counted("paced"))


    def teardown_module():
        with open(os.environ["TOY_CALLS"], "w") as handle:
            json.dump(CALLS, handle)
    """
)


def run_plugin(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "suite").mkdir(exist_ok=True)
    (tmp_path / "suite" / "test_suite.py").write_text(PLUGIN_SUITE)
    env = {
        **os.environ,
        "PYTHONPATH": str(PLUGIN_DIR),
        "TOY_CALLS": str(tmp_path / "calls.json"),
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tmp_path / "suite"),
            f"--rootdir={tmp_path / 'suite'}",
            "-p",
            PLUGIN,
            "-p",
            "no:benchmark",
            "-p",
            "no:cacheprovider",
            "--strict-markers",  # the plugin registers cpu_bound itself
            "-q",
            "-m",
            COUNT_SELECT,
            f"--agui-counts-out={tmp_path / 'manifest.json'}",
            *args,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def plugin_warmup_calls() -> int:
    spec = importlib.util.spec_from_file_location(PLUGIN, PLUGIN_DIR / f"{PLUGIN}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    value = module.WARMUP_CALLS
    assert isinstance(value, int)
    return value


def test_the_plugin_runs_each_target_warmup_plus_calls_times_and_lists_it(tmp_path: Path) -> None:
    warmup = plugin_warmup_calls()
    done = run_plugin(tmp_path, "--agui-counts-calls=4")
    # test_twice fails (the fixture can be used once); everything else passes.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "test_twice" in done.stdout
    assert "can only be used once" in done.stdout
    assert "1 failed, 3 passed, 1 deselected" in done.stdout
    calls = json.loads((tmp_path / "calls.json").read_text())
    per = warmup + 4
    assert calls == {
        "call": per,
        "pedantic": per,
        "setup": per,
        "teardown": per,
        "twice": per,  # counted once, then refused
    }
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest == {
        "benchmarks": [
            {"name": "test_call", "label": "agui-perf-count-1", "calls": 4},
            {"name": "test_pedantic[3]", "label": "agui-perf-count-2", "calls": 4},
            {"name": "test_setup", "label": "agui-perf-count-3", "calls": 4},
            {"name": "test_twice", "label": "agui-perf-count-4", "calls": 4},
        ]
    }


def test_the_plugin_refuses_zero_calls(tmp_path: Path) -> None:
    done = run_plugin(tmp_path, "--agui-counts-calls=0")
    assert done.returncode == 4
    assert "--agui-counts-calls must be at least 1, got 0" in done.stderr


# --- callgrind's files --------------------------------------------------------------------


def write_dump(folder: Path, pid: int, part: int, label: str | None, total: int) -> None:
    trigger = f"desc: Trigger: Client Request: {label}" if label else "desc: Trigger: Program"
    (folder / f"callgrind.out.{pid}.{part}").write_text(
        f"# callgrind format\nversion: 1\npart: {part}\n\n{trigger}\n\nevents: Ir\n"
        f"summary: 0\n\nfn=(1) f\n0 {total}\n\ntotals: {total}\n"
    )


def write_manifest(folder: Path, *entries: tuple[str, str, int]) -> None:
    doc = {"benchmarks": [{"name": n, "label": lab, "calls": c} for n, lab, c in entries]}
    (folder / "manifest.json").write_text(json.dumps(doc))


def test_read_dumps_pairs_each_benchmark_with_its_dump(tmp_path: Path) -> None:
    write_manifest(tmp_path, ("test_a", "agui-perf-count-1", 20), ("test_b[x]", "L2", 10))
    write_dump(tmp_path, 7, 1, "agui-perf-count-1", 4_397_621)
    write_dump(tmp_path, 7, 2, "L2", 86_511)
    (tmp_path / "callgrind.out.7").write_text("desc: Trigger: Program termination\ntotals: 0\n")
    counts = read_dumps(tmp_path, tool="valgrind-3.19.0", origin="current code")
    assert counts == Counts(
        benchmarks={
            "test_a": CountResult("test_a", 4_397_621, 20),
            "test_b[x]": CountResult("test_b[x]", 86_511, 10),
        },
        tool="valgrind-3.19.0",
        missing=None,
    )


@pytest.mark.parametrize(
    ("dumps", "message"),
    [
        ([], "benchmark 'test_a' has no count: callgrind's client requests did not take effect"),
        ([("L1", 0)], "benchmark 'test_a' has 1 dumps totalling 0"),
        ([("L1", 5), ("L1", 6)], "benchmark 'test_a' has 2 dumps totalling 11"),
    ],
)
def test_read_dumps_refuses_a_benchmark_without_exactly_one_count(
    tmp_path: Path, dumps: list[tuple[str, int]], message: str
) -> None:
    write_manifest(tmp_path, ("test_a", "L1", 20))
    for part, (label, total) in enumerate(dumps, start=1):
        write_dump(tmp_path, 9, part, label, total)
    with pytest.raises(CountsError, match=message) as err:
        read_dumps(tmp_path, tool="v", origin="current code (working tree)", log=tmp_path / "l")
    assert str(err.value).startswith("instruction counts of the current code (working tree): ")
    assert str(err.value).endswith(f"— full output in {tmp_path / 'l'}")


def test_read_dumps_without_a_manifest_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CountsError, match=r"no usable manifest .*manifest\.json") as err:
        read_dumps(tmp_path, tool="v", origin="accepted code (abc)")
    assert "\n" not in str(err.value)


# --- the command and the tools ------------------------------------------------------------

TOOLS = Tools(valgrind="/usr/bin/valgrind", version="valgrind-3.19.0", setarch="/usr/bin/setarch")


def test_the_command_counts_only_the_selected_cpu_bound_benchmarks(tmp_path: Path) -> None:
    options = RunOptions(processes=1, keyword="encode", python="/venv/bin/python")
    command = count_command(TOOLS, tmp_path, options, calls=20, targets=["tests/benchmarks/t.py"])
    # ASLR off, then callgrind with instrumentation off until the plugin starts it.
    assert command[:3] == ["/usr/bin/setarch", command[1], "-R"]
    assert command[3:6] == ["/usr/bin/valgrind", "--tool=callgrind", "--instr-atstart=no"]
    assert command[6] == f"--callgrind-out-file={tmp_path}/callgrind.out.%p"
    assert command[7:12] == ["/venv/bin/python", "-s", "-m", "pytest", "tests/benchmarks/t.py"]
    assert command[15:17] == ["-m", "cpu_bound and (not reference)"]
    for blocked in ("no:benchmark", "no:codspeed", "no:hypothesispytest"):
        assert blocked in command
    assert "agui_perf_counts" in command
    assert "--agui-counts-calls=20" in command
    assert command[-2:] == ["-k", "encode"]
    no_setarch = count_command(Tools("/v", "v", None), tmp_path, RunOptions(processes=1), calls=5)
    assert no_setarch[0] == "/v"
    assert "-k" not in no_setarch
    assert "tests/benchmarks" in no_setarch  # by default, the whole folder


def test_only_the_benchmark_files_that_name_the_marker_are_collected(tmp_path: Path) -> None:
    bench = tmp_path / "tests" / "benchmarks"
    (bench / "sub").mkdir(parents=True)
    (bench / "test_a.py").write_text("@pytest.mark.cpu_bound\ndef test_a(benchmark): ...\n")
    (bench / "test_b.py").write_text("def test_b(benchmark): ...\n")
    (bench / "sub" / "test_c.py").write_text("pytestmark = pytest.mark.cpu_bound\n")
    (bench / "helpers.py").write_text("SIZE = 3\n")
    assert count_targets(tmp_path) == [
        "tests/benchmarks/sub/test_c.py",
        "tests/benchmarks/test_a.py",
    ]
    # A conftest (or helper) that names it may mark any test: then the whole folder.
    (bench / "conftest.py").write_text("def pytest_collection_modifyitems(items): 'cpu_bound'\n")
    assert count_targets(tmp_path) == ["tests/benchmarks"]
    for path in bench.rglob("*.py"):
        path.write_text("def test_x(benchmark): ...\n")
    assert count_targets(tmp_path) == []
    assert count_targets(tmp_path / "nowhere") == []


def test_without_valgrind_counts_are_unavailable_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no valgrind in an empty folder
    with pytest.raises(CountsUnavailable) as err:
        find_tools()
    assert str(err.value) == VALGRIND_NOT_FOUND == "valgrind not found"


def test_without_the_hooks_module_counts_are_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    if not HAS_VALGRIND:
        pytest.skip("find_tools looks for valgrind first")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(CountsUnavailable, match="pytest-codspeed's instrument hooks not found"):
        find_tools()


def test_a_tree_without_cpu_bound_benchmarks_starts_no_process(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "tests" / "benchmarks").mkdir(parents=True)
    (tree / "tests" / "benchmarks" / "test_x.py").write_text("def test_x(benchmark): pass\n")
    request = CountRequest(
        sides=[Side("current", tree, "working tree")],
        options=RunOptions(processes=1),
        out_dir=tmp_path / "out",
        # A valgrind that cannot start: reaching it would fail the test.
        tools=Tools(valgrind=str(tmp_path / "no-valgrind"), version="valgrind-9", setarch=None),
    )
    assert count_sides(request) == {"current": Counts(tool="valgrind-9", missing=None)}
    assert not (tmp_path / "out").exists()


# --- a fake valgrind: the child's real command, without callgrind --------------------------

FAKE_VALGRIND = """#!/bin/sh
# Drops valgrind's own options and runs the rest: the plugin then counts nothing.
echo "counted from $(pwd)"
while [ "${1#--}" != "$1" ]; do shift; done
exec "$@"
"""


def fake_tools(tmp_path: Path) -> Tools:
    script = tmp_path / "fake-valgrind"
    script.write_text(FAKE_VALGRIND)
    script.chmod(0o755)
    return Tools(valgrind=str(script), version="valgrind-fake", setarch=None)


#: A tree with the layout the gate expects and cpu_bound benchmarks of interpreted work: the
#: same function at two sizes, 10 % apart.
TOY_TREE = {
    "pyproject.toml": '[tool.pytest.ini_options]\naddopts = ["--strict-markers"]\n',
    "src/agui_perf/__init__.py": textwrap.dedent(
        """\
        def work(n):
            total = 0
            for i in range(n):
                total += len(str(i)) * 3 + (i & 7)
            return total
        """
    ),
    "tests/__init__.py": "",
    "tests/benchmarks/__init__.py": "",
    "tests/benchmarks/test_toy.py": textwrap.dedent(
        """\
        import pytest

        import agui_perf


        @pytest.mark.cpu_bound
        @pytest.mark.parametrize("size", [300, 330])
        def test_work(benchmark, size):
            assert benchmark(agui_perf.work, size) > 0


        @pytest.mark.cpu_bound
        @pytest.mark.reference
        def test_reference_is_not_counted(benchmark):
            benchmark(agui_perf.work, 10)
        """
    ),
}


def toy_tree(root: Path) -> Path:
    for name, text in TOY_TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def one_side(tmp_path: Path, tree: Path, **changes: object) -> CountRequest:
    return CountRequest(
        sides=[Side("current", tree, "working tree")],
        options=RunOptions(processes=1),
        out_dir=tmp_path / "out",
        calls=2,
        tools=fake_tools(tmp_path),
        **changes,  # type: ignore[arg-type]
    )


def test_a_failing_benchmark_is_one_line_naming_it(tmp_path: Path) -> None:
    tree = toy_tree(tmp_path / "tree")
    bench = tree / "tests" / "benchmarks" / "test_toy.py"
    bench.write_text(bench.read_text().replace("> 0", "< 0"))
    with pytest.raises(CountsError) as err:
        count_sides(one_side(tmp_path, tree))
    text = str(err.value)
    assert text.startswith("instruction counts of the current code (working tree) failed (exit 1)")
    assert "FAILED tests/benchmarks/test_toy.py::test_work[300]" in text
    assert text.endswith(f"full output in {tmp_path / 'out' / 'current' / 'counts.log'}")
    assert "\n" not in text


def test_client_requests_that_do_not_reach_callgrind_are_an_error(tmp_path: Path) -> None:
    # Not under valgrind, the plugin's requests do nothing: no dump, so no count is made up.
    with pytest.raises(CountsError, match="'test_work\\[300\\]' has no count") as err:
        count_sides(one_side(tmp_path, toy_tree(tmp_path / "tree")))
    assert "callgrind's client requests did not take effect" in str(err.value)


def test_every_side_is_counted_from_one_path_that_is_gone_afterwards(tmp_path: Path) -> None:
    # The path is in strings the counted process hashes, so it must be the same for both
    # sides (they then run one after the other) and from one run to the next.
    request = one_side(tmp_path, toy_tree(tmp_path / "a"))
    sides = [Side("accepted", toy_tree(tmp_path / "b"), "b"), *request.sides]
    request = dataclasses.replace(request, sides=sides)
    with pytest.raises(CountsError, match="has no count"):
        count_sides(request)  # no dumps outside valgrind: the first side's read fails
    first = (tmp_path / "out" / "accepted" / "counts.log").read_text()
    where = first.splitlines()[0].removeprefix("counted from ")
    assert where.startswith(tempfile.gettempdir())
    assert where.endswith("/tree")
    assert not Path(where).parent.exists()
    # The second side (stopped here by the first's error) and the next run: the same path.
    with pytest.raises(CountsError):
        count_sides(dataclasses.replace(request, sides=sides[::-1]))
    again = (tmp_path / "out" / "current" / "counts.log").read_text()
    assert again.splitlines()[0] == f"counted from {where}"


def test_a_count_stage_already_using_the_path_is_one_line(tmp_path: Path) -> None:
    request = one_side(tmp_path, toy_tree(tmp_path / "tree"))
    with stage_dir(request.out_dir) as stage, pytest.raises(CountsError) as err:
        count_sides(request)
    assert str(err.value) == (
        f"instruction counts: {stage} is in use by another count run writing to "
        f"{request.out_dir}; wait for it to finish"
    )
    assert not (tmp_path / "out").exists()


def test_a_cancelled_stage_stops_its_processes(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()  # the caller failed before the runs could finish
    request = one_side(tmp_path, toy_tree(tmp_path / "tree"), cancel=cancel)
    with pytest.raises(CountsError, match="instruction counts of the current code were stopped"):
        count_sides(request)


# --- for real, under callgrind ------------------------------------------------------------


@needs_valgrind
def test_a_toy_benchmark_counts_the_same_from_two_trees_and_a_change_shows(
    tmp_path: Path,
) -> None:
    """Two copies of one tree, at paths of different lengths and one with bytecode caches,
    counted at once: they must agree within the repeatability, and the benchmark that does
    10 % more work must count about 10 % more.
    """
    first = toy_tree(tmp_path / "a")
    second = toy_tree(tmp_path / "second-tree-at-a-longer-path")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(second)], check=True)
    request = CountRequest(
        sides=[Side("first", first, "a"), Side("second", second, "b")],
        options=RunOptions(processes=1),
        out_dir=tmp_path / "out",
        calls=5,
    )
    counts = count_sides(request)
    names = {"test_work[300]", "test_work[330]"}
    assert all(set(c.benchmarks) == names for c in counts.values())
    assert all(c.missing is None and c.tool.startswith("valgrind-") for c in counts.values())
    small = {label: c.benchmarks["test_work[300]"] for label, c in counts.items()}
    large = {label: c.benchmarks["test_work[330]"] for label, c in counts.items()}
    assert {count.calls for count in small.values()} == {5}
    # Interpreted work of a few hundred iterations: tens of thousands of instructions a call.
    assert small["first"].per_call > 20_000
    for sizes in (small, large):
        same = Fraction(sizes["second"].instructions, sizes["first"].instructions)
        assert count_state(same, 0.10) is CountState.UNCHANGED, f"{float(same) - 1:+.4%}"
        # Counted from one path, one after the other: identical in every run tried, busy
        # machine or not (from a random folder per side they read up to 1.9 % apart).
        assert abs(float(same) - 1) <= REPEATABILITY / 100, f"{float(same) - 1:+.4%}"
    grown = Fraction(large["first"].instructions, small["first"].instructions)
    # 10 % more iterations, but not exactly 10 % more instructions: the toy's calls are short,
    # so one more or one fewer pymalloc slow path (a pool unlinked and linked again) moves a
    # count by a few percent, and where those fall depends on the out folder's path, which is
    # pytest's per run (seen: +13.6 % in one run under load). Wide enough for that, narrow
    # enough to keep both states below apart.
    assert 1.05 < grown < 1.20
    assert count_state(grown, 0.05) is CountState.REGRESSION
    assert count_state(grown, 0.25) is CountState.SLOWER
    # The files a person would look at stay: the log, the manifest, one dump per benchmark.
    folder = tmp_path / "out" / "first"
    assert (folder / "counts.log").is_file()
    assert (folder / "manifest.json").is_file()
    stored = json.loads((folder / "counts.json").read_text())["benchmarks"]["test_work[300]"]
    assert stored == {"instructions": small["first"].instructions, "calls": 5}
    assert len([p for p in folder.glob("callgrind.out.*") if p.name.count(".") == 3]) == 2
