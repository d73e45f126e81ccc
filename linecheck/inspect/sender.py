"""The outbox sender: delivers committed inspections to the API until each one is acknowledged.

It posts due rows in batches (images first), marks them ``sent`` on created / duplicate,
``rejected`` (kept, with the error) when the API refuses them for good, and on a retryable
failure (API down, 5xx, 429, bad key) leaves them pending and backs off exponentially, both per
row (``next_attempt_at``) and as a whole (no hammering a dead API). Rows left pending when the
inspector stops are sent by the next run.

When the API's image store is full (507), the records matter more than the pictures: after
``image_store_full_retries`` failed uploads in a row the inspections are posted without waiting
(the API accepts refs to images it does not hold yet), the images stay in the outbox, and the
sender uploads them once the store has room again (``linecheck_inspector_image_backlog``).

Acknowledged rows are kept ``outbox_keep_sent_days`` and then pruned, once at start and hourly.
"""

from __future__ import annotations

import logging
import threading
import time

from linecheck.errors import StoreError
from linecheck.inspect.api_client import ApiClient, ApiSendError, ItemOutcome
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox, OutboxRow, StoredImage
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.workers import Worker

log = logging.getLogger(__name__)

#: Seconds between two prunings of acknowledged outbox rows (the first runs at start).
PRUNE_EVERY_S = 3600.0


class SenderWorker(Worker):
    """Delivers the outbox to the API on its own thread."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        client: ApiClient,
        settings: InspectorSettings,
        metrics: InspectorMetrics,
        stop: threading.Event,
    ) -> None:
        super().__init__("sender", stop)
        self.outbox = outbox
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self._delay = settings.retry_min_s
        self._paused_until = 0.0
        self.last_error: str | None = None
        self.online = False
        self._store_full_streak = 0
        self._images_paused_until = 0.0
        self._next_prune = 0.0

    def run(self) -> None:
        """Send until stopped, waking early when the outbox gets new rows."""
        while not self.stop.is_set():
            self.prune_due()
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                self.stop.wait(min(pause, 1.0))
                continue
            try:
                settled = self.send_once()
            except Exception:  # loop boundary: an unexpected answer must not stop delivery for good
                log.exception("sender: unexpected failure; rows stay pending, retrying in %.1fs", self._delay)
                self.metrics.send_failed("error")
                self._paused_until = time.monotonic() + self._delay
                self._delay = min(self._delay * 2, self.settings.retry_max_s)
                continue
            if settled == 0:
                self.outbox.added.wait(self.settings.send_interval_s)
                self.outbox.added.clear()

    def prune_due(self) -> int:
        """Delete acknowledged rows past their retention when a pruning is due; returns how many."""
        now = time.monotonic()
        if now < self._next_prune:
            return 0
        self._next_prune = now + PRUNE_EVERY_S
        try:
            pruned = self.outbox.prune_sent(self.settings.outbox_keep_sent_days * 86400.0)
        except StoreError as exc:
            log.warning("%s; trying again in %.0f s", exc, PRUNE_EVERY_S)
            return 0
        if pruned:
            log.info(
                "pruned %d acknowledged row(s) older than %g day(s)",
                pruned,
                self.settings.outbox_keep_sent_days,
            )
        return pruned

    def send_once(self) -> int:
        """Send one batch of due rows; returns how many were settled (sent or rejected)."""
        due = self.outbox.due(self.settings.send_batch)
        if not due:
            return self.upload_backlog()
        try:
            rows = self._upload_images(due)
            outcomes = self.client.post_inspections([r.payload for r in rows]) if rows else []
        except ApiSendError as exc:
            self._failed(due, exc)
            return 0
        self._recovered()
        sent = [o.id for o in outcomes if o.accepted]
        self.outbox.mark_sent(sent)
        self.metrics.sent(len(sent))
        for outcome in outcomes:
            if not outcome.accepted:
                self._reject(outcome.id, f"{outcome.status}: {outcome.error}")
        return len(due)

    def _upload(self, image: StoredImage) -> str | None:
        """Upload one local image; None once the API has it, else why it was refused for good.

        Raises:
            ApiSendError: the API could not take it now (down, overloaded, image store full).

        """
        try:
            data = image.path.read_bytes()
        except OSError as exc:
            return f"local image {image.path} unreadable: {exc}"
        answer = self.client.upload_image(data, image.media_type)
        self._store_full_streak = 0
        if isinstance(answer, ItemOutcome):
            return f"image {image.ref} refused: {answer.error}"
        if answer != image.ref:
            return f"image {image.ref} stored under another ref {answer!r}"
        self.outbox.mark_uploaded(image.ref)
        return None

    def _upload_images(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Upload the images these rows refer to; returns the rows still to post."""
        refused: dict[str, str] = {}
        refs = {ref for row in rows for ref in row.image_refs}
        for image in self.outbox.images_to_upload(refs):
            try:
                reason = self._upload(image)
            except ApiSendError as exc:
                if exc.cause != "image_store_full":
                    raise
                self._store_full_streak += 1
                self._images_paused_until = time.monotonic() + self.settings.retry_max_s
                if self._store_full_streak <= self.settings.image_store_full_retries:
                    raise
                log.warning(
                    "API image store full %d time(s) in a row: posting %d inspection(s) now,"
                    " their images stay in the outbox for later",
                    self._store_full_streak,
                    len(rows),
                )
                self.metrics.deferred_images(len(rows))
                break
            if reason is not None:
                refused[image.ref] = reason
        keep = []
        for row in rows:
            bad = [refused[r] for r in row.image_refs if r in refused]
            if bad:
                self._reject(row.id, "; ".join(bad))
            else:
                keep.append(row)
        return keep

    def upload_backlog(self) -> int:
        """Upload images left behind while the API's image store was full; returns how many were settled."""
        if time.monotonic() < self._images_paused_until:
            return 0
        done = 0
        for image in self.outbox.images_pending(self.settings.send_batch):
            try:
                reason = self._upload(image)
            except ApiSendError as exc:
                self.metrics.send_failed(exc.cause)
                self._images_paused_until = time.monotonic() + self.settings.retry_max_s
                log.debug("image backlog upload failed (%s), retrying later: %s", exc.cause, exc)
                break
            if reason is not None:
                log.error("%s; kept in the outbox", reason)
                self.outbox.mark_image_refused(image.ref)
            done += 1
        return done

    def _reject(self, inspection_id: str, error: str) -> None:
        log.error("inspection %s rejected by the API, kept in the outbox: %s", inspection_id, error)
        self.outbox.mark_rejected(inspection_id, error)
        self.metrics.rejected(1)

    def _failed(self, rows: list[OutboxRow], exc: ApiSendError) -> None:
        delay = max(self._delay, exc.retry_after_s or 0.0)
        self.metrics.send_failed(exc.cause)
        self.outbox.mark_retry([r.id for r in rows], str(exc), delay)
        level = logging.WARNING if self.online or self.last_error is None else logging.DEBUG
        log.log(
            level,
            "API send failed (%s), %d row(s) kept, retry in %.1fs: %s",
            exc.cause,
            len(rows),
            delay,
            exc,
        )
        self.last_error = str(exc)
        self.online = False
        self._paused_until = time.monotonic() + delay
        self._delay = min(self._delay * 2, self.settings.retry_max_s)

    def _recovered(self) -> None:
        if not self.online and self.last_error is not None:
            log.info("API reachable again; resending the backlog")
            self.outbox.retry_all_now()
        self.online = True
        self.last_error = None
        self._delay = self.settings.retry_min_s

    def wake(self) -> None:
        """Retry now (e.g. after the operator fixed the API); clears the global backoff."""
        self._paused_until = 0.0
        self.outbox.added.set()
