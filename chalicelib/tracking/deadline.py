"""A deadline for the writes of the public routes: the pixel and the hosted page answer
within about a second whatever storage does. The write runs on a small pool of threads;
the request waits for it only until the deadline, then hands the fact to the durable
queue (``tracking.service``) and answers.

A write that missed its deadline is *abandoned*: its thread finishes the storage call it
is in (a socket cannot be interrupted) and stops before the next one, so the queued copy
is the only one that goes on. Which call it was in decides how the copy is applied: if
the counters update had started, it may have landed, and the copy recounts the recipient
from its facts instead of adding to the counters again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# Enough for the concurrent requests one container serves (Lambda: one; chalice local:
# a thread per request). When storage hangs, the threads stay in their calls until
# botocore's timeouts; later writes wait in the pool's queue and are cancelled at their
# deadline, so a hung storage never grows the number of threads.
WORKERS = 8
_POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="fetch-write")

# The storage step after which a write may have counted (``recording.record_fetch``).
COUNTING = "count"


class Abandoned(Exception):
    """Raised into an abandoned write before its next storage call."""


class Attempt:
    """One write's progress, shared by the request and the thread doing the write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = False
        self._counting = False

    def step(self, name: str) -> None:
        """Called by the write before each storage call."""
        with self._lock:
            if self._abandoned:
                raise Abandoned(name)
            if name == COUNTING:
                self._counting = True

    def abandon(self) -> bool:
        """Stop the write at its next step; True when it may have counted already."""
        with self._lock:
            self._abandoned = True
            return self._counting


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a write under a deadline came to: its result, or why it has none."""

    value: T | None = None
    missed: bool = False  # the deadline passed, or the write failed
    may_have_counted: bool = False


def run_within(
    seconds: float,
    write: Callable[[Attempt], T],
    when_late: Callable[[], None] = lambda: None,
) -> Outcome[T]:
    """Run ``write`` and wait for it at most ``seconds``. If it has not answered after
    half of them, ``when_late`` runs meanwhile, in the waiting thread (the fallback
    queue's client is built then: a deferred fetch then waits on the queue alone, and a
    write that answers in time never pays it)."""
    attempt = Attempt()
    started = time.monotonic()
    future: Future[T] = _POOL.submit(write, attempt)
    try:
        try:
            return Outcome(value=future.result(timeout=seconds / 2))
        except FutureTimeout:
            with contextlib.suppress(Exception):  # the queue's own failure shows later
                when_late()
        left = max(0.0, seconds - (time.monotonic() - started))
        return Outcome(value=future.result(timeout=left))
    except FutureTimeout:
        future.cancel()  # not started yet: it never will
        return Outcome(missed=True, may_have_counted=attempt.abandon())
    except Exception:  # storage failed fast (throttled, refused...): same fallback
        return Outcome(missed=True, may_have_counted=attempt.abandon())
