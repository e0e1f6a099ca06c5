"""Retention: which backups to keep (default 7 daily, 4 weekly, 3 monthly), as a pure function.

The newest backup of each of the last N days / ISO weeks / months is kept; so are the newest
verified backup and the backup tied to the last known good deploy, whatever their age.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Policy:
    daily: int = 7
    weekly: int = 4
    monthly: int = 3


@dataclass(frozen=True)
class Item:
    id: str
    created: datetime
    verified: bool
    deploy_sha: str | None = None


def keep(
    items: Sequence[Item], policy: Policy, last_known_good: str | None = None
) -> dict[str, str]:
    """Backups to keep, each with the reason; everything else may go."""
    reasons: dict[str, str] = {}
    newest_first = sorted(items, key=lambda i: i.created, reverse=True)
    buckets = (
        ("daily", policy.daily, lambda d: d.strftime("%Y-%m-%d")),
        ("weekly", policy.weekly, lambda d: "{}-W{:02d}".format(*d.isocalendar()[:2])),
        ("monthly", policy.monthly, lambda d: d.strftime("%Y-%m")),
    )
    for label, count, key in buckets:
        seen: list[str] = []
        for item in newest_first:
            period = key(item.created)
            if period in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(period)
            reasons.setdefault(item.id, f"{label} {period}")
    verified = next((i for i in newest_first if i.verified), None)
    if verified is not None:
        reasons.setdefault(verified.id, "newest verified")
    if last_known_good:
        for item in newest_first:
            if item.deploy_sha == last_known_good:
                reasons[item.id] = "last known good deploy"
                break
    return reasons
