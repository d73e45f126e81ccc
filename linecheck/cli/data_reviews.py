"""`linecheck data from-reviews`: reviewed defects -> a YOLO dataset to retrain on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from linecheck.cli.common import console, errors_exit
from linecheck.errors import InvalidFieldError

if TYPE_CHECKING:
    from linecheck.datasets.from_reviews import ReviewExportReport


class Pending(StrEnum):
    """What to do with a frame that still has unreviewed defects."""

    SKIP = "skip"
    KEEP = "keep"


def parse_when(text: str | None, *, option: str) -> datetime | None:
    """``YYYY-MM-DD`` (UTC midnight) or an ISO datetime with its UTC offset; None stays None."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidFieldError(option, text, "expected YYYY-MM-DD or an ISO datetime") from None
    if value.tzinfo is None:
        raise InvalidFieldError(option, text, "expected a UTC offset, e.g. 2026-11-23T06:00:00+01:00")
    return value


def _print(report: ReviewExportReport) -> None:
    splits = ", ".join(f"{k} {v}" for k, v in report.splits.items()) or "none (unsplit)"
    console.print(
        f"wrote {report.data_yaml}: {report.images} images ({report.backgrounds} background), "
        f"splits: {splits}; kind {report.kind}, lines {', '.join(report.lines)}"
    )
    decisions = ", ".join(f"{k} {v}" for k, v in report.decisions.items())
    console.print(f"defects by decision: {decisions} (rejected ones are removed)")
    if report.audited_ok or report.escapes:
        near = f"; {report.near_misses} of them near misses" if report.near_misses else ""
        console.print(
            f"pass audits: {report.audited_ok} ok frame(s) as background, "
            f"{report.escapes} escape(s) labelled with the defects drawn on them{near}"
        )
    table = Table(title="boxes per class")
    table.add_column("id", justify="right")
    table.add_column("class")
    table.add_column("boxes", justify="right")
    for i, name in enumerate(report.names):
        table.add_row(str(i), name, str(report.boxes_per_class.get(name, 0)))
    console.print(table)
    if report.skipped:
        console.print(f"[yellow]skipped {len(report.skipped)} frame(s):[/yellow]")
        for item in report.skipped[:20]:
            console.print(f"  {item.inspection_id}: {item.reason}")
        if len(report.skipped) > 20:
            console.print(f"  ... and {len(report.skipped) - 20} more")
    console.print(f"retrain from {report.data_yaml}")


def register(app: typer.Typer) -> None:
    """Add ``from-reviews`` to the ``data`` command group."""

    @app.command("from-reviews")
    def from_reviews(
        out: Path = typer.Argument(..., help="New dataset folder (must be absent or empty)."),
        line: list[str] = typer.Option(..., "--line", help="Line id (repeat for several lines of one kind)."),
        api: str | None = typer.Option(None, "--api", help="Read through the API at this URL."),
        key: str | None = typer.Option(
            None, "--key", help="API key for --api (any role may read) [default: LINECHECK_REVIEWS_API_KEY]."
        ),
        database_url: str | None = typer.Option(
            None, "--database-url", help="Read the store directly (SQLAlchemy URL) instead of --api."
        ),
        images_dir: Path | None = typer.Option(
            None, "--images-dir", help="Image store folder for --database-url (default: the API's)."
        ),
        since: str | None = typer.Option(None, "--since", help="Frames captured from (date or ISO time)."),
        until: str | None = typer.Option(None, "--until", help="Frames captured before (date or ISO time)."),
        val: float = typer.Option(0.2, "--val", help="Fraction of units for validation (0: unsplit)."),
        seed: int = typer.Option(0, "--seed", help="Split seed; the same seed gives the same split."),
        pending: Pending = typer.Option(
            Pending.SKIP, "--pending", help="Frames with unreviewed defects: skip, or keep the model's boxes."
        ),
    ) -> None:
        """Export confirmed and corrected labels as a YOLO dataset (rejected defects removed).

        Reclassified defects take the reviewer's class; frames whose defects were all rejected
        become background images. Audited frames kept for audit (pass-audit samples and near
        misses) join too: ok ones as background images, escapes with the defects drawn on them.
        Every frame of a unit lands in the same split.
        """
        from linecheck.datasets.from_reviews import ReviewSource, export_reviews
        from linecheck.datasets.review_sources import ApiReviewSource, StoreReviewSource

        with errors_exit():
            if (api is None) == (database_url is None):
                raise InvalidFieldError("--api/--database-url", api or database_url, "give exactly one")
            window = (parse_when(since, option="--since"), parse_when(until, option="--until"))
            source: ApiReviewSource | StoreReviewSource
            if api is not None:
                from linecheck.datasets.review_settings import ReviewExportSettings
                from linecheck.settings_env import read_settings

                source = ApiReviewSource(api, key or read_settings(ReviewExportSettings).api_key)
            else:
                assert database_url is not None
                if images_dir is None:
                    from linecheck.serving.api.settings import get_api_settings

                    images_dir = get_api_settings().resolved_images_dir()
                source = StoreReviewSource(database_url, images_dir)
            with source:
                typed: ReviewSource = source
                report = export_reviews(
                    typed,
                    out,
                    line_ids=line,
                    since=window[0],
                    until=window[1],
                    val=val,
                    seed=seed,
                    pending=pending.value,
                )
        _print(report)
