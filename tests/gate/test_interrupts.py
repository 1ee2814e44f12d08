"""Stopping a run: the gate's promise at every moment it can be stopped, for real, in a toy repo.

The promise: exit 2, one error line, nothing under baselines/ changed, no worktree left, no
process of the run left (benchmark processes, the servers they start, memory children).

Nothing here depends on the signal dispositions the test run inherited (a background job of a
non-interactive shell inherits SIGINT *ignored*, and Python keeps that): every gate is started
through LAUNCHER, which sets the gate's SIGINT handling itself before running `agui-perf`.

Nothing here sleeps to "let it get there" either. The run is driven to the chosen moment: whoever
reaches it — the toy benchmark, the toy memory scenario, or a wrapper LAUNCHER puts around one
of the gate's own functions (test code in the child, no hook in the gate) — writes the file
`arrived` (its pids) into a control folder and waits for a `release` file; the test waits for
`arrived` (bounded by a generous timeout) and only then sends the signal.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.store.baseline import write_baseline
from tests._support.gate_cli import error_line, gate_env, snapshot
from tests._support.git import commit_all, git, init_repo
from tests._support.processes import TIMEOUT, alive, wait_until, wait_until_gone
from tests._support.toy import BASELINE, TOY_FILES, stored_results, write_toy

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


#: Shared by the toy benchmark, the toy memory scenario and LAUNCHER (standard library only:
#: the memory child runs in a clean environment). `moment` in the control folder names the
#: moment a test wants; the first to reach it says so in `arrived` and waits for `release`.
ARRIVE = textwrap.dedent(
    """\
    def arrive(moment, *pids):
        control = pathlib.Path(CONTROL)
        if (control / "moment").read_text() != moment or (control / "arrived").exists():
            return
        told = control / "arrived.tmp"
        told.write_text(" ".join(str(pid) for pid in (os.getpid(), *pids)))
        told.replace(control / "arrived")
        deadline = time.monotonic() + 600
        while not (control / "release").exists():
            if time.monotonic() > deadline:
                raise SystemExit("never released")
            time.sleep(0.01)
    """
)

_TOY_BENCHMARK = """\
import os
import pathlib
import subprocess
import sys
import time

import agui_perf

CONTROL = {control!r}

{arrive}

def _inside_a_benchmark():
    control = pathlib.Path(CONTROL)
    if (control / "moment").read_text() != "benchmark" or (control / "arrived").exists():
        return
    # A stand-in for the servers the real benchmarks start: in this process's group.
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        arrive("benchmark", server.pid)
    finally:
        server.kill()
        server.wait()


def test_sum(benchmark):
    _inside_a_benchmark()
    benchmark.pedantic(agui_perf.work, args=(agui_perf.SIZE,), rounds=5, iterations=20)


def test_join(benchmark):
    benchmark.pedantic(",".join, args=(["x"] * 200,), rounds=5, iterations=20)
"""

_TOY_SCENARIOS = """\
import os
import pathlib
import time

import agui_perf

CONTROL = {control!r}

{arrive}

def toy_alloc():
    arrive("memory")
    kept = [str(i) * 10 for i in range(agui_perf.SIZE)]
    return len(kept)


SCENARIOS = {{"toy_alloc": toy_alloc}}
"""

#: Starts the gate with SIGHUP at its default and its SIGINT disposition set here (argv:
#: control folder, "default" or "ignore", then agui-perf's arguments); wraps the gate
#: function a moment needs.
LAUNCHER = (
    textwrap.dedent(
        """\
        import os
        import pathlib
        import signal
        import sys
        import time

        CONTROL = sys.argv[1]
        # A gate started from a terminal: SIGHUP at its default. The gate keeps SIGHUP ignored
        # when it inherits it so (nohup), and a test run started under nohup passes that on.
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        if sys.argv[2] == "ignore":
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        else:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        """
    )
    + ARRIVE
    + textwrap.dedent(
        """\
        moment = pathlib.Path(CONTROL, "moment").read_text()
        if moment == "between":
            # The second benchmark process is about to be built: the first one is done.
            from agui_perf.gate.measure import runner

            built = []
            real_command = runner.pytest_command

            def pytest_command(*args, **kwargs):
                built.append(args)
                if len(built) == 2:
                    arrive("between")
                return real_command(*args, **kwargs)

            runner.pytest_command = pytest_command
        elif moment in ("report", "baseline"):
            # Inside a file write, after the text is in the temporary file, before its fsync
            # and rename: the second report file, or the baseline file.
            from agui_perf.gate.store import baseline
            from agui_perf.gate.report import write

            module = write if moment == "report" else baseline
            which = 2 if moment == "report" else 1
            real_write, real_fsync = module.atomic_write_text, os.fsync
            writes = []
            inside = []

            def fsync(fd):
                if inside:
                    arrive(moment)
                real_fsync(fd)

            def atomic_write_text(path, text):
                writes.append(path)
                if len(writes) == which:
                    inside.append(path)
                try:
                    real_write(path, text)
                finally:
                    inside.clear()

            os.fsync = fsync
            module.atomic_write_text = atomic_write_text

        from agui_perf.cli import main

        sys.exit(main(sys.argv[3:]))
        """
    )
)


# --- a toy repository with control points, and gates started through LAUNCHER --------------


@dataclass
class Gate:
    """A gate started through LAUNCHER in its own session (its pid is its process group)."""

    proc: subprocess.Popen[bytes]
    control: Path
    stdout: Path
    stderr: Path
    pids: list[int] = field(default_factory=list)  # from `arrived`

    def arrived(self) -> list[int]:
        """Wait until the run is at its moment; the pids of whoever got there."""
        told = self.control / "arrived"

        def there() -> bool:
            if told.exists():
                return True
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the gate ended (exit {self.proc.returncode}) before its moment: "
                    + self.stderr.read_text()
                )
            return False

        wait_until(there, f"the run to reach {(self.control / 'moment').read_text()!r}")
        self.pids = [int(pid) for pid in told.read_text().split()]
        return self.pids

    def release(self) -> None:
        (self.control / "release").touch()

    def finish(self) -> tuple[int, str, str]:
        status = self.proc.wait(timeout=TIMEOUT)
        return status, self.stdout.read_text(), self.stderr.read_text()


@dataclass
class Toy:
    root: Path
    control: Path
    gates: list[Gate] = field(default_factory=list)

    def start(self, moment: str, *args: str, sigint: str = "default") -> Gate:
        """Start `agui-perf gate ARGS` with SIGINT at Python's default or ignored."""
        (self.control / "moment").write_text(moment)
        for name in ("arrived", "release"):
            (self.control / name).unlink(missing_ok=True)
        index = len(self.gates)
        stdout, stderr = self.control / f"stdout-{index}", self.control / f"stderr-{index}"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, str(self.control), sigint, "gate", *args],
                cwd=self.root,
                env=gate_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        gate = Gate(proc, self.control, stdout, stderr)
        self.gates.append(gate)
        return gate

    def cleanup(self) -> None:
        """Whatever a failed test left running is killed, so it cannot outlive the test."""
        for gate in self.gates:
            for pid in gate.pids:
                if alive(pid):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(gate.proc.pid, signal.SIGKILL)
            gate.proc.wait(timeout=TIMEOUT)


def toy_files(control: Path) -> dict[str, str]:
    arrive = ARRIVE.strip()
    return {
        **TOY_FILES,
        "tests/benchmarks/test_toy.py": _TOY_BENCHMARK.format(control=str(control), arrive=arrive),
        "tests/benchmarks/memory_scenarios.py": _TOY_SCENARIOS.format(
            control=str(control), arrive=arrive
        ),
    }


@pytest.fixture
def toy(tmp_path: Path) -> Iterator[Toy]:
    """The toy repository (its last commit stores the baseline) with a control folder."""
    control = tmp_path / "control"
    control.mkdir()
    root = write_toy(init_repo(tmp_path / "toy"), toy_files(control))
    commit_all(root, "toy project")
    write_baseline(root / BASELINE, stored_results({"test_sum": 1e-3, "test_join": 2e-3}))
    commit_all(root, "accept the toy baseline")
    toy = Toy(root, control)
    try:
        yield toy
    finally:
        toy.cleanup()


def assert_no_worktree_left(root: Path) -> None:
    worktrees = root / ".perf" / "worktrees"
    assert not worktrees.exists() or not any(worktrees.iterdir())
    assert git(root, "worktree", "list").count("\n") == 0  # only the main one


def stop_and_check(
    toy: Toy, gate: Gate, command: str, sig: signal.Signals, before: dict[str, bytes]
) -> str:
    """Send `sig` once `gate` has arrived; check the promise of a stopped run; its stdout.

    Exit 2 with one error line naming the signal, the project byte for byte as `before` (no
    temporary file either: the snapshot lists every file), no worktree, and none of the
    moment's processes (pytest and its server, a memray child) or of the gate's process group
    (the gate leads its group: start_new_session) left alive.
    """
    pids = gate.arrived()
    os.kill(gate.proc.pid, sig)
    status, stdout, stderr = gate.finish()
    assert status == 2, stderr
    assert error_line(stderr) == interrupted_line(command, sig)
    assert snapshot(toy.root) == before
    assert_no_worktree_left(toy.root)
    wait_until_gone(pids, groups=(gate.proc.pid,))
    return stdout


def interrupted_line(command: str, sig: signal.Signals) -> str:
    kept = (
        "no verdict; nothing under baselines/ was changed"
        if command == "perf"
        else f"{BASELINE} left as it was"
    )
    return f"agui-perf gate {command}: error: interrupted ({sig.name}) — {kept}"


# --- the promise, moment by moment, for each stop signal -------------------------------------

MOMENTS = [
    # (moment, command): who waits there
    pytest.param("between", "update-baseline", id="between-benchmark-processes"),  # the gate
    pytest.param("benchmark", "perf", id="inside-a-benchmark-process"),  # pytest, a "server"
    pytest.param("memory", "perf", id="inside-the-memory-stage"),  # the memray child
    pytest.param("report", "perf", id="while-writing-the-report"),  # the gate, mid-write
    pytest.param("baseline", "update-baseline", id="while-writing-the-baseline"),  # likewise
]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
@pytest.mark.parametrize(("moment", "command"), MOMENTS)
def test_a_stopped_run_exits_2_and_leaves_nothing_behind(
    toy: Toy, moment: str, command: str, sig: signal.Signals
) -> None:
    before = snapshot(toy.root)
    out = toy.control.parent / "report"
    gate = toy.start(moment, command, "--processes", "2", "--out", str(out))
    assert stop_and_check(toy, gate, command, sig, before) == ""
    if moment == "report":
        # The error verdict replaced the one being written; no temporary file is left.
        assert json.loads((out / "verdict.json").read_text())["overall"] == "error"
        assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == []


def test_a_closed_terminal_stops_the_run_like_ctrl_c(toy: Toy) -> None:
    before = snapshot(toy.root)
    gate = toy.start("benchmark", "perf", "--processes", "2")
    stop_and_check(toy, gate, "perf", signal.SIGHUP, before)


# --- started with SIGINT ignored (a background job of a non-interactive shell) --------------


def test_with_sigint_ignored_a_sigint_does_not_stop_the_run(toy: Toy) -> None:
    gate = toy.start("between", "perf", "--processes", "2", sigint="ignore")
    gate.arrived()
    # Handled, the signal would raise in the gate's own code right now, before the release.
    os.kill(gate.proc.pid, signal.SIGINT)
    gate.release()
    status, stdout, stderr = gate.finish()
    assert status == 0, stderr
    assert stdout.startswith("PASS: ")
    assert "error" not in stderr
    assert_no_worktree_left(toy.root)


def test_with_sigint_ignored_sigterm_still_stops_the_run(toy: Toy) -> None:
    before = snapshot(toy.root)
    gate = toy.start("benchmark", "perf", "--processes", "2", sigint="ignore")
    stop_and_check(toy, gate, "perf", signal.SIGTERM, before)


# --- two runs, a killed run -------------------------------------------------------------------


def test_a_second_run_in_the_same_checkout_is_refused_at_once(toy: Toy) -> None:
    first = toy.start("between", "perf", "--processes", "2")
    first.arrived()
    # The same launcher, so the second run cannot be stopped by the first one's moment.
    second = toy.start("none", "update-baseline", "--processes", "2")
    status, stdout, stderr = second.finish()
    assert status == 2
    line = error_line(stderr)
    assert line.startswith(
        f"agui-perf gate update-baseline: error: another gate run (pid {first.proc.pid}, started "
    )
    assert line.endswith(") is using .perf/ — wait for it to finish")
    assert stdout == ""
    # The first run, which owns .perf/, was not disturbed.
    first.release()
    status, stdout, stderr = first.finish()
    assert status == 0, stderr
    assert stdout.startswith("PASS: ")


def test_a_killed_run_leaves_nothing_that_stops_the_next_one(toy: Toy) -> None:
    killed = toy.start("between", "perf", "--processes", "2")
    killed.arrived()
    accepted = git(toy.root, "rev-parse", "HEAD")
    left = toy.root / ".perf" / "worktrees" / accepted
    assert left.is_dir()  # the accepted commit's worktree, as a killed run leaves it
    os.kill(killed.proc.pid, signal.SIGKILL)
    assert killed.proc.wait(timeout=TIMEOUT) == -signal.SIGKILL
    # Accept a new baseline: the leftover is now a worktree of another commit.
    write_baseline(toy.root / BASELINE, stored_results({"test_sum": 2e-3, "test_join": 2e-3}))
    commit_all(toy.root, "a newer baseline")

    again = toy.start("none", "perf", "--processes", "2")
    status, stdout, stderr = again.finish()
    assert status == 0, stderr  # the lock died with the killed run
    assert stdout.startswith("PASS: ")
    assert not left.exists()
    assert_no_worktree_left(toy.root)
