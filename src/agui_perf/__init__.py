"""agui-perf: a fast AG-UI streaming core (`agui_perf.stream`) and the gate that guards it (`agui_perf.gate`)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
