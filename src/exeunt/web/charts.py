"""Small server-rendered SVG charts for the console: no script, no library, nothing from elsewhere.

Each function returns the geometry (in SVG user units) a template draws; colours come from the
style sheet by class, so the page's Content-Security-Policy needs no inline styles."""

from __future__ import annotations

from dataclasses import dataclass

from exeunt.operations.delivery_health import Hour

WIDTH, HEIGHT, GAP = 240, 48, 4


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # delivered, failed, waiting: a CSS class


@dataclass(frozen=True)
class Line:
    points: str  # "x,y x,y …" of the hours that delivered something
    dots: list[tuple[float, float]]
    top_seconds: float  # what the top of the chart stands for


def _slot(count: int) -> float:
    return (WIDTH - GAP * (count - 1)) / count


def hourly_bars(hours: list[Hour]) -> list[Bar]:
    """Stacked bars, one per hour: delivered (bottom), failed, waiting; the tallest hour fills the height."""
    tallest = max((h.delivered + h.failed + h.waiting for h in hours), default=0)
    if not hours or tallest == 0:
        return []
    width = _slot(len(hours))
    bars = []
    for i, hour in enumerate(hours):
        x, bottom = i * (width + GAP), float(HEIGHT)
        for kind, count in (("delivered", hour.delivered), ("failed", hour.failed), ("waiting", hour.waiting)):
            if count:
                height = HEIGHT * count / tallest
                bottom -= height
                bars.append(Bar(round(x, 1), round(bottom, 1), round(width, 1), round(height, 1), kind))
    return bars


def latency_line(hours: list[Hour]) -> Line | None:
    """The median time to deliver, hour by hour (hours without deliveries leave a gap in the dots)."""
    known = [(i, h.median_seconds) for i, h in enumerate(hours) if h.median_seconds is not None]
    if not known:
        return None
    top = max(seconds for _, seconds in known) or 1.0
    width = _slot(len(hours))
    dots = [(round(i * (width + GAP) + width / 2, 1), round(HEIGHT - 2 - (HEIGHT - 4) * s / top, 1)) for i, s in known]
    return Line(" ".join(f"{x},{y}" for x, y in dots), dots, top)
