"""Image retention: delete the images a plant no longer needs; every record stays, saying so.

**What expires.** A *pass frame* (an inspection judged pass with no defect) after
``LINECHECK_API_IMAGE_RETENTION_PASS_DAYS`` from its capture; every other frame (fail,
not_inspected, or with a defect) and every defect crop and heat map after
``LINECHECK_API_IMAGE_RETENTION_DEFECT_DAYS``. An unset setting keeps its images for ever.
Images are content-addressed, so one file may be held by several records: it expires only when
every live record holding it may let it go (:func:`decide`). Never expired: an image of a defect
pending review (its crop, heat map and the frame it is on), a frame whose unread code waits to be
typed in, a frame kept for audit (a pass-audit sample or a near miss, :mod:`linecheck.audit`) no one
has audited yet, and a golden sample.
An upload no record refers to expires after the longer retention from its upload, when both are set.

**Order, and why** (a crash at any point leaves a consistent store). Per batch of refs:

1. One transaction decides and marks: the image records are locked, who holds each ref is read,
   and the expiring refs get ``images.expired_at`` with every live record holding them
   (``inspections.image_expired_at``, ``defects.crop_expired_at`` / ``heatmap_expired_at``). It
   commits *before* any file is touched: from then on the records say the image expired and
   ``GET /v1/images/{ref}`` answers 410, whether or not the bytes are still on disk.
2. A second transaction claims the files (``images.file_deleted_at``, rows locked), deletes them,
   then commits. A crash before the commit leaves records that already say "expired" and files
   that may still be there: the next run deletes them first (:func:`prune_images`, step 0).

The other order (delete, then mark) could leave a record pointing at a file that is gone without
saying so; this one can at worst leave expired bytes on disk for one more run. Writers take part:
an inspection stored with a ref reads (share-locked) whether the image expired and stores that
with its row, and an upload of an expired image's bytes revives its record and writes the file
again, so no new record ever points at a deleted file either.

Runs are batched (``image_prune_batch`` refs per transaction, pages of the partial indexes of
migration 0011), so millions of rows are never loaded and the API keeps answering in between;
concurrent runs are safe (each file is claimed by one). A dry run reads the same pages and
decides the same way, and writes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row

from linecheck.serving.api.metrics import ApiMetrics
from linecheck.serving.api.settings import ApiSettings
from linecheck.serving.store.db import Database
from linecheck.serving.store.images import ImageStore
from linecheck.serving.store.models import utcnow
from linecheck.serving.store.repositories import retention as repo
from linecheck.serving.store.repositories.retention import After, RefHolders
from linecheck.settings_env import env_name

log = logging.getLogger(__name__)

#: Why an image was kept, as the run's report counts them.
KEEP_GOLDEN = "golden sample"
KEEP_REVIEW = "defect pending review"
KEEP_CODE = "code waiting to be typed in"
KEEP_AUDIT = "pass-audit sample or near miss waiting for its audit"
KEEP_FOREVER = "retention unset"
KEEP_YOUNG = "within retention"


@dataclass(frozen=True, kw_only=True, slots=True)
class RetentionPolicy:
    """How long images are kept, in days from capture (None: for ever), and the settings that say so."""

    pass_days: int | None = None
    defect_days: int | None = None
    pass_setting: str = "LINECHECK_API_IMAGE_RETENTION_PASS_DAYS"
    defect_setting: str = "LINECHECK_API_IMAGE_RETENTION_DEFECT_DAYS"

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> RetentionPolicy:
        """The policy of the API's settings."""
        return cls(
            pass_days=settings.image_retention_pass_days,
            defect_days=settings.image_retention_defect_days,
            pass_setting=env_name(ApiSettings, "image_retention_pass_days"),
            defect_setting=env_name(ApiSettings, "image_retention_defect_days"),
        )

    @property
    def enabled(self) -> bool:
        """Whether anything can expire."""
        return self.pass_days is not None or self.defect_days is not None

    def describe(self) -> str:
        """Both settings with their values, for messages."""
        return f"{self.pass_setting}={_days(self.pass_days)}, {self.defect_setting}={_days(self.defect_days)}"


def _days(days: int | None) -> str:
    return "unset" if days is None else str(days)


@dataclass(frozen=True, slots=True)
class Decision:
    """``keep``: why the image stays (None: it expires); ``rule``: the setting it expires by."""

    keep: str | None
    rule: str = ""


def decide(held: RefHolders, policy: RetentionPolicy, now: datetime) -> Decision:
    """Whether the image ``held`` describes expires at ``now`` (pure: every rule of the retention)."""
    if held.golden:
        return Decision(KEEP_GOLDEN)
    if held.awaiting_review:
        return Decision(KEEP_REVIEW)
    if held.awaiting_code:
        return Decision(KEEP_CODE)
    if held.awaiting_audit:
        return Decision(KEEP_AUDIT)
    classes = [
        (held.newest_pass_frame, policy.pass_days, policy.pass_setting),
        (held.newest_other, policy.defect_days, policy.defect_setting),
    ]
    rule = ""
    for newest, days, setting in classes:
        if newest is None:
            continue
        if days is None:
            return Decision(KEEP_FOREVER)
        if newest > now - timedelta(days=days):
            return Decision(KEEP_YOUNG)
        rule = f"{setting}={days}"  # the last class checked is the longer-kept one
    if held.held:
        return Decision(None, rule)
    if policy.pass_days is None or policy.defect_days is None:
        return Decision(KEEP_FOREVER)
    days = max(policy.pass_days, policy.defect_days)
    if held.stored_at is not None and held.stored_at > now - timedelta(days=days):
        return Decision(KEEP_YOUNG)
    return Decision(None, f"{policy.defect_setting}={policy.defect_days} (unreferenced upload, {days} days)")


@dataclass(kw_only=True, slots=True)
class PruneReport:
    """What a run expired (or, dry, would), the bytes freed, what it kept and why."""

    dry_run: bool
    expired: int = 0
    bytes_freed: int = 0
    files_deleted: int = 0
    kept: Counter[str] = field(default_factory=Counter)
    oldest_kept: datetime | None = None
    stopped: bool = False

    def keep_oldest(self, at: datetime | None) -> None:
        """Note a kept image captured at ``at``."""
        if at is not None and (self.oldest_kept is None or at < self.oldest_kept):
            self.oldest_kept = at

    def summary(self) -> str:
        """One line for people and logs."""
        verb = "would expire" if self.dry_run else "expired"
        freed = "would free" if self.dry_run else "freed"
        kept = ", ".join(f"{n} {why}" for why, n in sorted(self.kept.items())) or "none"
        oldest = self.oldest_kept.isoformat(timespec="seconds") if self.oldest_kept else "none"
        line = f"{verb} {self.expired} image(s), {freed} {self.bytes_freed} bytes; kept: {kept}; "
        line += f"oldest image kept: captured {oldest}"
        if self.files_deleted != self.expired and not self.dry_run:
            line += f"; {self.files_deleted} file(s) deleted (with those an earlier run left)"
        return line + (" (stopped early)" if self.stopped else "")


@dataclass(frozen=True, slots=True)
class _Walk:
    """One kind of record a run walks: its pages, where a row is, its refs, and the oldest live one past them.

    ``oldest_after`` None: the rows are uploads, not records; they do not count for "oldest kept".
    """

    page: Callable[[Any, After, int], list[Row[Any]]]
    position: Callable[[Row[Any]], After]
    refs: Callable[[Row[Any]], list[str]]
    oldest_after: Callable[[Any], datetime | None] | None


class _Run:
    """One retention run over the store (see the module docstring for the order of its steps)."""

    def __init__(
        self,
        db: Database,
        images: ImageStore,
        policy: RetentionPolicy,
        *,
        now: datetime,
        dry_run: bool,
        batch: int,
        metrics: ApiMetrics | None,
        stop: threading.Event | None,
    ) -> None:
        self.db, self.images, self.policy, self.now = db, images, policy, now
        self.dry_run, self.batch, self.metrics, self.stop = dry_run, batch, metrics, stop
        self.report = PruneReport(dry_run=dry_run)
        self.counted: set[str] = set()  # refs held by several records, counted once per dry run

    def stopping(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self.report.stopped = True
        return self.report.stopped

    def finish_left_files(self) -> None:
        """Step 0: delete the files of images expired by a run that stopped before deleting them."""
        while not self.dry_run and not self.stopping():
            with self.db.reader() as session:
                refs = repo.expired_files_left(session, limit=self.batch)
            if not refs or not self.delete_files(refs):
                return

    def walk(self, walk: _Walk) -> None:
        """Walk the pages of ``walk`` oldest first, deciding their refs a batch at a time."""
        after: After = None
        while not self.stopping():
            with self.db.reader() as session:
                rows = walk.page(session, after, self.batch)
            if not rows:
                break
            after = walk.position(rows[-1])
            kept = self.decide_and_expire({ref for row in rows for ref in walk.refs(row)})
            for row in rows:
                if walk.oldest_after is not None and kept & set(walk.refs(row)):
                    self.report.keep_oldest(row[0])
        if walk.oldest_after is not None:
            with self.db.reader() as session:
                self.report.keep_oldest(walk.oldest_after(session))

    def decide_and_expire(self, refs: set[str]) -> set[str]:
        """Step 1 for ``refs``, then step 2 for those that expired; returns the refs kept."""
        if not refs:
            return set()
        now = self.now
        if self.dry_run:
            with self.db.reader() as session:
                held = repo.holders(session, refs, lock=False)
            decisions = {ref: decide(held[ref], self.policy, now) for ref in refs}
            expiring = {ref: d.rule for ref, d in decisions.items() if d.keep is None}
            fresh = [ref for ref in expiring if ref not in self.counted]
            self.counted.update(ref for ref in fresh if held[ref].records > 1)
            self.report.expired += len(fresh)
            self.report.bytes_freed += sum(held[ref].size_bytes for ref in fresh)
        else:
            with self.db.writer() as session:
                held = repo.holders(session, refs, lock=True)
                decisions = {ref: decide(held[ref], self.policy, now) for ref in refs}
                expiring = {ref: d.rule for ref, d in decisions.items() if d.keep is None}
                if expiring:
                    repo.expire(session, expiring, at=utcnow())
                session.commit()  # the records say "expired" before any file goes (see the docstring)
            self.report.expired += len(expiring)
            if self.metrics is not None:
                self.metrics.images_pruned.inc(len(expiring))
            self.delete_files(sorted(expiring))
        self.report.kept.update(d.keep for d in decisions.values() if d.keep is not None)
        return {ref for ref, d in decisions.items() if d.keep is not None}

    def delete_files(self, refs: list[str]) -> int:
        """Step 2: claim and delete the files of expired ``refs`` in one transaction; how many it claimed."""
        if not refs:
            return 0
        freed = 0
        with self.db.writer() as session:
            claimed = repo.claim_file_deletions(session, refs, at=utcnow())
            for ref in claimed:
                freed += self.images.delete(ref) or 0
            session.commit()
        self.report.files_deleted += len(claimed)
        self.report.bytes_freed += freed
        if self.metrics is not None:
            self.metrics.image_bytes_pruned.inc(freed)
        return len(claimed)


def _walks(policy: RetentionPolicy, now: datetime) -> Iterable[_Walk]:
    """What a run walks under ``policy``: pass frames, other frames, defect images, unreferenced uploads."""

    def frames(pass_frames: bool, days: int | None) -> _Walk:
        before = now - timedelta(days=days) if days is not None else None
        return _Walk(
            page=lambda s, after, limit: (
                repo.frames_page(s, pass_frames=pass_frames, before=before, after=after, limit=limit)
                if before is not None
                else []
            ),
            position=lambda row: (row.captured_at, row.id),
            refs=lambda row: [row.image_ref],
            oldest_after=lambda s: repo.oldest_live_frame(s, pass_frames=pass_frames, since=before),
        )

    defect_before = now - timedelta(days=policy.defect_days) if policy.defect_days is not None else None
    yield frames(True, policy.pass_days)
    yield frames(False, policy.defect_days)
    yield _Walk(
        page=lambda s, after, limit: (
            repo.defects_page(s, before=defect_before, after=after, limit=limit) if defect_before else []
        ),
        position=lambda row: (row.captured_at, row.id),
        refs=lambda row: [ref for ref in (row.crop_ref, row.heatmap_ref) if ref is not None],
        oldest_after=lambda s: repo.oldest_live_defect(s, since=defect_before),
    )
    if policy.pass_days is not None and policy.defect_days is not None:
        uploaded_before = now - timedelta(days=max(policy.pass_days, policy.defect_days))
        yield _Walk(
            page=lambda s, after, limit: repo.images_page(
                s, before=uploaded_before, after=after, limit=limit
            ),
            position=lambda row: (row.created_at, row.ref),
            refs=lambda row: [row.ref],
            oldest_after=None,
        )


def prune_images(
    db: Database,
    images: ImageStore,
    policy: RetentionPolicy,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    batch: int = 500,
    metrics: ApiMetrics | None = None,
    stop: threading.Event | None = None,
) -> PruneReport:
    """Expire what ``policy`` lets go at ``now`` (default: the current time); see the module docstring.

    ``stop`` ends the run between two batches (the API's shutdown). Nothing is done, and nothing
    is reported kept, when the policy keeps everything.
    """
    run = _Run(
        db, images, policy, now=now or utcnow(), dry_run=dry_run, batch=batch, metrics=metrics, stop=stop
    )
    if policy.enabled:
        run.finish_left_files()
        for walk in _walks(policy, run.now):
            run.walk(walk)
    log.info("image retention (%s): %s", policy.describe(), run.report.summary())
    return run.report
