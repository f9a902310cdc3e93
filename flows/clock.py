"""The one clock: naive UTC, the only time zone stored anywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, in naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
