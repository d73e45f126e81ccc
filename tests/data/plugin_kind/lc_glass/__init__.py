"""A third-party line kind for tests: float-glass panes, located in millimetres, graded by bubble count.

It lives outside linecheck and reaches it only through the ``linecheck.kinds`` entry point declared in
``lc_glass-0.1.dist-info/entry_points.txt`` (as ``pip install`` of a real plug-in would write it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from linecheck.kinds import FrameView, Grade, KindLocation, KindOptions, KindSpec, LocatedDefect


class GlassOptions(KindOptions):
    """Pane size seen by the camera and the acceptance rule."""

    pane_width_mm: float = Field(1000.0, gt=0)
    pane_height_mm: float = Field(600.0, gt=0)
    max_bubbles: int = Field(1, ge=0)


class GlassLocation(KindLocation):
    """Where on the pane, in millimetres from its top-left corner."""

    x_mm: float = Field(ge=0, allow_inf_nan=False)
    y_mm: float = Field(ge=0, allow_inf_nan=False)


class GlassSpec(KindSpec[GlassOptions]):
    """Float-glass panes; a frame is one pane."""

    name = "glass"
    title = "Glass (panes)"
    classes = ("bubble", "scratch", "chip")
    code_prefix = "GL"
    code_digits = 8
    options_model = GlassOptions
    location_model = GlassLocation

    def locate(self, box: Sequence[float], view: FrameView, options: GlassOptions) -> dict[str, Any]:
        x = (float(box[0]) + float(box[2])) / 2 / view.width * options.pane_width_mm
        y = (float(box[1]) + float(box[3])) / 2 / view.height * options.pane_height_mm
        return {"x_mm": round(x, 1), "y_mm": round(y, 1)}

    def check_location(self, location: KindLocation, options: GlassOptions) -> list[tuple[str, Any, str]]:
        assert isinstance(location, GlassLocation)
        if location.x_mm > options.pane_width_mm:
            return [("x_mm", location.x_mm, f"expected <= pane_width_mm={options.pane_width_mm:g}")]
        return []

    def grade(
        self, defects: Sequence[LocatedDefect], options: GlassOptions, *, inspected_m: float | None = None
    ) -> Grade:
        bubbles = sum(d.class_name == "bubble" for d in defects)
        chips = sum(d.class_name == "chip" for d in defects)
        label = "cullet" if chips else ("second" if bubbles > options.max_bubbles else "first")
        notes = tuple(f"{d.class_name} at {d.location}" for d in defects if d.class_name != "scratch")
        return Grade(
            label=label,
            accepted=label == "first",
            head=f"pane {label}",
            notes=notes,
            detail={"bubbles": bubbles, "chips": chips, "max_bubbles": options.max_bubbles},
            facts=(("bubbles", f"{bubbles} (limit {options.max_bubbles})"),),
        )


SPEC = GlassSpec()
