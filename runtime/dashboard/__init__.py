"""The live dashboard served by the device (`ergoedge run --dashboard [ADDR:]PORT`, or `[dashboard]` in the run config).

The run's frame loop calls a `DashboardPublisher` once per frame (`runtime.dashboard.publisher`); the web server
(aiohttp, in its own thread and event loop: `runtime.dashboard.server`) reads the latest snapshot the publisher
left and pushes it to browsers by server-sent events. The frame path never waits for the web side: the publisher
only swaps a reference at a few Hz, and every drawing, JPEG encoding and JSON encoding happens in the server thread.

Nothing is imported here at package import: `runtime.config` imports `runtime.dashboard.config`, which must stay light.
"""
