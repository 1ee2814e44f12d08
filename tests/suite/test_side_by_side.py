"""Two apps in one pytest run: the example's app and our core, the closing table with both.

Runs the command the README gives (`pytest examples/sdk-fastapi/side_by_side`) in a fresh
process from the repository's root, as a user would, and reads the table it prints. Checks
what was measured and how it was judged, never how fast: the figures differ from run to run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = "examples/sdk-fastapi/side_by_side"
#: Generous: two servers start and 28 runs stream on a busy machine.
TIMEOUT_S = 300
#: (test, target, events) of every row, in the table's order.
ROWS = [
    ("test_short_reply", "app:app /", "28"),
    ("test_short_reply", "agui_perf.stream.app:create_app /agent", "24"),
    ("test_burst", "app:app /", "1008"),
    ("test_burst", "agui_perf.stream.app:create_app /agent", "1004"),
]


def test_the_example_and_our_core_side_by_side_in_one_run() -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", MODULE, "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    (title,) = [i for i, line in enumerate(lines) if "agui-perf service suite" in line]
    header, *rows = lines[title + 1 : title + 2 + len(ROWS)]
    assert header.split()[:3] == ["test", "target", "runs"]
    assert header.split()[-2:] == ["verified", "framing"]
    for (test, target, events), row in zip(ROWS, rows, strict=True):
        assert row.startswith(f"{test} "), row
        assert f" {target} " in row, row
        cells = row.split(target, 1)[1].split()
        runs, measured_events = cells[:2]
        assert (runs, measured_events) == ("7", events), row
        assert cells[-2:] == ["yes", "ok"], row  # every run verified, framed as the client reads
    print("\n".join(lines[title:]))
