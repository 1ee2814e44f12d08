"""The Locust load test: `agui-perf load --target …` (and `nox -s load`).

`cli` parses the options, `session` starts the target and Locust and stops them, `locustfile`
is what Locust runs (its users read each run with `client`, on the service suite's frame
parser and ordering verifier), and `verdict` judges Locust's CSV against the load budgets and
reports goodput. Locust and pygal come with the `load` extra (`pip install 'agui-perf[load]'`).

Importing this package imports nothing: a Locust worker imports `locustfile` and `client`
only, never the gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["LOCUSTFILE"]

#: The file Locust is given (`locust -f`): it is imported by path, not as a module.
LOCUSTFILE: Final = str(Path(__file__).resolve().with_name("locustfile.py"))
