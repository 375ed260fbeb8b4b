"""Waiting on a condition with a bounded deadline (tests never sleep for a fixed time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 60.0, interval: float = 0.05, what: str = "") -> T:
    """Call ``probe`` until it returns something truthy (returned) or ``timeout`` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or probe}; last: {last!r}")
        pause.wait(interval)
        last = probe()
    return last
