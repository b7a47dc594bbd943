"""The alert event: what the alert engine emits and every sink stores or sends."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field


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
