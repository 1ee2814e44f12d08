"""agui-perf's `pytest11` entry point: loads `agui_perf.suite.plugin` if this agui_perf has it.

The entry point is read from the installed distribution, but `agui_perf` is imported from
whatever comes first on sys.path. The gate measures an accepted commit by putting that
commit's `src/` first; a commit from before the suite existed has no `agui_perf.suite`,
and an entry point naming `agui_perf.suite.plugin` directly would then stop every pytest run
there with "Error while loading plugin". This module is installed outside the `agui_perf`
package (and kept out of src/, which holds the code the gate measures), so it is always
found, and it asks pytest for the suite's plugin only where it exists.

`-p no:agui_perf` turns the suite off.
"""

from __future__ import annotations

import importlib.util
from typing import Final

__all__ = ["pytest_plugins"]

_PLUGIN: Final = "agui_perf.suite.plugin"


def _available() -> bool:
    try:
        return importlib.util.find_spec(_PLUGIN) is not None
    except ModuleNotFoundError:  # no agui_perf.suite package at all
        return False


#: pytest imports and registers these plugins once this module is registered.
pytest_plugins: Final = [_PLUGIN] if _available() else []
