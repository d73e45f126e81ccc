"""`linecheck data ...`: dataset checks, statistics, conversion, synthetic line data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from linecheck.cli import data_reviews, data_synth
from linecheck.cli.common import FormatOption, OutputFormat, console, err_console, errors_exit
from linecheck.datasets.convert import SourceFormat
from linecheck.errors import InvalidFieldError

if TYPE_CHECKING:
    from linecheck.datasets.convert.report import ConversionReport
    from linecheck.datasets.issues import DatasetIssue

app = typer.Typer(help="Datasets: synthesize, check, stats, convert, split, depth.", no_args_is_help=True)
data_synth.register(app)  # data synth
data_reviews.register(app)  # data from-reviews


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items())


def _issue_table(issues: list[DatasetIssue], limit: int) -> Table:
    table = Table(title=f"{len(issues)} issue(s)")
    for column in ("severity", "code", "where", "problem"):
        table.add_column(column, overflow="fold")
    for issue in issues[:limit]:
        colour = "red" if issue.severity == "error" else "yellow"
        table.add_row(f"[{colour}]{issue.severity}[/{colour}]", issue.code, issue.location, issue.message)
    return table


@app.command("check")
def check(
    directory: Path = typer.Argument(..., help="Dataset folder (or its data.yaml)."),
    images: bool = typer.Option(
        True, "--images/--no-images", help="Decode every image (finds corrupt ones)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
    limit: int = typer.Option(200, "--limit", min=1, help="Table: show at most this many issues."),
    fmt: FormatOption = OutputFormat.AUTO,
) -> None:
    """Validate a YOLO or classification dataset; print every problem; exit 1 when there are errors.

    A folder of class folders (``train/<class>/``, or ``<class>/``, no data.yaml) is checked as the
    image-level layout ``train --task classify`` reads. plain prints one ``path:line: code: message``
    line per problem (every one, whatever --limit), json a list of objects; the summary goes to
    stderr with those two formats.
    """
    from linecheck.datasets.classify_layout import is_classification_layout, validate_classification
    from linecheck.datasets.yolo import load_yolo, validate_yolo

    classification = is_classification_layout(directory)
    if classification:
        issues, layout = validate_classification(directory, check_images=images)
    else:
        issues = validate_yolo(directory, check_images=images)
    shown = fmt.resolved()
    summary = console if shown is OutputFormat.TABLE else err_console
    if shown is OutputFormat.JSON:
        typer.echo(json.dumps([issue.to_dict() for issue in issues], indent=2))
    elif shown is OutputFormat.PLAIN:
        for issue in issues:
            typer.echo(issue.to_line())
    elif issues:
        console.print(_issue_table(list(issues), limit))
        if len(issues) > limit:
            console.print(f"... and {len(issues) - limit} more")
    errors, warnings = len(issues.errors), len(issues.warnings)
    if errors or (strict and warnings):
        err_console.print(f"[red]{directory}: {errors} error(s), {warnings} warning(s)[/red]")
        raise typer.Exit(code=1)
    if classification:
        splits = _pairs({name: sum(per.values()) for name, per in layout.images.items()})
        good = f"good class {layout.good_class!r}" if layout.good_class else "no good class found"
        summary.print(
            f"[green]ok[/green] {directory}: {layout.total} images ({splits}), "
            f"{len(layout.classes)} classes, {good} (classification layout), {warnings} warning(s)"
        )
        return
    dataset = load_yolo(directory)
    splits = _pairs({name: len(samples) for name, samples in dataset.splits.items()})
    summary.print(
        f"[green]ok[/green] {directory}: {len(dataset)} images ({splits}), {dataset.nc} classes, "
        f"{warnings} warning(s)"
    )


@app.command("stats")
def stats(
    directory: Path = typer.Argument(..., help="Dataset folder (or its data.yaml)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the statistics as JSON here."),
) -> None:
    """Images and boxes per class and split, background images, box-size histogram."""
    from linecheck.datasets.stats import dataset_stats
    from linecheck.datasets.yolo import load_yolo

    with errors_exit():
        result = dataset_stats(load_yolo(directory))
    console.print(
        f"{result.images} images ({_pairs(result.images_per_split)}), {result.boxes} boxes, "
        f"{result.backgrounds} background images ({result.missing_labels} without a label file)"
    )
    table = Table(title="per class")
    splits = list(result.boxes_per_split)
    for column in ("id", "class", "images", "boxes", *(f"boxes {s}" for s in splits)):
        table.add_column(column, justify="left" if column == "class" else "right")
    for i, name in enumerate(result.names):
        counts = [result.images_per_class[name], result.boxes_per_class[name]]
        counts += [result.boxes_per_split[s][name] for s in splits]
        table.add_row(str(i), name, *(str(n) for n in counts))
    console.print(table)
    histogram = Table(title="box area (fraction of the image)")
    for label in result.box_area_histogram:
        histogram.add_column(label, justify="right")
    histogram.add_row(*(str(n) for n in result.box_area_histogram.values()))
    console.print(histogram)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {json_path}")


@app.command("split")
def split(
    directory: Path = typer.Argument(..., help="Dataset folder in the standard layout."),
    val: float = typer.Option(0.2, "--val", help="Fraction of images for validation (0 < val < 1)."),
    test: float = typer.Option(0.1, "--test", help="Fraction of images for test (0 for none)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives the same split."),
) -> None:
    """Split into images/<split> + labels/<split> deterministically and rewrite data.yaml."""
    from linecheck.datasets.split import split_dataset

    with errors_exit():
        result = split_dataset(directory, val=val, test=test, seed=seed)
    console.print(
        f"split {directory}: {_pairs(result.counts)} ({result.moved} image(s) moved); "
        f"wrote {result.yaml_file}"
    )


@dataclass(frozen=True, kw_only=True)
class _ConvertOptions:
    """The format-specific options of ``data convert``."""

    classes: list[str] | None
    images_dir: Path | None
    class_name: str
    value_map: str | None
    min_area: int
    mask_threshold: int
    threshold: float
    group_by_type: bool
    val: float | None
    test: float | None
    seed: int
    encoding: str | None = None
    rename: str | None = None


def _run_conversion(fmt: SourceFormat, src: Path, dst: Path, options: _ConvertOptions) -> ConversionReport:
    """Call the converter of ``fmt`` (imported here, so OpenCV loads only when converting)."""
    from linecheck.datasets.convert.detection import SplitOptions, parse_rename

    rename = parse_rename(options.rename) if options.rename else None
    if rename and fmt is SourceFormat.MASK:
        raise InvalidFieldError("rename", options.rename, "mask sources name their classes with --value-map")

    split_options: SplitOptions | None = None
    if options.val is not None or options.test is not None or fmt is SourceFormat.CSV:
        split_options = SplitOptions(
            val=0.2 if options.val is None else options.val,
            test=0.1 if options.test is None else options.test,
            seed=options.seed,
        )
    if fmt is SourceFormat.VOC:
        from linecheck.datasets.convert.voc import convert_voc

        return convert_voc(
            src, dst, classes=options.classes, split=split_options, encoding=options.encoding, rename=rename
        )
    if fmt is SourceFormat.COCO:
        from linecheck.datasets.convert.coco import convert_coco

        return convert_coco(
            src,
            dst,
            images_dir=options.images_dir,
            split=split_options,
            encoding=options.encoding,
            rename=rename,
        )
    if fmt is SourceFormat.LABELME:
        from linecheck.datasets.convert.labelme import convert_labelme

        return convert_labelme(
            src, dst, classes=options.classes, split=split_options, encoding=options.encoding, rename=rename
        )
    if fmt is SourceFormat.MASK:
        from linecheck.datasets.convert.mask import convert_mask, parse_value_map

        return convert_mask(
            src,
            dst,
            class_name=options.class_name,
            value_map=parse_value_map(options.value_map) if options.value_map else None,
            threshold=options.mask_threshold,
            min_area=options.min_area,
            split=split_options,
        )
    from linecheck.datasets.convert.csv import convert_csv

    return convert_csv(
        src,
        dst,
        threshold=options.threshold,
        group_by_type=options.group_by_type,
        split=split_options,
        encoding=options.encoding,
        rename=rename,
    )


def _print_report(report: ConversionReport, limit: int) -> None:
    unit = "boxes" if report.task == "detect" else "images"
    boxes = (
        f"{report.boxes} boxes, {report.backgrounds} background images, " if report.task == "detect" else ""
    )
    console.print(
        f"wrote {report.dst} ({report.task}): {report.images} images, {boxes}{len(report.names)} classes"
    )
    table = Table(title=f"{unit} per class")
    table.add_column("id", justify="right")
    table.add_column("class")
    table.add_column(unit, justify="right")
    for i, name in enumerate(report.names):
        table.add_row(str(i), name, str(report.per_class.get(name, 0)))
    console.print(table)
    if report.splits:
        console.print(f"splits: {_pairs(report.splits)}")
    for title, items in (("skipped", report.skipped), ("notes", report.notes)):
        if items:
            console.print(f"[yellow]{title}: {len(items)}[/yellow]")
            for item in items[:limit]:
                console.print(f"  {item.path}: {item.reason}")
            if len(items) > limit:
                console.print(f"  ... and {len(items) - limit} more")


def _parse_classes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise typer.BadParameter(f"{text!r}: expected comma-separated class names", param_hint="--classes")
    return names


@app.command("convert")
def convert(
    src: Path = typer.Argument(..., help="Source dataset (folder, or the .json / .csv file)."),
    dst: Path = typer.Argument(..., help="New dataset folder (must be absent or empty)."),
    source_format: SourceFormat = typer.Option(..., "--from", help="Source format."),
    classes: str | None = typer.Option(
        None, "--classes", help="voc/labelme: class names in id order, 'a,b,c'."
    ),
    images_dir: Path | None = typer.Option(None, "--images", help="coco: folder of the image files."),
    class_name: str = typer.Option("defect", "--class-name", help="mask: class of the defect pixels."),
    value_map: str | None = typer.Option(
        None, "--value-map", help="mask: values to classes, '1=hole,2=stain'."
    ),
    min_area: int = typer.Option(4, "--min-area", help="mask: smallest component kept, in pixels."),
    mask_threshold: int = typer.Option(0, "--mask-threshold", help="mask: pixels above this are defect."),
    threshold: float = typer.Option(0.5, "--threshold", help="csv: probability from which 'defective'."),
    group_by_type: bool = typer.Option(False, "--group-by-type", help="csv: prefix classes with the type."),
    val: float | None = typer.Option(None, "--val", help="Split: validation fraction (csv default 0.2)."),
    test: float | None = typer.Option(None, "--test", help="Split: test fraction (csv default 0.1)."),
    seed: int = typer.Option(0, "--seed", help="Split seed."),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        help="voc/coco/labelme/csv: the label files' encoding (default: declared, else UTF-8, else GB18030).",
    ),
    rename: str | None = typer.Option(
        None,
        "--rename",
        help="Source class names to the line's, '划痕=scratch,scratches=scratch' (alike names merge).",
    ),
    limit: int = typer.Option(20, "--limit", min=1, help="Print at most this many skipped items."),
) -> None:
    """Convert a VOC / COCO / labelme / mask / CSV dataset into YOLO format (detection; csv: classification).

    Detection datasets are written unsplit unless --val or --test is given. Label files that are
    not UTF-8 are read as GB18030 (GBK, GB2312: Excel and annotation tools on Chinese Windows), and
    the report says so; --encoding names another encoding.
    """
    options = _ConvertOptions(
        classes=_parse_classes(classes),
        images_dir=images_dir,
        class_name=class_name,
        value_map=value_map,
        min_area=min_area,
        mask_threshold=mask_threshold,
        threshold=threshold,
        group_by_type=group_by_type,
        val=val,
        test=test,
        seed=seed,
        encoding=encoding,
        rename=rename,
    )
    with errors_exit():
        report = _run_conversion(source_format, src, dst, options)
    _print_report(report, limit)


@app.command("depth")
def depth(
    src: Path = typer.Argument(..., help="Folder of 16-bit images (a set in any layout, labels and all)."),
    dst: Path | None = typer.Argument(
        None, help="New folder for the 8-bit copy (absent or empty); without it, only say how deep SRC is."
    ),
    bit_depth: int | None = typer.Option(
        None, "--bit-depth", min=8, max=16, help="Bits the camera took them with: 10, 12, 14 or 16."
    ),
    limit: int = typer.Option(20, "--limit", min=1, help="Print at most this many clipped or skipped files."),
) -> None:
    """Copy SRC to DST with every 16-bit image made 8-bit from --bit-depth bits (names and labels kept).

    Without DST, say how deep SRC's images are and which --bit-depth holds them. Give the line's
    camera the same ``bit_depth`` so the inspector reads its frames the same way.
    """
    from linecheck.datasets.depth import eight_bit_copy, survey_depth

    if dst is None:
        with errors_exit():
            survey = survey_depth(src)
        bits = ", ".join(f"{n} use {b} bits" for b, n in sorted(survey.sixteen_bit.items(), reverse=True))
        console.print(
            f"{src}: {survey.eight_bit} 8-bit image(s), {sum(survey.sixteen_bit.values())} 16-bit"
            + (f" ({bits})" if bits else "")
            + (f", {len(survey.unreadable)} unreadable" if survey.unreadable else "")
        )
        for path, kind in survey.other[:limit]:
            err_console.print(f"  {path}: {kind} pixels, neither 8- nor 16-bit")
        if survey.suggested is not None:
            console.print(f"their values fit --bit-depth {survey.suggested}")
        return
    if bit_depth is None:
        err_console.print(
            "[red]error:[/red] --bit-depth is needed to make the copy (run without DST to survey)"
        )
        raise typer.Exit(code=2)
    with errors_exit():
        report = eight_bit_copy(src, dst, bit_depth=bit_depth)
    console.print(
        f"wrote {dst}: {report.converted} 16-bit image(s) made 8-bit from {report.bit_depth} bits, "
        f"{report.copied} other file(s) copied"
        + (f"; the 16-bit values use up to {report.max_bits} bits" if report.converted else "")
        + ("; data.yaml now points at the copy" if report.rerooted else "")
    )
    for title, items in (("clipped", report.clipped), ("copied as they are", report.skipped)):
        if items:
            err_console.print(f"[yellow]{len(items)} image(s) {title}:[/yellow]")
            for path, why in items[:limit]:
                err_console.print(f"  {path}: {escape(why)}")
            if len(items) > limit:
                err_console.print(f"  ... and {len(items) - limit} more")
