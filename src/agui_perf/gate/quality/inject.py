"""A slowdown on purpose: one statement of real work at the top of a named function's body.

Pure source rewriting: text in, text out, nothing imported or executed. The function is found
by its qualified name in the module's syntax tree (`Class.method`, `outer.inner` or Python's
own `outer.<locals>.inner`), and the statement is spliced in as text right before the first
statement of the body (after the docstring), so every other byte of the file stays as it was.

The work is a counting loop of `while` statements whose counters never leave CPython's cached
small integers (0..256): the interpreter executes every iteration (nothing folds or skips a
loop), and the loop allocates nothing. That matters because the gate compares allocation
counts exactly (memray, 2 % tolerance): a loop over `range(K)` would allocate one int per
iteration above 256 and turn a CPU slowdown into a memory regression. `alloc` work also builds
and drops one small list per call, which memray does see.
"""

from __future__ import annotations

import ast
import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agui_perf.gate.errors import GateError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "MAX_ITERATIONS",
    "InjectError",
    "Target",
    "Work",
    "inject",
    "module_file",
    "work_statement",
]

#: Three nested counters of base 256 (the cached small integers end at 256).
_BASE = 256
MAX_ITERATIONS = _BASE**3 - 1
#: Prefix of every name the injected statement binds: no function uses it already.
_NAME = "_agui_perf_quality_"
_LOCALS = "<locals>."


class InjectError(GateError):
    """The named function cannot be slowed down (not found, not parseable)."""


class Work(enum.StrEnum):
    """What the injected statement does: count only, or also allocate."""

    CPU = "cpu"
    ALLOC = "alloc"


@dataclass(frozen=True)
class Target:
    """A function to slow down: `module:qualname`, e.g. `agui_perf.stream.encoder:encode_many`."""

    module: str
    qualname: str

    @classmethod
    def parse(cls, text: str) -> Target:
        module, sep, qualname = text.partition(":")
        parts = [*module.split("."), *qualname.replace(_LOCALS, "").split(".")]
        if not sep or not module or not qualname or not all(p.isidentifier() for p in parts):
            raise InjectError(
                f"--inject {text!r} is not MODULE:FUNCTION — write e.g. "
                "agui_perf.stream.encoder:encode_many or "
                "agui_perf.stream.response:EventStreamResponse._send_body"
            )
        return cls(module, qualname)

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}"


def module_file(root: Path, module: str) -> Path:
    """The source file of `module` in the project at `root`: in the source folders of its
    `[tool.agui_perf.layout]` (`src/` by default) first, then at the root."""
    from agui_perf.gate.store.config import load_settings

    try:
        sources = load_settings(root / "pyproject.toml").layout.source
    except (GateError, OSError):
        sources = ("src",)  # the gate run itself then says what is wrong with the settings
    relative = module.replace(".", "/")
    candidates = [
        base / name
        for base in (*(root / source for source in sources), root)
        for name in (f"{relative}.py", f"{relative}/__init__.py")
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise InjectError(
        f"no module {module!r} in the project (looked for {sources[0]}/{relative}.py and "
        f"{sources[0]}/{relative}/__init__.py) — check the module part of --inject"
    )


def work_statement(work: Work, iterations: int) -> str:
    """The source of one statement (an `if True:` block) that loops `iterations` times.

    Unindented, with a trailing newline. `iterations` = hi·256² + mid·256 + lo: one loop
    group per non-zero digit, so the innermost counter (`…_0 += 1`) runs exactly
    `iterations` times in total.
    """
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise InjectError(
            f"iterations must be a whole number from 1 to {MAX_ITERATIONS:,}, got {iterations}"
        )
    hi, rest = divmod(iterations, _BASE * _BASE)
    mid, lo = divmod(rest, _BASE)
    lines = [
        f"if True:  # agui-perf verdict-quality: injected {work} work, {iterations} iterations"
    ]
    if work is Work.ALLOC:
        lines.append(f"    {_NAME}list = [0, 1, 2, 3, 4, 5, 6, 7]")
    for depth, count in ((2, hi), (1, mid), (0, lo)):
        if count:
            lines.extend(_loop_group(depth, count))
    if work is Work.ALLOC:
        lines.append(f"    del {_NAME}list")
    return "\n".join(lines) + "\n"


def _loop_group(depth: int, count: int) -> list[str]:
    """`count` runs of a counter at `depth`, each running 256^depth innermost iterations."""
    lines: list[str] = []
    limits = [count, *([_BASE] * depth)]
    for level, limit in enumerate(limits):
        name = f"{_NAME}{depth - level}"
        indent = "    " * (level + 1)
        lines.append(f"{indent}{name} = 0")
        lines.append(f"{indent}while {name} < {limit}:")
        lines.append(f"{indent}    {name} += 1")
    return lines


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, FunctionNode]]:
    """Every function and method under `node` with its qualified name (`<locals>.` left out)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, FunctionNode):
            name = prefix + child.name
            yield name, child
            yield from _functions(child, name + ".")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, prefix + child.name + ".")
        else:
            # if/try/with blocks at any level keep the scope of their parent.
            yield from _functions(child, prefix)


def inject(source: str, qualname: str, statement: str, *, filename: str = "<source>") -> str:
    """`source` with `statement` first in the body of every function named `qualname`.

    A function defined more than once under one name (in `if`/`else` or `try`/`except`
    branches) gets the statement in each definition: whichever one runs is slowed down.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as err:
        raise InjectError(f"cannot parse {filename} (line {err.lineno}): {err.msg}") from None
    wanted = qualname.replace(_LOCALS, "")
    found = [node for name, node in _functions(tree) if name == wanted]
    if not found:
        names = sorted({name for name, _ in _functions(tree)})
        shown = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
        raise InjectError(
            f"{filename} has no function or method {qualname!r} — it has: {shown or 'none'}"
        )
    lines = _lines(source)
    # Bottom up, so that the line numbers of the definitions above stay valid.
    for node in sorted(found, key=lambda n: n.lineno, reverse=True):
        lines = _insert(lines, node, statement)
    return "".join(lines)


def _lines(source: str) -> list[str]:
    """The lines of `source` as the parser counts them (str.splitlines also splits at form
    feeds and other separators that the parser treats as ordinary characters)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", source)


def _has_docstring(node: FunctionNode) -> bool:
    first = node.body[0]
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def _insert(lines: list[str], node: FunctionNode, statement: str) -> list[str]:
    body = node.body
    has_doc = _has_docstring(node)
    first = body[1] if has_doc and len(body) > 1 else body[0]
    line = lines[first.lineno - 1]
    indent = line[: first.col_offset]
    if has_doc and first is body[0]:
        # Only a docstring: the statement goes on the line after it, at its indentation.
        at = body[0].end_lineno or body[0].lineno
        return [*lines[:at], *_indented(statement, indent, lines[at - 1]), *lines[at:]]
    if indent.strip() or first.lineno == node.lineno:
        # The first statement shares its line with the header or another statement
        # (`def f(): return 1`): rewrite just this function from its syntax tree.
        return _rewrite_function(lines, node, statement)
    at = first.lineno - 1
    return [*lines[:at], *_indented(statement, indent, line), *lines[at:]]


def _indented(statement: str, indent: str, like: str) -> list[str]:
    newline = "\r\n" if like.endswith("\r\n") else "\n"
    return [f"{indent}{text}{newline}" for text in statement.splitlines()]


def _rewrite_function(lines: list[str], node: FunctionNode, statement: str) -> list[str]:
    header = lines[node.lineno - 1]
    indent = header[: len(header) - len(header.lstrip())]
    rebuilt = ast.parse(ast.unparse(node))
    function = rebuilt.body[0]
    assert isinstance(function, FunctionNode)
    function.decorator_list = []  # the decorator lines above `def` are kept as they are
    at = 1 if _has_docstring(function) else 0
    function.body[at:at] = ast.parse(statement).body
    text = "".join(f"{indent}{row}\n" for row in ast.unparse(function).splitlines())
    end = node.end_lineno or node.lineno
    return [*lines[: node.lineno - 1], text, *lines[end:]]
