"""`linecheck db upgrade|current|backup|restore|verify|grant|prune-images`: schema, backups, audit, images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from linecheck.cli.common import (
    DatabaseUrl,
    FormatOption,
    OutputFormat,
    console,
    database_url,
    errors_exit,
    open_database,
)

app = typer.Typer(
    help="Traceability store: migrate, show revision, back up and restore (SQLite), verify the audit trail, "
    "grant the API's PostgreSQL role, expire images by the image retention.",
    no_args_is_help=True,
)


@app.command("upgrade")
def upgrade(url: DatabaseUrl = None) -> None:
    """Apply every pending migration (the API also does this at start-up)."""
    from linecheck.serving.store.db import current_revision

    with errors_exit(), open_database(url) as db:
        console.print(f"schema at revision {current_revision(db.engine)}")


@app.command("current")
def current(url: DatabaseUrl = None) -> None:
    """Print the schema revision (none before the first upgrade)."""
    from linecheck.serving.store.db import current_revision

    with errors_exit(), open_database(url, migrate=False) as db:
        console.print(current_revision(db.engine) or "none")


@app.command("backup")
def backup(
    target: Path = typer.Argument(..., help="backup file to write"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    url: DatabaseUrl = None,
) -> None:
    """Consistent copy of a live SQLite store (safe while the API writes)."""
    from linecheck.serving.store.backup import backup_sqlite

    with errors_exit():
        path = backup_sqlite(database_url(url), target, overwrite=force)
    console.print(f"backed up to {path}")


@app.command("restore")
def restore(
    source: Path = typer.Argument(..., help="backup file made by `linecheck db backup`"),
    force: bool = typer.Option(False, "--force", help="replace the existing store"),
    url: DatabaseUrl = None,
) -> None:
    """Replace the SQLite store with a backup; stop the API first."""
    from linecheck.serving.store.backup import restore_sqlite

    with errors_exit():
        path = restore_sqlite(source, database_url(url), overwrite=force)
    console.print(f"restored {path} from {source}")


def _api_role(owner_url: str) -> str | None:
    """The role the API connects as, when it is not the owner's (PostgreSQL URLs only)."""
    from sqlalchemy.engine import make_url

    from linecheck.serving.api.settings import ApiSettings
    from linecheck.settings_env import read_settings

    api_url = make_url(read_settings(ApiSettings).resolved_database_url())
    if api_url.get_backend_name() != "postgresql" or api_url.username == make_url(owner_url).username:
        return None
    return api_url.username


@app.command("verify")
def verify(
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help="A chain tip printed by an earlier verify and kept elsewhere: it must still be there.",
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.AUTO,
    url: DatabaseUrl = None,
) -> None:
    """Check the store: integrity, the review audit trail (hash chain, defect states), the API's role.

    Exits 1 when anything is broken. Prints the chain's tip: keep it somewhere the database's
    writers cannot reach and pass it as --anchor later, so that even a rewrite of the whole chain
    shows.
    """
    from linecheck.serving.api.services.audit import verify_reviews
    from linecheck.serving.store.integrity import Finding, check_app_role, check_store

    with errors_exit(), open_database(url, migrate=False) as db:
        findings = check_store(db.engine)
        findings += check_app_role(db.engine, _api_role(database_url(url)))
        with db.reader() as session:
            report = verify_reviews(session, anchors=anchor or [])
    chain = report.chain
    findings.append(
        Finding(
            level="error" if chain.problems else "ok",
            check="chain",
            message=f"{chain.reviews} review(s) chained, tip {chain.tip}"
            + (f"; {len(chain.problems)} break(s)" if chain.problems else ""),
        )
    )
    findings += [Finding(level="error", check="chain", message=str(p)) for p in chain.problems]
    findings.append(
        Finding(
            level="error" if report.defect_problems else "ok",
            check="defects",
            message=f"{report.defects_checked} defect(s) checked against their reviews"
            + (f"; {len(report.defect_problems)} disagree" if report.defect_problems else ""),
        )
    )
    findings += [Finding(level="error", check="defects", message=p) for p in report.defect_problems]
    findings += [
        Finding(level="error", check="anchor", message=f"anchor {a} is not in the chain: it was rewritten")
        for a in report.anchors_missing
    ]
    findings += [
        Finding(level="ok", check="anchor", message=f"anchor {a} is in the chain")
        for a in dict.fromkeys(anchor or [])
        if a not in report.anchors_missing
    ]
    if fmt.resolved() is OutputFormat.JSON:
        typer.echo(
            json.dumps(
                {
                    "ok": all(f.level != "error" for f in findings),
                    "tip": chain.tip,
                    "reviews": chain.reviews,
                    "findings": [
                        {"level": f.level, "check": f.check, "message": f.message} for f in findings
                    ],
                },
                indent=2,
            )
        )
    else:
        for f in findings:
            typer.echo(f"{f.level}: {f.check}: {f.message}")
    if any(f.level == "error" for f in findings):
        raise typer.Exit(code=1)


@app.command("grant")
def grant(
    app_role: Annotated[
        str | None,
        typer.Option(
            "--app-role",
            help="The role the API connects as [default: the user of LINECHECK_API_DATABASE_URL].",
        ),
    ] = None,
    url: DatabaseUrl = None,
) -> None:
    """Give the API's PostgreSQL role exactly what it needs (run as the tables' owner).

    It may read every table and add rows, change a defect's review state and an unread frame's
    code, and nothing else: no DELETE, no UPDATE of reviews, no TRUNCATE, ALTER or triggers.
    The API does this itself at start-up when LINECHECK_API_OWNER_DATABASE_URL is set.
    """
    from linecheck.errors import InvalidFieldError
    from linecheck.serving.store.integrity import grant_app_role

    with errors_exit(), open_database(url) as db:
        role = app_role or _api_role(database_url(url))
        if role is None:
            raise InvalidFieldError(
                "--app-role", None, "give the API's role, or set LINECHECK_API_DATABASE_URL to connect as it"
            )
        for statement in grant_app_role(db.engine, role):
            console.print(statement)
    console.print(f"granted {role} what the API needs")


@app.command("prune-images")
def prune_images(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="say what would expire and be freed; change nothing"
    ),
    url: DatabaseUrl = None,
) -> None:
    """Expire images past the image retention: delete their files, keep every record (saying so).

    The same run the API makes every LINECHECK_API_IMAGE_PRUNE_INTERVAL_S, by the same settings
    (LINECHECK_API_IMAGE_RETENTION_PASS_DAYS, LINECHECK_API_IMAGE_RETENTION_DEFECT_DAYS), over the
    image store of LINECHECK_API_IMAGES_DIR; safe while the API runs. Prints what it expired (or,
    with --dry-run, would), the bytes freed, what it kept and why, and the oldest image kept.
    """
    from linecheck.serving.api.services.retention import RetentionPolicy
    from linecheck.serving.api.services.retention import prune_images as prune
    from linecheck.serving.api.settings import ApiSettings
    from linecheck.serving.store.images import FileImageStore
    from linecheck.settings_env import read_settings

    with errors_exit():
        settings = read_settings(ApiSettings)
        policy = RetentionPolicy.from_settings(settings)
        if not policy.enabled:
            console.print(f"no image retention set ({policy.describe()}): every image is kept")
            return
        with open_database(url) as db:
            report = prune(
                db,
                FileImageStore(settings.resolved_images_dir()),
                policy,
                dry_run=dry_run,
                batch=settings.image_prune_batch,
            )
    console.print(f"image retention ({policy.describe()}): {report.summary()}")
