"""Video on the device through GStreamer: one initialisation (`gst`), source URIs (`uri`), pipeline descriptions as
pure functions (`pipelines`), the running source with reconnection (`source`), the annotated outputs (`outputs`)
and the overlay drawn on them (`overlay`)."""
