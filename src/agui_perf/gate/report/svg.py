"""pygal made self-contained and deterministic: what every chart of the reports shares.

pygal's defaults would make a report neither self-contained nor reproducible, so every chart:
- sets `js=[]`: the default loads pygal-tooltips.min.js from kozea.github.io; the inline config
  script pygal still writes is removed too (a report runs no script). Each value carries a
  `tooltip` (an SVG `<title>`), which browsers show natively without any script;
- uses a fixed chart id instead of pygal's random `uuid4()` (the id prefixes the chart's CSS so
  that several charts inlined in one HTML page keep their own colours);
- drops pygal's comments, which hold today's date and links to pygal.org;
- uses system font stacks only (no Google Fonts stylesheet).
Chart text is XML-escaped by the serializer, so names from data cannot inject markup.

This module imports nothing of the gate's statistics, so that the load test's report can draw
its chart without them.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "config",
    "point",
    "pygal_module",
    "render",
    "style",
]

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
_SVG_NS = "http://www.w3.org/2000/svg"


def pygal_module() -> Any:
    """Import pygal, and undo the one global side effect of importing it.

    pygal appends a legacy finder to sys.meta_path (for its map plugins, unused here) that has
    find_module but no find_spec: from then on every failed import in the process emits an
    ImportWarning, an error under `-W error` wherever a library probes for an optional module
    (numpy does on import). Imported lazily, so that importing this module changes nothing.
    """
    import pygal

    sys.meta_path[:] = [
        finder for finder in sys.meta_path if type(finder).__module__.split(".")[0] != "pygal"
    ]
    return pygal


def style(colours: Sequence[str]) -> Any:
    return pygal_module().style.Style(
        background="white",
        plot_background="white",
        foreground="#1f2328",
        foreground_strong="#1f2328",
        foreground_subtle="#d0d7de",
        opacity="0.9",
        opacity_hover="1",
        transition="0ms",
        colors=tuple(colours),
        font_family=FONT,
        label_font_size=13,
        major_label_font_size=13,
        value_font_size=12,
        tooltip_font_size=12,
        title_font_size=16,
        legend_font_size=13,
        # Light, solid guides: dashed lines are the thresholds and budgets.
        guide_stroke_color="#eaeef2",
        major_guide_stroke_color="#d0d7de",
        guide_stroke_dasharray="0",
        major_guide_stroke_dasharray="0",
    )


def clean(root: Any) -> Any:
    """pygal xml filter: drop comments (date, URLs) and every <script> (nothing runs)."""
    for parent in list(root.iter()):
        for child in list(parent):
            # Comments and processing instructions have a factory function as their tag, in
            # xml.etree and in lxml alike (pygal uses lxml when it is installed).
            if not isinstance(child.tag, str) or child.tag in ("script", f"{{{_SVG_NS}}}script"):
                parent.remove(child)
    return root


def config(chart_id: str, title: str, colours: Sequence[str], **options: Any) -> dict[str, Any]:
    return {
        "title": title,
        "style": style(colours),
        "js": [],
        "disable_xml_declaration": True,  # the SVG is inlined in report.html as-is
        "truncate_label": -1,  # a cut benchmark name is a different benchmark
        "truncate_legend": -1,
        "legend_at_bottom": True,
        "margin": 16,
        "_id": chart_id,
        **options,
    }


def render(kind: Callable[..., Any], config: dict[str, Any], add: Callable[[Any], None]) -> str:
    chart_id = config.pop("_id")
    chart = kind(**config)
    # pygal draws a random uuid4 per chart; a fixed id makes the output reproducible.
    chart.uuid = chart_id
    chart.add_xml_filter(clean)
    add(chart)
    _room_for_the_last_legend_line(chart)
    svg = chart.render(is_unicode=True)
    if not isinstance(svg, str):  # pragma: no cover - is_unicode/disable_xml_declaration
        svg = svg.decode("utf-8")
    return str(svg)


def _room_for_the_last_legend_line(chart: Any) -> None:
    """Reserve the legend line pygal forgets.

    pygal sizes a bottom legend as `entries // columns` lines, rounded down: 4 entries in 3
    columns get one line, and the second is drawn below the chart's edge, cut off (seen in
    the report's change chart). The missing line is added to the bottom margin.
    """
    settings = chart.config
    columns = settings.legend_at_bottom_columns
    entries = len(chart.raw_series)
    if not (settings.legend_at_bottom and settings.show_legend and columns and entries):
        return
    missing = math.ceil(entries / columns) - entries // columns
    line = 1.5 * max(settings.style.legend_font_size, settings.legend_box_size)
    settings.margin_bottom = (settings.margin_bottom or settings.margin) + missing * line


def point(x: float, y: float, tooltip: str, radius: float) -> dict[str, Any]:
    return {"value": (x, y), "tooltip": tooltip, "node": {"r": radius}}
