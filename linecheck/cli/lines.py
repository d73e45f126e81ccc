"""`linecheck lines add|list|sync`: register line configs (YAML) in the traceability store; `check-frames`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from linecheck.cli.common import DatabaseUrl, console, errors_exit, open_database

app = typer.Typer(help="Production lines: add a YAML config, list, sync a folder.", no_args_is_help=True)


@app.command("add")
def add(
    paths: list[Path] = typer.Argument(..., help="line YAML file(s), e.g. configs/lines/textile-01.yaml"),
    url: DatabaseUrl = None,
) -> None:
    """Validate and register (or update) lines; a running API picks them up within a second."""
    from linecheck.serving.api.services.lines import add_line_file

    with errors_exit(), open_database(url) as db:
        for path in paths:
            line = add_line_file(db, path)
            console.print(f"[green]registered[/green] {line.id} ({line.kind}) from {path}")


@app.command("sync")
def sync(
    directory: Path | None = typer.Option(
        None, "--dir", help="folder of *.yaml (default: LINECHECK_LINES_DIR)"
    ),
    url: DatabaseUrl = None,
) -> None:
    """Register every line config of a folder (what the API does at start-up)."""
    from linecheck.serving.api.services.lines import sync_lines
    from linecheck.serving.api.settings import ApiSettings
    from linecheck.settings_env import read_settings

    with errors_exit(), open_database(url) as db:
        ids = sync_lines(db, directory or read_settings(ApiSettings).lines_dir)
    console.print(f"synced {len(ids)} line(s): {', '.join(ids)}")


@app.command("list")
def list_(url: DatabaseUrl = None) -> None:
    """List registered lines."""
    from linecheck.serving.store.repositories.lines import list_lines, list_stations

    with errors_exit(), open_database(url) as db, db.reader() as session:
        rows = [
            (
                r.id,
                r.kind,
                r.name,
                ",".join(list_stations(session, r.id)),
                len(r.config.get("classes", [])),
                ",".join(str(p.get("id")) for p in r.config.get("products") or [] if isinstance(p, dict)),
            )
            for r in list_lines(session)
        ]
    table = Table(title=f"{len(rows)} line(s)")
    for column in ("id", "kind", "name", "stations", "classes", "products"):
        table.add_column(column)
    for line_id, kind, name, stations, classes, products in rows:
        table.add_row(line_id, kind, name, stations, str(classes), products)
    console.print(table)


@app.command("check-frames")
def check_frames(
    frames: Path = typer.Argument(..., help="a folder of frames of good products (or one image)"),
    line: str | None = typer.Option(
        None, "--line", "-l", help="line id (in LINECHECK_LINES_DIR) or a line YAML: its camera's checks"
    ),
    station: str | None = typer.Option(None, "--station", help="the camera (default: the line's first)"),
    product: str | None = typer.Option(
        None, "--product", help="check with this product's checks (its products[].checks over the camera's)"
    ),
    bit_depth: int | None = typer.Option(
        None, "--bit-depth", help="bits of 16-bit frames (default: the camera's bit_depth)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of tables"),
) -> None:
    """Measure a camera's frames: brightness, contrast, saturation, focus; suggest its ``checks:``.

    Every frame is also checked with the camera's current checks (``--line``, of ``--product`` when
    given; else the defaults), and the command exits 1 when a frame fails one (on frames of good
    products: the checks are too strict, or the camera is not set up). Calibrate on a folder of frames
    of good products taken at the line's lighting and focus; on a line making products that image
    differently (a black and a white fabric), calibrate each product on its own frames and write the
    suggestion under its ``products[].checks.<station>``.
    """
    import json

    import yaml

    from linecheck.config import CameraConfig, load_line, load_lines
    from linecheck.errors import ConfigError
    from linecheck.frame_checks import FrameChecker, FrameChecks, FrameQuality, suggest, summarise
    from linecheck.image_files import is_image_file, list_images
    from linecheck.pixel_depth import check_bit_depth, read_bgr8

    with errors_exit():
        camera: CameraConfig | None = None
        if line is not None:
            config = load_line(Path(line)) if line.endswith((".yaml", ".yml")) else None
            if config is None:
                known = load_lines()
                if line not in known:
                    raise ConfigError(f"--line {line!r}: no such line; known: {', '.join(sorted(known))}")
                config = known[line]
            config = config.for_product(product)
            stations = [c.station for c in config.cameras]
            camera = next((c for c in config.cameras if station in (None, c.station)), None)
            if camera is None:
                raise ConfigError(f"--station {station!r}: line {config.id} has cameras {stations}")
        elif product is not None:
            raise ConfigError(f"--product {product!r}: give the line (--line) whose product it is")
        depth = check_bit_depth(bit_depth, "--bit-depth") or (camera.bit_depth if camera else None)
        if frames.is_dir():
            paths = list_images(frames)
        elif frames.is_file() and is_image_file(frames):
            paths = [frames]
        else:
            raise ConfigError(f"frames={str(frames)!r}: expected a folder of images or an image file")
        if not paths:
            raise ConfigError(f"frames={str(frames)!r}: no image files in it")
        checker = FrameChecker(camera.checks if camera is not None else FrameChecks())
        measured: list[FrameQuality] = []
        failed: list[tuple[str, list[str]]] = []
        unreadable: list[str] = []
        for path in paths:
            image = read_bgr8(path, bit_depth=depth)
            if image is None:
                unreadable.append(str(path))
                continue
            quality, found = checker.check(image)
            measured.append(quality)
            if found:
                failed.append((path.name, [text for _name, text in found]))
        if not measured:
            raise ConfigError(f"frames={str(frames)!r}: none of its {len(paths)} image file(s) could be read")
        suggested = suggest(measured).model_dump(mode="json", exclude={"enabled"})
    summary = summarise(measured)
    if as_json:
        print(
            json.dumps(
                {
                    "frames": len(measured),
                    "unreadable": unreadable,
                    "measures": summary,
                    "failed": [{"file": name, "problems": texts} for name, texts in failed],
                    "suggested_checks": suggested,
                }
            )
        )
    else:
        table = Table(title=f"{len(measured)} frame(s) of {frames}")
        for column in ("measure", "min", "median", "max"):
            table.add_column(column)
        for name, row in summary.items():
            table.add_row(name, *(f"{row[k]:.4g}" for k in ("min", "median", "max")))
        console.print(table)
        for name in unreadable:
            console.print(f"[yellow]unreadable[/yellow] {name}")
        for name, texts in failed:
            console.print(f"[red]fails[/red] {name}: {'; '.join(texts)}")
        verdict = f"{len(failed)} of {len(measured)} fail" if failed else f"all {len(measured)} pass"
        which = f"camera {camera.station}'s current checks" if camera is not None else "the default checks"
        console.print(f"with {which}: {verdict}")
        console.print("suggested, under the camera in the line YAML:")
        console.print(yaml.safe_dump({"checks": suggested}, sort_keys=False, default_flow_style=None), end="")
    if failed:
        raise typer.Exit(1)
