"""The report's chart: revenue and cost bars with the margin line per window, as a PNG."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from analytics.reports.content import SeriesPoint

REVENUE_COLOUR = "#2f6fdf"
COST_COLOUR = "#e0803a"
MARGIN_COLOUR = "#1f9d55"
WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.2, 3.0, 100


def window_label(point: SeriesPoint, window_size: str, zone: ZoneInfo) -> str:
    local = point.timestamp.astimezone(zone)
    return f"{local:%H}h" if window_size == "HOUR" else f"{local:%a} {local.day}"


def margin_chart_png(
    series: Sequence[SeriesPoint], *, window_size: str, time_zone: str, currency: str
) -> bytes:
    """A 720 by 300 pixel PNG. Amounts become floats here only to be drawn: every number a
    person reads as text comes from the Decimal values."""
    # Imported here, not at the top: the admin imports this module, and loading matplotlib
    # would cost every process (web, worker, beat, commands) over a second at start-up.
    # The object-oriented API with the Agg canvas: no pyplot global state, no GUI, safe in a worker.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    zone = ZoneInfo(time_zone)
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(series)))
    width = 0.4
    axes.bar(
        [x - width / 2 for x in positions],
        [float(point.revenue) for point in series],
        width,
        label="Revenue",
        color=REVENUE_COLOUR,
    )
    axes.bar(
        [x + width / 2 for x in positions],
        [float(point.cost) for point in series],
        width,
        label="Cost",
        color=COST_COLOUR,
    )
    axes.plot(
        positions,
        [float(point.margin) for point in series],
        label="Margin",
        color=MARGIN_COLOUR,
        marker="o",
        markersize=3,
        linewidth=2,
    )
    axes.axhline(0, color="#999999", linewidth=0.8)
    labels = [window_label(point, window_size, zone) for point in series]
    # At most ~12 labels, so 24 hours or 31 days stay readable.
    step = max(1, math.ceil(len(labels) / 12))
    axes.set_xticks(positions[::step], labels[::step], fontsize=8)
    axes.tick_params(axis="y", labelsize=8)
    axes.set_ylabel(currency.upper() or "amount", fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="upper left", fontsize=8, frameon=False, ncols=3)
    figure.tight_layout()
    output = io.BytesIO()
    figure.savefig(output, format="png")
    return output.getvalue()
