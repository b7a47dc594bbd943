"""The dashboard's web server: aiohttp in its own thread and event loop, beside the frame loop.

Routes: `/` the page, `/login` and `/logout`, `/static/*` its script and style (package data: nothing comes from
the network), `/api/events` the live state as server-sent events at `update_hz`, `/api/state` the same once,
`/api/frame.jpg` the annotated camera view, `/api/ack` acknowledging an alert.

Security: every browser gets a session cookie (HttpOnly, SameSite=Strict, Secure under TLS) that ends
`session_ttl_s` after it was made. With a password hash configured (always on a non-loopback address) a session
comes only from a login; without one (loopback only) it comes with the page, and requests must name a loopback
host (a DNS-rebinding page cannot reach the dashboard under its own name). Actions (acknowledge, logout) need the
session's CSRF token; the login form must come from the dashboard's own origin. Strict headers: a CSP allowing
only the dashboard's own scripts, styles and images, no framing, no caching of live data.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import importlib.util
import json
import math
import socket
import ssl
import threading
import time
from importlib import resources
from urllib.parse import urlsplit

from edge.errors import InputError
from runtime.alerts.event import AlertEvent, utc_iso, utc_now
from runtime.dashboard.auth import LoginThrottle, SessionStore, csrf_ok, verify_password
from runtime.network import is_loopback

COOKIE = "ergoedge_session"
STATIC = ("app.js", "style.css", "favicon.svg")
MAX_STREAMS = 16  # concurrent live pages: each costs a little CPU on a device that has none to spare
HEARTBEAT_S = 15.0
# A live page whose machine stops answering (a tablet leaving the WiFi, a laptop going to sleep: no reset reaches
# the device) is dropped once its data has gone unacknowledged this long, not after TCP's ~15 minutes of retries;
# until then it holds one of the MAX_STREAMS.
STALLED_VIEWER_S = 30.0
_TEMPERATURE_EVERY_S = 2.0
# Password checks running at once, all addresses together: many addresses guessing at once must not take the
# device's cores and memory from the frame loop.
VERIFYING_AT_ONCE = 2
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make forms send "Origin: null"
}


class DashboardServer:
    """Serves `publisher`'s latest state (`runtime.dashboard.publisher`) as `config` says; `start` and `stop` from
    the run's thread."""

    def __init__(self, config, publisher):
        self.config, self.publisher = config, publisher
        self.sessions = SessionStore(config.session_ttl_s)
        self.throttle = LoginThrottle()
        self.acks: dict[str, dict] = {}  # event id -> when and from where it was acknowledged (server thread only)
        self.streams = 0
        self._files = {name: (resources.files("runtime.dashboard") / "static" / name).read_bytes()
                       for name in (*STATIC, "index.html", "login.html")}
        self._encoded: tuple | None = None  # (state seq, acks version, SSE bytes)
        self._acks_version = 0
        self._jpeg: tuple[int, bytes] | None = None
        self._jpeg_lock: asyncio.Lock | None = None
        self._verifying: asyncio.Semaphore | None = None  # made in the server's loop
        self._temps: tuple[float, list] = (0.0, [])
        self._loop_cpu_s = self._render_cpu_s = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closing: asyncio.Event | None = None
        self._runner = None
        self._error: BaseException | None = None
        self.url = ""

    # ---------------------------------------------------------------------------------------------- lifecycle

    def start(self) -> str:
        """Listen on the configured address in a new thread; returns the URL. A port in use, an address this
        machine does not have or an unreadable certificate is an `InputError`."""
        if importlib.util.find_spec("aiohttp") is None:  # one line before any work, not a failing thread
            raise InputError("the dashboard needs aiohttp: pip install 'aiohttp>=3.9'")
        ssl_context = self._ssl_context()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready, ssl_context), name="ergoedge-dashboard",
                                        daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise InputError(f"dashboard: not listening on {self.config.address}:{self.config.port} after 30 s")
        if self._error is not None:
            self._thread.join(5)
            c = self.config
            raise InputError(f"dashboard: cannot listen on {c.address}:{c.port}: {self._error}")
        host = self.config.address if ":" not in self.config.address else f"[{self.config.address}]"
        self.url = f"{'https' if ssl_context else 'http'}://{host}:{self.config.port}/"
        return self.url

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"dashboard TLS: cannot load {self.config.tls_cert} / {self.config.tls_key}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
        return context

    def _main(self, ready: threading.Event, ssl_context) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open(ssl_context))
        except Exception as exc:  # noqa: BLE001 - reported by `start` as one line (port in use, no such address)
            self._error = getattr(exc, "strerror", None) or exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _open(self, ssl_context) -> None:
        from aiohttp import web

        self._closing, self._jpeg_lock = asyncio.Event(), asyncio.Lock()
        self._verifying = asyncio.Semaphore(VERIFYING_AT_ONCE)

        @web.middleware
        async def guard(request, handler):
            return await self._guard(request, handler)

        app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
        app.router.add_get("/", self.index)
        app.router.add_get("/login", self.login_page)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/api/state", self.state)
        app.router.add_get("/api/events", self.events)
        app.router.add_get("/api/frame.jpg", self.frame)
        app.router.add_post("/api/ack", self.ack)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.address, self.config.port, ssl_context=ssl_context)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise

    def stop(self) -> None:
        """Close every connection and the server's thread (waits a few seconds at most)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return

        async def shutdown() -> None:
            self._closing.set()
            await self._runner.cleanup()

        # A server that will not close must not keep the run from ending (its thread is a daemon).
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    # ---------------------------------------------------------------------------------------------- guard

    def _now(self) -> float:
        return time.monotonic()

    def _session(self, request):
        return self.sessions.get(request.cookies.get(COOKIE), self._now())

    def _authorised(self, request):
        """The request's session when it may see the dashboard, else None."""
        session = self._session(request)
        if session is None or (self.config.login_required and not session.authenticated):
            return None
        return session

    async def _guard(self, request, handler):
        """Every request: the host check (loopback without a login), viewer activity, and the security headers
        (on error responses too)."""
        from aiohttp import web

        if not self.config.login_required and not is_loopback(urlsplit(f"//{request.host}").hostname or ""):
            raise web.HTTPForbidden(text="this dashboard answers to localhost only\n")
        self.publisher.touch()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self._headers(request, exc)
            raise
        self._headers(request, response)
        return response

    def _headers(self, request, response) -> None:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")

    def _set_cookie(self, response, session) -> None:
        response.set_cookie(COOKIE, session.sid, max_age=int(self.config.session_ttl_s), path="/", httponly=True,
                            samesite="Strict", secure=self.config.tls or None)

    # ---------------------------------------------------------------------------------------------- pages

    async def index(self, request):
        from aiohttp import web

        session, new = self._authorised(request), False
        if session is None:
            if self.config.login_required:
                raise web.HTTPSeeOther("/login")
            session, new = self.sessions.create(self._now(), authenticated=False, address=request.remote or ""), True
        page = self._files["index.html"].decode("utf-8")
        page = page.replace("{{csrf}}", html.escape(session.csrf)).replace(
            "{{camera}}", html.escape(self.publisher.camera)).replace(
            "{{logout}}", "" if self.config.login_required else "hidden")
        response = web.Response(text=page, content_type="text/html")
        if new:
            self._set_cookie(response, session)
        return response

    async def login_page(self, request, message: str = "", status: int = 200):
        from aiohttp import web

        if not self.config.login_required or self._authorised(request) is not None and not message:
            raise web.HTTPSeeOther("/")
        page = self._files["login.html"].decode("utf-8").replace("{{camera}}", html.escape(self.publisher.camera))
        page = page.replace("{{message}}", html.escape(message)).replace("{{hidden}}", "" if message else "hidden")
        return web.Response(text=page, content_type="text/html", status=status)

    async def login(self, request):
        from aiohttp import web

        if not self.config.login_required:
            raise web.HTTPSeeOther("/")
        if not self._same_origin(request):
            raise web.HTTPForbidden(text="login form from another site\n")
        address, now = request.remote or "", self._now()
        wait = self.throttle.locked(address, now)
        if wait > 0:
            return await self.login_page(request, f"too many wrong passwords: try again in {wait:.0f} s", 429)
        # Counted as wrong before the first await, cleared when right: guesses sent at once cannot all pass the
        # check above while the first ones are still being verified.
        self.throttle.failed(address, now)
        form = await request.post()
        password = form.get("password", "")
        loop = asyncio.get_running_loop()
        async with self._verifying:  # scrypt costs 16 MiB and tens of ms each: a few at a time, off the loop
            ok = isinstance(password, str) and await loop.run_in_executor(
                None, verify_password, password, self.config.password_hash)
        if not ok:
            return await self.login_page(request, "wrong password", 401)
        self.throttle.succeeded(address)
        old = self._session(request)
        if old is not None:
            self.sessions.drop(old.sid)  # a fresh id at login: a planted cookie cannot ride the login
        response = web.Response(status=303, headers={"Location": "/"})
        self._set_cookie(response, self.sessions.create(self._now(), authenticated=True, address=address))
        return response

    async def logout(self, request):
        from aiohttp import web

        session = self._session(request)
        form = await request.post()
        if not csrf_ok(session, form.get("csrf") or request.headers.get("X-CSRF-Token")):
            raise web.HTTPForbidden(text="missing or wrong CSRF token\n")
        self.sessions.drop(session.sid)
        response = web.Response(status=303, headers={"Location": "/login" if self.config.login_required else "/"})
        response.del_cookie(COOKIE, path="/")
        return response

    def _same_origin(self, request) -> bool:
        """Whether a form post came from this dashboard (Origin, else Referer; browsers send one of them)."""
        source = request.headers.get("Origin") or request.headers.get("Referer")
        if not source or source == "null":
            return False
        return urlsplit(source).netloc == request.host

    async def static(self, request):
        from aiohttp import web

        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        kind = {"js": "application/javascript", "css": "text/css", "svg": "image/svg+xml"}[name.rpartition(".")[2]]
        return web.Response(body=self._files[name], content_type=kind, headers={"Cache-Control": "no-cache"})

    # ---------------------------------------------------------------------------------------------- live data

    def _require(self, request):
        from aiohttp import web

        session = self._authorised(request)
        if session is None:
            raise web.HTTPUnauthorized(text="log in first\n")
        return session

    def _state_bytes(self) -> bytes | None:
        """The latest state as JSON with the acknowledgements and temperatures merged in, encoded once per change."""
        state = self.publisher.state
        if state is None:
            return None
        cached = self._encoded
        if cached is not None and cached[0] == state.seq and cached[1] == self._acks_version:
            return cached[2]
        alerts = [{**a, "acknowledged": self.acks.get(a["event_id"])} for a in state.data["alerts"]]
        if len(self.acks) > 256:  # only the acknowledgements of alerts still active are worth keeping
            live = {a["event_id"] for a in alerts}
            self.acks = {k: v for k, v in self.acks.items() if k in live}
        data = {**state.data, "alerts": alerts, "seq": state.seq,
                "health": {**state.data["health"], "temperatures": self._temperatures(),
                           "dashboard_cpu_s": round(self.cpu_seconds(), 3)}}
        try:
            body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8")
        except ValueError:  # a NaN somewhere (JSON has none): null, as everywhere else in the state
            body = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False).encode("utf-8")
        self._encoded = (state.seq, self._acks_version, body)
        return body

    def cpu_seconds(self) -> float:
        """CPU seconds the dashboard has used: the server thread's (called in it), the camera views' drawing and
        encoding, and the publisher's work in the frame thread."""
        if threading.current_thread() is self._thread:
            self._loop_cpu_s = time.thread_time()
        return self._loop_cpu_s + self._render_cpu_s + self.publisher.cpu_s

    def _render(self, view) -> bytes:
        start = time.thread_time()
        try:
            return render_view(view, self.config)
        finally:
            self._render_cpu_s += time.thread_time() - start  # one render at a time (under the JPEG lock)

    def _temperatures(self) -> list:
        from runtime.dashboard.snapshot import read_temperatures

        if self._now() - self._temps[0] > _TEMPERATURE_EVERY_S:
            self._temps = (self._now(), read_temperatures())
        return self._temps[1]

    async def state(self, request):
        from aiohttp import web

        self._require(request)
        body = self._state_bytes()
        if body is None:
            return web.Response(status=204)
        return web.Response(body=body, content_type="application/json")

    async def events(self, request):
        """Server-sent events: the state each time it changes (checked `update_hz` times a second); an "expired"
        event when the session ends, after which the page goes to the login."""
        from aiohttp import web

        session = self._require(request)
        if self.streams >= MAX_STREAMS:
            raise web.HTTPServiceUnavailable(text="too many open dashboards\n")
        drop_when_unanswered(request.transport.get_extra_info("socket") if request.transport else None,
                             STALLED_VIEWER_S)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        self.streams += 1
        try:
            await response.prepare(request)
            await self._stream(response, session)
        except ConnectionError:
            pass  # the page went away
        finally:
            self.streams -= 1
        return response

    async def _stream(self, response, session) -> None:
        period, sent, last_write = 1.0 / self.config.update_hz, None, self._now()
        await response.write(b"retry: 2000\n\n")
        while not self._closing.is_set():
            if self.sessions.get(session.sid, self._now()) is None:
                await response.write(b"event: expired\ndata: {}\n\n")
                return
            self.publisher.touch()
            body = self._state_bytes()
            key = (self._encoded[0], self._encoded[1]) if body is not None else None
            if body is not None and key != sent:
                await response.write(b"data: " + body + b"\n\n")
                sent, last_write = key, self._now()
            elif self._now() - last_write > HEARTBEAT_S:
                await response.write(b": keep-alive\n\n")
                last_write = self._now()
            try:
                await asyncio.wait_for(self._closing.wait(), period)
            except asyncio.TimeoutError:
                pass

    async def frame(self, request):
        """The latest camera view as JPEG: drawn, scaled and encoded once per frame kept, in a worker thread."""
        from aiohttp import web

        self._require(request)
        if self.config.video_fps == 0:
            raise web.HTTPNotFound(text="the camera view is off (dashboard.video_fps = 0)\n")
        view = self.publisher.view
        if view is None:
            return web.Response(status=204)
        async with self._jpeg_lock:
            if self._jpeg is None or self._jpeg[0] != view.seq:
                loop = asyncio.get_running_loop()
                self._jpeg = (view.seq, await loop.run_in_executor(None, self._render, view))
        return web.Response(body=self._jpeg[1], content_type="image/jpeg", headers={"X-Frame-Seq": str(view.seq)})

    async def ack(self, request):
        """Acknowledge an active alert by its event id (JSON {"event_id": ...}, the CSRF token in X-CSRF-Token)."""
        from aiohttp import web

        session = self._require(request)
        if not csrf_ok(session, request.headers.get("X-CSRF-Token")):
            raise web.HTTPForbidden(text="missing or wrong CSRF token\n")
        try:
            event_id = (await request.json())["event_id"]
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest(text='expected JSON {"event_id": "..."}\n') from None
        state = self.publisher.state
        alert = next((a for a in (state.data["alerts"] if state else []) if a["event_id"] == event_id), None)
        if alert is None:
            raise web.HTTPNotFound(text="no such active alert\n")
        if event_id not in self.acks:
            now = utc_now()
            self.acks[event_id] = {"at": utc_iso(now), "from": request.remote or ""}
            self._acks_version += 1
            self.publisher.acks.append(_ack_event(alert, state.data, now, request.remote or "unknown"))
        return web.json_response({"event_id": event_id, "acknowledged": self.acks[event_id]})


def _finite(value):
    """`value` with every NaN or infinity (nested) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _ack_event(alert: dict, state: dict, now, remote: str) -> AlertEvent:
    """The "acknowledged" event for the sinks: the alert's rule, person and values, at the current stream time."""
    return AlertEvent(kind="acknowledged", rule=alert["rule"], person=alert["person"], severity=alert["severity"],
                      time_s=float(state["t"]), wall_time=utc_iso(now), value=float(alert["value"] or 0.0),
                      threshold=float(alert["threshold"]), duration_s=max(0.0, float(state["t"]) - alert["time_s"]),
                      camera=state["camera"],
                      message=f"{alert['rule']} acknowledged on the dashboard from {remote} "
                              f"(raised {alert['raised']}, event {alert['event_id']})")


def render_view(view, config) -> bytes:
    """The camera view as the run's outputs draw it (face blur and overlay as configured), at most `max_width`
    wide, as JPEG."""
    import cv2

    image = view.draw(view.image, view.people, view.metrics, view.active, view.output, view.status_line)
    h, w = image.shape[:2]
    if w > config.max_width:
        image = cv2.resize(image, (config.max_width, round(h * config.max_width / w)), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(config.jpeg_quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return jpeg.tobytes()


def drop_when_unanswered(sock, seconds: float) -> bool:
    """Have the kernel end `sock`'s TCP connection once data sent on it has gone unacknowledged for `seconds`
    (Linux TCP_USER_TIMEOUT). False where the platform lacks the option or `sock` is not a TCP socket."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is None or sock is None:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, option, int(seconds * 1000))
    except OSError:
        return False
    return True
