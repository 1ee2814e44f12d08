"""`python -m agui_perf` is the same as the `agui-perf` console script."""

from agui_perf.cli import main

raise SystemExit(main())
