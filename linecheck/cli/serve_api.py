"""`linecheck serve api`: run the traceability / QA API with uvicorn."""

from __future__ import annotations

import os

import typer

from linecheck.cli.common import DatabaseUrl, errors_exit


def register(app: typer.Typer) -> None:
    """Add ``api`` to the ``serve`` command group."""

    @app.command("api")
    def serve_api(
        host: str | None = typer.Option(None, help="bind address (default: LINECHECK_API_HOST or 127.0.0.1)"),
        port: int | None = typer.Option(None, help="port (default: LINECHECK_API_PORT or 8000)"),
        workers: int = typer.Option(1, min=1, help="uvicorn worker processes"),
        database_url: DatabaseUrl = None,
        log_level: str = typer.Option("info", help="uvicorn log level"),
        root_path: str | None = typer.Option(
            None, help="path prefix behind a reverse proxy, e.g. /linecheck (LINECHECK_API_ROOT_PATH)"
        ),
    ) -> None:
        """Serve the API (migrates the database and syncs line configs at start-up)."""
        import uvicorn

        from linecheck.serving.api.settings import ApiSettings
        from linecheck.settings_env import env_name, read_settings

        if database_url:  # read by every worker's settings
            os.environ[env_name(ApiSettings, "database_url")] = database_url
        if root_path is not None:
            os.environ[env_name(ApiSettings, "root_path")] = root_path
        with errors_exit():  # checked here, before uvicorn's workers each read them
            settings = read_settings(ApiSettings)
        uvicorn.run(
            "linecheck.serving.api.app:create_app",
            factory=True,
            host=host or settings.host,
            port=settings.port if port is None else port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            ssl_certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
            ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
        )
