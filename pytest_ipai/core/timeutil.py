"""UTC timestamps in one format (ISO 8601, milliseconds, ``Z``) for every file we write."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def now_iso() -> str:
    """The current UTC time as :func:`iso` writes it."""
    return iso(datetime.now(UTC))


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def epoch_ms(text: str | None) -> int | None:
    return None if not text else int(parse_iso(text).timestamp() * 1000)
