"""Charts drawn on the server as inline SVG: readable without JavaScript, and without any
asset from outside (the registry may run on a closed network).

A chart is an image with a text alternative: ``role="img"`` named by its ``<title>`` and
described by its ``<desc>`` (every figure in words); the page shows the same figures as a
table next to it. Colours are dark enough for 3:1 against white (WCAG 1.4.11, graphics) and
the text is near black (4.5:1), and each series also differs in its legend.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

#: Series colours, each ≥ 3:1 against white and against its neighbours' white separators.
PALETTE = ("#0b3d91", "#1f77b4", "#6a3d9a", "#a6480a", "#1b7837", "#8c2d04")
TEXT = "#1a1a1a"
#: Geometry in SVG user units (the SVG scales to the width of the page).
LABEL_WIDTH = 190
BAR_AREA = 420
VALUE_WIDTH = 50
ROW_HEIGHT = 28
BAR_HEIGHT = 18
LEGEND_HEIGHT = 34


@dataclass(frozen=True)
class Bar:
    """One bar: its label and one value per series (stacked left to right)."""

    label: str
    values: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.values)


def describe(bars: list[Bar], series: list[str], unit: str) -> str:
    """The figures of the chart in words (its text alternative)."""
    parts = []
    for bar in bars:
        detail = "，".join(
            f"{name}{value}{unit}" for name, value in zip(series, bar.values, strict=True) if value
        )
        parts.append(f"{bar.label}：共{bar.total}{unit}" + (f"（{detail}）" if detail else ""))
    return "；".join(parts) + "。" if parts else "没有数据。"


def stacked_bars(
    bars: list[Bar], series: list[str], *, title: str, chart_id: str, unit: str = "个"
) -> Markup:
    """A horizontal stacked bar chart of ``bars`` (one segment per series), as inline SVG
    with a legend, the total at the end of each bar and ``title``/``<desc>`` for readers
    that do not see it."""
    largest = max((bar.total for bar in bars), default=0) or 1
    width = LABEL_WIDTH + BAR_AREA + VALUE_WIDTH
    height = LEGEND_HEIGHT + ROW_HEIGHT * max(len(bars), 1) + 6
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="{escape(title_id)} {escape(desc_id)}" '
        f'font-family="sans-serif" font-size="13">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(describe(bars, series, unit))}</desc>',
    ]
    x = LABEL_WIDTH
    for index, name in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        out.append(
            f'<rect x="{x}" y="8" width="14" height="14" fill="{colour}"/>'
            f'<text x="{x + 18}" y="20" fill="{TEXT}">{escape(name)}</text>'
        )
        x += 24 + 14 * len(name) + 12
    for row, bar in enumerate(bars):
        y = LEGEND_HEIGHT + row * ROW_HEIGHT
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 14}" text-anchor="end" fill="{TEXT}">'
            f"{escape(bar.label)}</text>"
        )
        x = float(LABEL_WIDTH)
        for index, value in enumerate(bar.values):
            if not value:
                continue
            length = BAR_AREA * value / largest
            colour = PALETTE[index % len(PALETTE)]
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
                f'fill="{colour}" stroke="#ffffff" stroke-width="1">'
                f"<title>{escape(bar.label)} {escape(series[index])}：{value}{escape(unit)}"
                "</title></rect>"
            )
            x += length
        out.append(f'<text x="{x + 6:.1f}" y="{y + 14}" fill="{TEXT}">{bar.total}</text>')
    out.append("</svg>")
    return Markup("".join(out))
