"""Alerts on the device: the event type and its time helpers (`event`), the rule engine (`engine`), exposure per
shift (`exposure`), the SQLite event store (`store`), and the sinks events go to (`sinks`, `mqtt` with its durable
`outbox`)."""
