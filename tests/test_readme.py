"""The README stays true: every nox session and every command-line option it names exists.

A README that names a session or a flag the code no longer has is the first thing a new user
trips over; these checks read the README as it is and ask the real parsers.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from agui_perf.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _nox_sessions() -> set[str]:
    """Session names declared in noxfile.py (`@nox.session`, with `name=` when given)."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if ast.unparse(target) != "nox.session":
                continue
            name = node.name
            for keyword in call.keywords if call else []:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    name = str(keyword.value.value)
            names.add(name)
    return names


def _options(*path: str) -> set[str]:
    """Option strings of `agui-perf <path…>`, e.g. ("gate", "perf")."""
    parser = build_parser()
    for word in path:
        actions = [a for a in parser._actions if a.choices and word in a.choices]
        assert actions, f"agui-perf has no subcommand {' '.join(path)}"
        choices = actions[0].choices
        assert isinstance(choices, dict)
        parser = choices[word]
    return {option for action in parser._actions for option in action.option_strings}


def test_every_nox_session_the_readme_names_exists() -> None:
    named = set(re.findall(r"nox (?:-R )?-s ([a-z][a-z-]*)", README))
    assert {"perf", "tests", "update-baseline"} <= named  # the README's own commands
    missing = named - _nox_sessions()
    assert not missing, f"README names nox sessions that noxfile.py lacks: {sorted(missing)}"


def test_every_gate_option_in_the_readme_table_exists() -> None:
    table = README[README.index("take options after `--`") :].split("\n\n", 2)[1]
    listed = set(re.findall(r"`(--?[a-z][a-z-]*)", table))
    assert {"--processes", "--min-effect", "--ref", "--out", "--scale", "-k", "--history"} <= listed
    # Rows whose meaning starts with "`perf` only" (--ref, --history).
    perf_only = set(re.findall(r"^\| `(--[a-z-]+)[^|]*\| `perf` only", table, re.M))
    assert {"--ref", "--history"} <= perf_only
    for command in ("perf", "update-baseline"):
        known = _options("gate", command)
        expected = listed - (perf_only if command == "update-baseline" else set())
        assert expected <= known, f"gate {command} lacks {sorted(expected - known)}"


def test_every_serve_option_in_the_streaming_core_section_exists() -> None:
    section = README[README.index("## The streaming core") :]
    section = section[: section.index("\n## ", 1)]
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", section))
    assert "--port" in flags  # the section's own example
    missing = flags - _options("serve")
    assert not missing, f"README uses agui-perf serve options that do not exist: {missing}"


def test_every_load_option_in_the_load_test_section_exists() -> None:
    section = README[README.index("## Load test") :]
    end = section.find("\n## ", 1)
    section = section if end == -1 else section[:end]
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", section))
    assert {"--target", "--path", "--input", "--server-workers", "--check-only"} <= flags
    missing = flags - _options("load")
    assert not missing, f"README uses agui-perf load options that do not exist: {missing}"
