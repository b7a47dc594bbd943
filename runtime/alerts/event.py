"""The alert event (what the alert engine emits and every sink stores or sends) and the wall-time helpers every
alert module shares: all wall times are aware UTC, stored as ISO-8601 with microseconds."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from edge.errors import InputError


@dataclass(frozen=True)
class AlertEvent:
    """One alert state change for one person.

    kind: "raised" when a rule's condition has held long enough, "cleared" when it has released (hysteresis).
    time_s: stream time in seconds (the frame's timestamp); wall_time: ISO-8601 UTC when it was emitted.
    event_id: unique (a sink that receives an event twice, e.g. MQTT QoS 1 redelivery, can de-duplicate on it).
    """

    kind: str
    rule: str
    person: int
    severity: str
    time_s: float
    wall_time: str
    value: float
    threshold: float
    duration_s: float
    camera: str = ""
    message: str = ""
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AlertEvent":
        return cls(**data)


def parse_utc(when: str | datetime) -> datetime:
    """An aware UTC datetime from an ISO-8601 string or a datetime; naive values are taken as UTC."""
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"not an ISO-8601 time: {when!r}") from None
    elif not isinstance(when, datetime):
        raise InputError(f"expected an ISO-8601 string or a datetime, got {when!r}")
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is in year 10000 in UTC
        raise InputError(f"{when.isoformat()} is outside the years 1 to 9999 in UTC") from None


def utc_iso(when: str | datetime) -> str:
    """The canonical stored form: UTC, microseconds, explicit offset."""
    return parse_utc(when).isoformat(timespec="microseconds")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
