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

One bad row never holds up the rows behind it. A row whose payload cannot be serialised (a
non-finite number, a damaged row) is parked as ``rejected`` at once, with the reason. When a batch
gets a 5xx that names no outage (500, not 502/503/504/507), its rows are posted one by one: the
others go in, and a row that fails alone is backed off on its own (``next_attempt_at``, doubling
from ``retry_min_s`` to ``retry_max_s``) and parked as ``rejected`` after ``outbox_park_after``
such failures (``linecheck_inspector_outbox_parked_total``, ``linecheck outbox list``). When no row
of the batch gets in, the API's ``/readyz`` decides: a ready API blames the rows, a sick one is
waited for like an outage, and no row is blamed.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from linecheck.errors import StoreError
from linecheck.inspect.api_client import ApiClient, ApiSendError, ItemOutcome
from linecheck.inspect.clock import ClockWatch
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
        #: This PC's clock against the API's, measured on every answer (see :mod:`linecheck.inspect.clock`).
        self.clock = ClockWatch(settings.clock_skew_warn_s, metrics.clock_offset.set)
        client.on_clock = self.clock.update

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
        """Send one batch of due rows; returns how many were settled (sent, rejected or tried alone)."""
        due = self.outbox.due(self.settings.send_batch)
        if not due:
            return self.upload_backlog()
        sendable = self._park_unsendable(due)
        if not sendable:
            return len(due)
        try:
            rows = self._upload_images(sendable)
        except ApiSendError as exc:
            self._failed(sendable, exc)
            return 0
        try:
            outcomes = self.client.post_inspections([r.payload for r in rows]) if rows else []
        except ApiSendError as exc:
            if not exc.may_be_the_payload:
                self._failed(rows, exc)
                return 0
            if len(rows) > 1:
                self._one_by_one(rows)
            else:
                self._blame_or_wait(rows, [exc], anything_sent=False)
            return len(due)
        self._recovered()
        self._settle(outcomes)
        return len(due)

    def _settle(self, outcomes: list[ItemOutcome]) -> None:
        sent = [o.id for o in outcomes if o.accepted]
        self.outbox.mark_sent(sent)
        self.metrics.sent(len(sent))
        for outcome in outcomes:
            if not outcome.accepted:
                self._reject(outcome.id, f"{outcome.status}: {outcome.error}")

    def _park_unsendable(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Park rows that can never be sent (payload not serialisable); returns the others."""
        keep = []
        for row in rows:
            problem = row.payload_error
            if problem is None:
                try:
                    json.dumps(row.payload, allow_nan=False)
                except (TypeError, ValueError) as exc:
                    problem = f"payload cannot be sent as JSON: {exc}"
            if problem is None:
                keep.append(row)
                continue
            log.error("inspection %s parked, kept in the outbox: %s", row.id, problem)
            self.outbox.mark_rejected(row.id, f"parked: {problem}")
            self.metrics.parked("unsendable")
        return keep

    def _one_by_one(self, rows: list[OutboxRow]) -> None:
        """After a batch got a 5xx that may be one row's fault: post each row alone."""
        outcomes: list[ItemOutcome] = []
        suspects: list[tuple[OutboxRow, ApiSendError]] = []
        for index, row in enumerate(rows):
            try:
                outcomes.append(self.client.post_inspection(row.payload))
            except ApiSendError as exc:
                if not exc.may_be_the_payload:  # an outage after all: the rest wait with the usual backoff
                    self._failed(rows[index:], exc)
                    break
                suspects.append((row, exc))
        if outcomes:
            self._recovered()
            self._settle(outcomes)
        if suspects:
            self._blame_or_wait(
                [r for r, _ in suspects], [e for _, e in suspects], anything_sent=bool(outcomes)
            )

    def _blame_or_wait(
        self, rows: list[OutboxRow], errors: list[ApiSendError], *, anything_sent: bool
    ) -> None:
        """Rows that got a 5xx on their own: theirs to carry when the API otherwise works, else wait."""
        if not anything_sent and not self.client.ready():
            self._failed(rows, errors[-1])
            return
        if not anything_sent:
            self._recovered()
        for row, exc in zip(rows, errors, strict=True):
            self.metrics.send_failed(exc.cause)
            delay = min(
                self.settings.retry_min_s * 2 ** self.outbox.failures(row.id), self.settings.retry_max_s
            )
            failures = self.outbox.mark_failed(
                row.id, str(exc), delay_s=delay, park_after=self.settings.outbox_park_after
            )
            if failures >= self.settings.outbox_park_after:
                log.error(
                    "inspection %s parked after %d failed sends, kept in the outbox: %s",
                    row.id,
                    failures,
                    exc,
                )
                self.metrics.parked("server_error")
            else:
                log.warning(
                    "inspection %s failed on its own (%d of %d before it is parked), retry in %.1fs: %s",
                    row.id,
                    failures,
                    self.settings.outbox_park_after,
                    delay,
                    exc,
                )

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
