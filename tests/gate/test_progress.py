"""gate.progress: the command line's one handler prints every module's lines with the prefix."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agui_perf.gate.progress import LOGGER, PREFIX, to_stderr

if TYPE_CHECKING:
    import pytest


def test_to_stderr_prints_each_module_line_with_the_prefix_and_leaves_no_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate = logging.getLogger(LOGGER)
    handlers, level = list(gate.handlers), gate.level
    child = logging.getLogger(f"{LOGGER}.measure.runner")
    child.info("before: not printed")
    with to_stderr():
        child.info("timing round 1/8 · current (working tree) · 100 % left")
        logging.getLogger(f"{LOGGER}.pipeline").info("memory · current: no scenarios")
        logging.getLogger("elsewhere").warning("not ours")
    child.info("after: not printed")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"{PREFIX} timing round 1/8 · current (working tree) · 100 % left",
        f"{PREFIX} memory · current: no scenarios",
    ]
    assert (gate.handlers, gate.level) == (handlers, level)


def test_to_stderr_with_another_logger_and_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    with to_stderr(f"{LOGGER}.quality", "[quality]"):
        logging.getLogger(f"{LOGGER}.quality.progress").info("gate run 1/2")
        # The gate's own modules stay quiet in the harness's process.
        logging.getLogger(f"{LOGGER}.measure.runner").info("timing round 1/2")
    assert capsys.readouterr().err == "[quality] gate run 1/2\n"
