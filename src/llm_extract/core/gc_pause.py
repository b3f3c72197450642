"""Python's cycle collector paused around bulk work that makes many small objects and no reference cycles.

The collector rescans every live object each time enough new ones pile up; scoring (a FieldResult and its
Counts per field) and fusion (one event per report) made it do so thousands of times and it took half their
time (bench/scoring.py, bench/fusion.py), finding nothing. Objects are collected as usual after the block.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
