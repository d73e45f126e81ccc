"""Everything one API instance holds for its lifetime: database, image store, caches, services."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from linecheck.serving.api.auth import Authenticator
from linecheck.serving.api.metrics import ApiMetrics
from linecheck.serving.api.ratelimit import AuthFailureLimiter, KeyRateLimiter
from linecheck.serving.api.services.ingest import IngestService
from linecheck.serving.api.services.lines import LineRegistry, sync_lines
from linecheck.serving.api.settings import ApiSettings
from linecheck.serving.store.db import Database, upgrade_head
from linecheck.serving.store.images import FileImageStore, ImageStore
from linecheck.serving.store.integrity import grant_app_role

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class ApiContext:
    """The long-lived objects behind the routes (one per app)."""

    settings: ApiSettings
    db: Database
    images: ImageStore
    lines: LineRegistry
    auth: Authenticator
    limiter: KeyRateLimiter
    auth_failures: AuthFailureLimiter
    metrics: ApiMetrics
    ingest: IngestService

    @classmethod
    def build(cls, settings: ApiSettings, metrics: ApiMetrics) -> ApiContext:
        """Connect to the store described by ``settings`` (nothing is migrated yet)."""
        db = Database.from_url(
            settings.resolved_database_url(),
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            pool_size=settings.db_pool_size,
        )
        lines = LineRegistry(db, ttl_s=settings.line_cache_seconds)
        return cls(
            settings=settings,
            db=db,
            images=FileImageStore(settings.resolved_images_dir()),
            lines=lines,
            auth=Authenticator(db, ttl_s=settings.key_cache_seconds),
            limiter=KeyRateLimiter(rate_per_s=settings.rate_limit_per_s, burst=settings.rate_limit_burst),
            auth_failures=AuthFailureLimiter(
                rate_per_s=settings.auth_failure_rate_per_s, burst=settings.auth_failure_burst
            ),
            metrics=metrics,
            ingest=IngestService(db, lines, metrics),
        )

    def prestart(self) -> None:
        """Migrate the schema and sync line configs, as the settings ask, as the tables' owner.

        With a separate owner URL on PostgreSQL, the API's own role is then granted exactly what it
        needs (:func:`~linecheck.serving.store.integrity.grant_app_role`), new tables included.
        """
        owner_url = self.settings.resolved_owner_database_url()
        owner = (
            self.db if owner_url == self.settings.resolved_database_url() else Database.from_url(owner_url)
        )
        try:
            if self.settings.migrate_on_start:
                upgrade_head(owner.engine)
                owner.analyze()
                app_role = self.db.engine.url.username
                separate = owner is not self.db and owner.dialect == "postgresql"
                if separate and app_role and app_role != owner.engine.url.username:
                    grant_app_role(owner.engine, app_role)
                    log.info("granted role %s what the API needs (and nothing more)", app_role)
            if self.settings.sync_lines_on_start:
                if self.settings.lines_dir.is_dir():
                    synced = sync_lines(owner, self.settings.lines_dir)
                    log.info(
                        "synced %d line config(s) from %s: %s", len(synced), self.settings.lines_dir, synced
                    )
                else:
                    log.warning(
                        "lines_dir %s does not exist: no line configs synced", self.settings.lines_dir
                    )
        finally:
            if owner is not self.db:
                owner.dispose()
        self.lines.invalidate()

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()
