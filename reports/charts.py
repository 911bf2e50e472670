"""Horizontal bar charts as self-contained SVG: no plotting library, no fonts to install."""

from __future__ import annotations

from html import escape

BAR_HEIGHT, GAP, LABEL_WIDTH, BAR_WIDTH, VALUE_WIDTH = 22, 8, 220, 360, 110
COLOURS = ("#2f6f9f", "#d98c2b", "#4c9a5b", "#a34b5c")


def bar_chart(title: str, bars: list[tuple[str, float]], *, unit: str = "") -> str:
    """One bar per (label, value); the longest bar spans the width. Values are shown at each bar's end."""
    top = 40
    height = top + max(len(bars), 1) * (BAR_HEIGHT + GAP) + GAP
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    largest = max((value for _, value in bars), default=0) or 1
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
         f'font-family="sans-serif" font-size="13">'),
        f'<title>{escape(title)}</title>',
        f'<text x="8" y="24" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    if not bars:
        parts.append(f'<text x="8" y="{top + 16}" fill="#666">nothing in this period</text>')
    for index, (label, value) in enumerate(bars):
        y = top + index * (BAR_HEIGHT + GAP)
        length = max(round(BAR_WIDTH * value / largest), 1 if value else 0)
        shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
        parts += [
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">{escape(label)}</text>',
            (f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length}" height="{BAR_HEIGHT}" '
             f'fill="{COLOURS[index % len(COLOURS)]}"><title>{escape(label)}: {shown}{escape(unit)}</title></rect>'),
            f'<text x="{LABEL_WIDTH + length + 6}" y="{y + 16}">{shown}{escape(unit)}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
