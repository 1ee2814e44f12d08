"""The closing table's rows and layout, from figures built by hand (no server, no timing)."""

from __future__ import annotations

from dataclasses import replace

from agui_perf.suite.summary import COLUMNS, Row, Tally, format_table
from tests._support.figures import run_figures

RUN = run_figures()


def test_medians_per_group_and_the_largest_gap() -> None:
    runs = [
        RUN,
        replace(RUN, ttfe_s=0.003, gap_max_s=0.009, duration_s=0.030),
        replace(RUN, ttfe_s=0.002, ttfc_s=None, duration_s=0.020),
    ]
    row = Row.of("test_x", "app:app /", runs)
    assert row.runs == 3
    assert row.ttfe_s == 0.002
    assert row.ttfc_s == 0.002  # the median of the runs that had content
    assert row.duration_s == 0.020
    assert row.gap_max_s == 0.009  # the largest gap of any run, not a median
    assert (row.verified, row.framing_ok) == (3, 3)
    cells = dict(zip(COLUMNS, row.cells(), strict=True))
    assert cells["ttfe ms"] == "2.00"
    assert cells["gap max"] == "9.00"
    assert (cells["verified"], cells["framing"]) == ("yes", "ok")


def test_a_failed_verdict_says_how_many_runs_failed_and_the_line_ends() -> None:
    crlf = replace(RUN, framing_ok=False, line_ends=("CRLF",))
    row = Row.of("t", "x:y /", [RUN, replace(RUN, verified=False), crlf])
    cells = dict(zip(COLUMNS, row.cells(), strict=True))
    assert cells["verified"] == "NO 2/3"
    assert cells["framing"] == "NO 2/3 (CRLF,LF)"
    nothing = Row.of("t", "x:y /", [replace(RUN, ttfe_s=None, ttfc_s=None, events_per_s=None)])
    assert dict(zip(COLUMNS, nothing.cells(), strict=True))["ttfe ms"] == "-"


def test_rows_of_one_test_stand_together_in_the_order_first_seen() -> None:
    tally = Tally()
    assert not tally
    tally.add("test_short", "app:app", "/", b"a", RUN)
    tally.add("test_burst", "app:app", "/", b"b", RUN)
    tally.add("test_short", "core:app", "/agent", b"c", RUN)
    tally.add("test_short", "app:app", "/", b"a", replace(RUN, events=12))
    assert tally
    rows = tally.rows()
    assert [(r.label, r.target, r.runs) for r in rows] == [
        ("test_short", "app:app /", 2),
        ("test_short", "core:app /agent", 1),
        ("test_burst", "app:app /", 1),
    ]
    assert rows[0].events == 11


def test_the_table_is_aligned_under_its_header() -> None:
    tally = Tally()
    tally.add("test_a", "app:app", "/", b"", RUN)
    tally.add("test_a", "a.much.longer.module:create_app", "/agent", b"", RUN)
    header, *lines = format_table(tally.rows())
    assert header.split() == " ".join(COLUMNS).split()
    assert len(lines) == 2
    # Numbers are right-aligned: each row's figures end where the header's titles end.
    for title in ("runs", "events/s"):
        end = header.index(title) + len(title)
        assert all(line[end - 1] != " " and line[end : end + 1] in (" ", "") for line in lines)
