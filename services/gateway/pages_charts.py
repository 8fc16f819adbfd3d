"""Small line charts drawn server-side as inline SVG (no chart library, nothing from a CDN): the PR curves of a
run's metrics.json. The page's script draws the live loss curve into the same frame (`frame`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, PAD = 420, 260, 36
COLOURS = ("#d62728", "#1f77b4", "#e6a700", "#2ca02c", "#c040c0", "#ff7f0e", "#17becf")


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float]]  # (x, y) in data units, x and y in 0..1 after scaling
    colour: str


@dataclass(frozen=True)
class Chart:
    """What the template draws: axes, polylines in view-box units, a legend."""

    title: str
    x_label: str
    y_label: str
    width: int
    height: int
    pad: int
    lines: list[tuple[Series, str]]  # each series with its SVG `points` attribute


def pr_chart(metrics: dict[str, Any]) -> Chart | None:
    """Precision against recall at IoU 0.5 per class, from metrics.json's `pr_iou50`; None when not evaluated."""
    curves = metrics.get("pr_iou50") or {}
    recall = curves.get("recall") or []
    precision = curves.get("precision") or {}
    if not recall or not precision:
        return None
    series = [
        Series(name, list(zip(recall, values, strict=False)), COLOURS[index % len(COLOURS)])
        for index, (name, values) in enumerate(sorted(precision.items()))
    ]
    return chart("Precision-recall at IoU 0.5", "recall", "precision", series)


def chart(title: str, x_label: str, y_label: str, series: list[Series]) -> Chart:
    """A chart of series whose x and y run over 0..1."""
    return Chart(title, x_label, y_label, WIDTH, HEIGHT, PAD, [(s, polyline(s.points)) for s in series])


def polyline(points: list[tuple[float, float]]) -> str:
    """SVG points for values in 0..1 on both axes, y up."""
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    return " ".join(
        f"{PAD + _clip(x) * inner_w:.1f},{HEIGHT - PAD - _clip(y) * inner_h:.1f}" for x, y in points if y >= 0
    )


def _clip(value: float) -> float:
    return min(max(float(value), 0.0), 1.0)
