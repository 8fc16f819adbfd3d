"""Small line charts drawn server-side as inline SVG (no chart library, nothing from a CDN): the PR curves of a
run's metrics.json and the losses of its training summaries. The page's script draws the live loss curve (while
the trainer reports progress) into a frame of the same size."""

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
    x_max: str  # what the right and top edges stand for
    y_max: str
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
    return chart("Precision-recall at IoU 0.5", ("recall", "1"), ("precision", "1"), series)


def loss_chart(curves: dict[str, list[tuple[int, float]]]) -> Chart | None:
    """The training summaries' losses against the step, scaled to the largest step and loss; None without any."""
    losses = {tag: points for tag, points in sorted(curves.items()) if tag.endswith("loss") and points}
    if not losses:
        return None
    last = max(step for points in losses.values() for step, _ in points) or 1
    top = max(value for points in losses.values() for _, value in points) or 1.0
    series = [
        Series(tag, [(step / last, value / top) for step, value in points], COLOURS[index % len(COLOURS)])
        for index, (tag, points) in enumerate(losses.items())
    ]
    return chart("Training losses (TensorBoard summaries)", ("step", str(last)), ("loss", f"{top:.3g}"), series)


def chart(title: str, x: tuple[str, str], y: tuple[str, str], series: list[Series]) -> Chart:
    """A chart of series whose x and y run over 0..1; `x` and `y` are each axis's label and what its end means."""
    lines = [(s, polyline(s.points)) for s in series]
    return Chart(title, x[0], y[0], x[1], y[1], WIDTH, HEIGHT, PAD, lines)


def polyline(points: list[tuple[float, float]]) -> str:
    """SVG points for values in 0..1 on both axes, y up."""
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    return " ".join(
        f"{PAD + _clip(x) * inner_w:.1f},{HEIGHT - PAD - _clip(y) * inner_h:.1f}" for x, y in points if y >= 0
    )


def _clip(value: float) -> float:
    return min(max(float(value), 0.0), 1.0)
