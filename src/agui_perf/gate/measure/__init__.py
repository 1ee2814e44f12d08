"""Measure: the benchmark suites of both sides in fresh interleaved processes, memory under
memray, and instruction counts under callgrind."""
