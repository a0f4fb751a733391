"""What the streaming link reports: :class:`LinkStatus` snapshots and flattened STATS figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LinkStatus:
    """A snapshot of the link for the runtime's status line (counts since start)."""

    state: str
    """``connecting``, ``hello_sent``, ``welcomed``, ``rejected`` or ``stopped``."""
    connected: bool
    """True while welcomed by the trainer."""
    acked_seq: int
    """Highest step seq the trainer has acknowledged as durable (-1: none)."""
    next_seq: int
    """Seq the next recorded batch will start at."""
    pending_batches: int
    """Batches in the spool, not yet acknowledged."""
    pending_steps: int
    """Steps in those batches."""
    queued_steps: int
    """Steps recorded but not yet batched."""
    queue_drops: int
    """Steps refused by :meth:`Link.record` because the queue was full."""
    bad_steps: int
    """Steps refused because they did not match the spec."""
    spool_dropped_steps: int
    """Steps the spool dropped over its disk budget (or failed to write)."""
    batches_sent: int
    """TRANSITIONS frames sent (re-sends included)."""
    batches_resent: int
    """Frames sent again after a reconnect."""
    send_retries: int
    """Sends refused with EAGAIN (retried later)."""
    reconnects: int
    """Fresh sockets after a silent trainer or a REJECT."""
    rejects: int
    """REJECTs received."""
    reject_reason: str
    """The last REJECT's code and reason ('' if none)."""
    policies_received: int
    """POLICY messages handed to the verifier."""
    policy_version: int
    """Version of the running policy (0: none)."""
    policy_age: float | None
    """Seconds since the running policy was exported (None: unknown)."""


def flatten_stats(stats: Mapping[str, Any], prefix: str = "") -> dict[str, float | int]:
    """Numeric leaves of a nested map as ``{"a/b": number}``; bools become 0/1, a list of
    numbers gives ``<key>/last`` and ``<key>/count``; anything else is left out."""
    flat: dict[str, float | int] = {}
    for name, value in stats.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(flatten_stats(value, f"{key}/"))
        elif isinstance(value, bool | np.bool_):
            flat[key] = int(value)
        elif isinstance(value, int | float | np.integer | np.floating):
            flat[key] = value.item() if isinstance(value, np.generic) else value
        elif isinstance(value, list | tuple) and all(
                isinstance(item, int | float) and not isinstance(item, bool) for item in value):
            flat[f"{key}/count"] = len(value)
            if value:
                flat[f"{key}/last"] = value[-1]
    return flat
