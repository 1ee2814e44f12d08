"""gate.quality.inject: the slowed function still works, does exactly the work asked for, and
nothing else in the file changes; wrong names fail with one line."""

from __future__ import annotations

import ast
import difflib
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import memray
import pytest

from agui_perf.gate.quality.inject import (
    MAX_ITERATIONS,
    InjectError,
    Target,
    Work,
    inject,
    module_file,
    work_statement,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import FrameType

    from _typeshed import TraceFunction

MODULE = textwrap.dedent(
    '''\
    """A module with a bit of everything."""

    import functools

    LIMIT = 3  # a comment that must survive


    def plain(x):
        """Double it."""
        return x * 2


    def one_liner(x): return x + 1


    def only_doc():
        """Nothing but a docstring."""


    class Box:
        size = 2

        @functools.cache
        def method(self, n):
            # a comment in the method
            return n * self.size

        class Inner:
            def deep(self):
                return "deep"


    def outer(x):
        def inner(y):
            return y - 1

        return inner(x)


    async def coro(x):
        return x


    if LIMIT > 2:
        def branch():
            return "a"
    else:
        def branch():
            return "b"
    '''
)

#: The innermost counter line: it runs exactly once per requested iteration.
_INNERMOST = "_agui_perf_quality_0 += 1"


def load(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "toy_module"}
    exec(compile(source, "toy_module.py", "exec"), namespace)  # noqa: S102 -- test code
    return namespace


def innermost_runs(source: str, call: Callable[[dict[str, Any]], object]) -> tuple[object, int]:
    """Run `call` on the module loaded from `source`; count the innermost loop's turns."""
    lines = source.splitlines()
    innermost = {i + 1 for i, line in enumerate(lines) if line.strip() == _INNERMOST}
    namespace = load(source)
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> TraceFunction | None:
        nonlocal count
        if frame.f_code.co_filename != "toy_module.py":
            return None
        if event == "line" and frame.f_lineno in innermost:
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        result = call(namespace)
    finally:
        sys.settrace(None)
    return result, count


def added_lines(before: str, after: str) -> list[str]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    assert not [line for line in diff if line.startswith("- ")], "a line was removed or changed"
    return [line[2:] for line in diff if line.startswith("+ ")]


@pytest.mark.parametrize("iterations", [1, 7, 255, 256, 257, 65_536, 65_537, 70_000])
def test_the_work_runs_exactly_the_iterations_asked_for(iterations: int) -> None:
    source = inject(MODULE, "plain", work_statement(Work.CPU, iterations))
    result, runs = innermost_runs(source, lambda ns: ns["plain"](21))
    assert result == 42
    assert runs == iterations


@pytest.mark.parametrize("work", list(Work))
def test_only_the_named_function_changes(work: Work) -> None:
    statement = work_statement(work, 300)
    source = inject(MODULE, "Box.method", statement)
    added = added_lines(MODULE, source)
    assert added == [" " * 8 + line for line in statement.splitlines()]
    before, after = ast.parse(MODULE), ast.parse(source)
    assert ast.dump(after.body[0]) == ast.dump(before.body[0])  # the docstring
    # Every definition other than the method is untouched; the method keeps its body after
    # the one new statement.
    box_before = next(n for n in before.body if isinstance(n, ast.ClassDef))
    box_after = next(n for n in after.body if isinstance(n, ast.ClassDef))
    method_before, method_after = box_before.body[1], box_after.body[1]
    assert isinstance(method_before, ast.FunctionDef)
    assert isinstance(method_after, ast.FunctionDef)
    assert [ast.dump(s) for s in method_after.body[1:]] == [ast.dump(s) for s in method_before.body]
    assert isinstance(method_after.body[0], ast.If)
    others = [ast.dump(n) for n in before.body if n is not box_before]
    assert [ast.dump(n) for n in after.body if n is not box_after] == others
    # It still works, decorated and all, and now counts.
    result, runs = innermost_runs(source, lambda ns: ns["Box"]().method(5))
    assert result == 10
    assert runs == 300


def test_methods_nested_classes_and_nested_functions() -> None:
    statement = work_statement(Work.CPU, 5)
    for name, call, expected in [
        ("Box.Inner.deep", lambda ns: ns["Box"].Inner().deep(), "deep"),
        ("outer.inner", lambda ns: ns["outer"](3), 2),
        ("outer.<locals>.inner", lambda ns: ns["outer"](3), 2),
    ]:
        source = inject(MODULE, name, statement)
        result, runs = innermost_runs(source, call)
        assert (name, result, runs) == (name, expected, 5)
    # Naming the outer function slows the outer one only, not the function defined in it.
    source = inject(MODULE, "outer", statement)
    tree = ast.parse(source)
    outer = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "outer")
    assert isinstance(outer.body[0], ast.If)
    inner = outer.body[1]
    assert isinstance(inner, ast.FunctionDef)
    assert not isinstance(inner.body[0], ast.If)


def test_docstrings_stay_docstrings() -> None:
    statement = work_statement(Work.CPU, 4)
    for name, args in (("plain", (1,)), ("only_doc", ())):
        source = inject(MODULE, name, statement)
        function = load(source)[name]
        assert function.__doc__ == load(MODULE)[name].__doc__

        def call(ns: dict[str, Any], name: str = name, args: tuple[int, ...] = args) -> object:
            return ns[name](*args)

        _, runs = innermost_runs(source, call)
        assert runs == 4


def test_a_one_line_function_is_rewritten_alone() -> None:
    source = inject(MODULE, "one_liner", work_statement(Work.CPU, 9))
    result, runs = innermost_runs(source, lambda ns: ns["one_liner"](1))
    assert (result, runs) == (2, 9)
    assert "LIMIT = 3  # a comment that must survive" in source
    assert "# a comment in the method" in source


def test_async_functions_and_every_definition_of_a_name() -> None:
    statement = work_statement(Work.CPU, 3)
    source = inject(MODULE, "coro", statement)
    coroutine = load(source)["coro"](8)
    with pytest.raises(StopIteration) as done:
        coroutine.send(None)
    assert done.value.value == 8
    source = inject(MODULE, "branch", statement)
    assert source.count("if True:  # agui-perf verdict-quality") == 2
    result, runs = innermost_runs(source, lambda ns: ns["branch"]())
    assert (result, runs) == ("a", 3)


def test_a_function_that_is_not_there() -> None:
    with pytest.raises(InjectError) as caught:
        inject(MODULE, "Box.missing", "pass\n", filename="src/toy_module.py")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("src/toy_module.py has no function or method 'Box.missing'")
    assert "Box.method" in message
    assert "outer.inner" in message
    with pytest.raises(InjectError, match="has no function or method 'LIMIT'"):
        inject(MODULE, "LIMIT", "pass\n")
    with pytest.raises(InjectError, match=r"cannot parse broken\.py \(line 1\)"):
        inject("def (:\n", "f", "pass\n", filename="broken.py")


def test_the_module_file_in_a_src_layout(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "src" / "pkg" / "sub" / "__init__.py").write_text("")
    (tmp_path / "src" / "pkg" / "mod.py").write_text("")
    assert module_file(tmp_path, "pkg.mod") == tmp_path / "src" / "pkg" / "mod.py"
    assert module_file(tmp_path, "pkg") == tmp_path / "src" / "pkg" / "__init__.py"
    assert module_file(tmp_path, "pkg.sub") == tmp_path / "src" / "pkg" / "sub" / "__init__.py"
    with pytest.raises(InjectError, match=r"no module 'pkg\.nope' in the project"):
        module_file(tmp_path, "pkg.nope")


@pytest.mark.parametrize(
    "text", ["encode_many", "agui_perf.stream.encoder", "a.b:", ":f", "a b:f", "a:f-g", "a:1f"]
)
def test_bad_targets(text: str) -> None:
    with pytest.raises(InjectError, match="is not MODULE:FUNCTION"):
        Target.parse(text)


def test_targets() -> None:
    target = Target.parse("agui_perf.stream.response:EventStreamResponse._send_body")
    assert (target.module, target.qualname) == (
        "agui_perf.stream.response",
        "EventStreamResponse._send_body",
    )
    assert str(target) == "agui_perf.stream.response:EventStreamResponse._send_body"
    assert Target.parse("m:outer.<locals>.inner").qualname == "outer.<locals>.inner"


@pytest.mark.parametrize("iterations", [0, -1, MAX_ITERATIONS + 1])
def test_iterations_out_of_range(iterations: int) -> None:
    with pytest.raises(InjectError, match="iterations must be a whole number from 1 to"):
        work_statement(Work.CPU, iterations)


def _allocations(function: Callable[[], object], path: Path, calls: int = 40) -> int:
    function()  # warm: specialization and caches happen on the first calls, once
    with memray.Tracker(path, trace_python_allocators=True):
        for _ in range(calls):
            function()
    return int(memray.FileReader(path).metadata.total_allocations)


def test_cpu_work_allocates_nothing_and_alloc_work_does(tmp_path: Path) -> None:
    # The gate compares allocation counts exactly: a CPU slowdown must not look like a
    # memory regression, and an allocating one must be visible to memray.
    base = "def f():\n    return 1\n"
    plain = load(base)["f"]
    # 65,793 = 256² + 256 + 1: all three loop groups run.
    cpu = load(inject(base, "f", work_statement(Work.CPU, 65_793)))["f"]
    alloc = load(inject(base, "f", work_statement(Work.ALLOC, 65_793)))["f"]
    before = _allocations(plain, tmp_path / "plain.bin")
    assert abs(_allocations(cpu, tmp_path / "cpu.bin") - before) <= 2
    assert _allocations(alloc, tmp_path / "alloc.bin") >= before + 40
