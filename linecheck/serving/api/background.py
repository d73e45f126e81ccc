"""Work an API process does besides answering: the periodic image retention run.

The run itself is :func:`~linecheck.serving.api.services.retention.prune_images`, the same code as
``linecheck db prune-images``; here it runs in a worker thread (the event loop keeps answering),
right after start-up and then every ``LINECHECK_API_IMAGE_PRUNE_INTERVAL_S``. Each API process
of ``--workers N`` runs its own; runs that overlap are safe (each file is claimed by one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from fastapi.concurrency import run_in_threadpool

from linecheck.serving.api.context import ApiContext
from linecheck.serving.api.services.retention import RetentionPolicy, prune_images
from linecheck.settings_env import env_name

log = logging.getLogger(__name__)


class PeriodicPrune:
    """The image retention every interval, until :meth:`stop` (which ends a run between two batches)."""

    def __init__(self, context: ApiContext, policy: RetentionPolicy, interval_s: float) -> None:
        self.context = context
        self.policy = policy
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin the loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="linecheck-image-retention")

    async def stop(self) -> None:
        """Ask the loop to end and wait for it (at most one batch of a run in progress)."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        metrics = self.context.metrics
        while not self._stop.is_set():
            try:
                await run_in_threadpool(
                    prune_images,
                    self.context.db,
                    self.context.images,
                    self.policy,
                    batch=self.context.settings.image_prune_batch,
                    metrics=metrics,
                    stop=self._stop,
                )
                metrics.image_prune_runs.labels("ok").inc()
            except Exception:  # a worker loop's boundary: say so, count it, try again next interval
                log.exception("image retention run failed; the next one starts in %s s", self.interval_s)
                metrics.image_prune_runs.labels("error").inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)


def start_pruning(context: ApiContext) -> PeriodicPrune | None:
    """Start the periodic image retention when a retention and an interval are set; None otherwise."""
    settings = context.settings
    policy = RetentionPolicy.from_settings(settings)
    if not policy.enabled:
        return None
    if settings.image_prune_interval_s <= 0:
        log.info(
            "image retention set (%s) but %s=0: the API prunes nothing; run `linecheck db prune-images`",
            policy.describe(),
            env_name(type(settings), "image_prune_interval_s"),
        )
        return None
    pruner = PeriodicPrune(context, policy, settings.image_prune_interval_s)
    pruner.start()
    log.info("image retention (%s) runs every %s s", policy.describe(), settings.image_prune_interval_s)
    return pruner
