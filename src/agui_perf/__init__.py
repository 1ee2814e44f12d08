"""agui-perf: a fast AG-UI streaming core and the performance gate that guards it.

`agui_perf.stream` is the system under test; `agui_perf.gate` measures and judges it.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
