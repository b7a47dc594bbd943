"""The live dashboard (issue 15, deliverable 1), seen the way a supervisor sees it: `ergoedge run --dashboard` on the
real pose2sim clip, driven in Debian's headless chromium with selenium.

- On loopback: the page loads from the running device with every asset from it, live values and the camera view
  change, an alert appears and is acknowledged (the acknowledgement reaches alerts.jsonl, the event store and the
  report), and a screenshot is kept (build/test-artifacts/dashboard.png).
- Bound to 0.0.0.0 (connected through 127.0.0.1: tests send nothing to non-loopback addresses): nothing without a
  login, a wrong password refused, a foreign login form refused, actions refused without the CSRF token, and the
  session ending after `session_ttl_s` (the page goes back to the login by itself).
- Before any work: no password hash on a non-loopback address, a port in use; `ergoedge dashboard set-password`;
  TLS with a Secure cookie; the pure parts (hash, sessions, throttle, body parts, temperatures) with explicit values.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import InputError

REPO = Path(__file__).resolve().parents[1]
ARTIFACT = REPO / "build" / "test-artifacts" / "dashboard.png"
PASSWORD = "correct horse battery"
RULE = ('[[alerts.rules]]\nname = "reba_test"\nmetric = "reba_total"\nthreshold = 2\ndirection = "at_least"\n'
        'min_duration_s = 0.2\n')  # REBA >= 2 for 0.2 s: raised within the clip's first second, held while in view
FETCH = ("const [url, opts, done] = arguments; fetch(url, opts)"
         ".then(r => r.text().then(t => done([r.status, t]))).catch(e => done([0, String(e)]));")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def looped_clip(footage, tmp_path_factory) -> Path:
    """The real cam01 clip 8 times over (13 s at 60 fps), remuxed by GStreamer without re-encoding, so that a run
    lasts long enough to be watched."""
    from runtime.video.gst import gst

    clip = footage / "pose2sim" / "cam01.mp4"
    out = tmp_path_factory.mktemp("clip") / "cam01x8.mp4"
    branches = " ".join(f'filesrc location="{clip}" ! qtdemux ! h264parse ! c.' for _ in range(8))
    Gst = gst().Gst
    pipeline = Gst.parse_launch(f'concat name=c ! h264parse ! mp4mux ! filesink location="{out}" {branches}')
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert message is not None and message.type == Gst.MessageType.EOS and out.stat().st_size > 1_000_000
    return out


def start_run(tmp: Path, source: Path, listen: str, config: str) -> subprocess.Popen:
    """`ergoedge run --dashboard LISTEN` as the device runs it; returns once the dashboard answers."""
    (tmp / "run.toml").write_text(config)
    cmd = [sys.executable, "-m", "edge", "run", "--source", str(source), "--config", str(tmp / "run.toml"),
           "--out", str(tmp / "out"), "--events-db", str(tmp / "events.db"), "--dashboard", listen]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(tmp / "stdout.txt", "w") as out, open(tmp / "stderr.txt", "w") as err:  # the child keeps its copies
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
    port = int(listen.rpartition(":")[2])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp / "stderr.txt").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the dashboard never answered: {(tmp / 'stderr.txt').read_text()}")


def stop_run(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=60)


def http(url: str, cookie: str | None = None, data: bytes | None = None, headers: dict | None = None,
         context=None) -> tuple[int, dict, bytes]:
    """One request, redirects not followed: (status, headers, body)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, data=data, headers={**(headers or {}),
                                                              **({"Cookie": cookie} if cookie else {})})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_for(driver, condition, timeout: float = 20.0, what: str = ""):
    """`condition(driver)` polled until true; an element that went stale or missing while the page (re)loads is
    polled again, not an error."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(
        StaleElementReferenceException, NoSuchElementException)).until(lambda d: _polled(condition, d), message=what)


def _polled(condition, driver):
    """`condition(driver)`, False when chromedriver reports the element gone with the page it was found in: a
    navigation between finding it and reading it (e.g. the login form posting) surfaces as a generic error, "Node
    with given id does not belong to the document", rather than as a stale element."""
    from selenium.common.exceptions import WebDriverException

    try:
        return condition(driver)
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc.msg):
            return False
        raise


def text_of(driver, css: str) -> str:
    """The element's text, read in one script (the page redraws its panels at update_hz, so an element found in one
    call may be gone in the next)."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
                                 css)


# ------------------------------------------------------------------------------------------- on the device, loopback


def test_the_live_dashboard_on_a_real_clip(looped_clip, tmp_path, browser):
    from PIL import Image
    from selenium.webdriver.common.by import By

    from runtime.alerts.store import EventReader

    port = free_port()
    proc = start_run(tmp_path, looped_clip, f"127.0.0.1:{port}",
                     f'camera = "cam01"\n[sinks]\nstdout = false\n[dashboard]\nupdate_hz = 5\n{RULE}')
    try:
        url = f"http://127.0.0.1:{port}/"
        browser.get(url)
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#people .person"), what="no person shown")
        # Live: stream time, frame count and the camera view move on without a reload.
        t0, frames0 = float(text_of(browser, "#stream-t")), int(text_of(browser, 'dd[data-key="frames"]'))
        wait_for(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-seq"), what="no camera view")
        view0 = int(browser.find_element(By.ID, "view").get_attribute("data-seq"))
        wait_for(browser, lambda d: float(text_of(d, "#stream-t")) > t0 + 0.3
                 and int(text_of(d, 'dd[data-key="frames"]')) > frames0
                 and int(d.find_element(By.ID, "view").get_attribute("data-seq")) > view0, what="nothing changed")
        assert text_of(browser, "#status") == "live" and text_of(browser, "#privacy") == "faces blurred"
        # One script reads the person card at once: the panel is redrawn at update_hz.
        reba, rula, l5s1, bars = browser.execute_script(
            "const p = document.querySelector('#people .person'); return [p.querySelector('.reba').textContent, "
            "p.querySelector('.rula').textContent, p.querySelector('.l5s1').textContent, "
            "p.querySelectorAll('.parts .bar').length];")
        assert 1 <= int(reba) <= 15 and 1 <= int(rula) <= 7 and l5s1.endswith(" N")
        assert bars == 6  # REBA's six body parts
        size = browser.execute_script("const i = document.getElementById('view'); return [i.naturalWidth, "
                                      "i.naturalHeight];")
        assert size == [960, 1707]  # the 1080x1920 clip scaled to dashboard.max_width
        origins = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
        assert origins and all(name.startswith(url) for name in origins), origins  # nothing from elsewhere

        # An alert appears and is acknowledged.
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#alerts li.alert button.ack"), what="no alert")
        item = browser.find_element(By.CSS_SELECTOR, "#alerts li.alert")
        event_id = item.get_attribute("data-event")
        assert "reba_test" in item.text
        item.find_element(By.CSS_SELECTOR, "button.ack").click()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'li[data-event="{event_id}"] .acked'),
                 what="the acknowledgement never showed")
        log = tmp_path / "out" / "alerts.jsonl"
        wait_for(browser, lambda _d: log.exists() and '"acknowledged"' in log.read_text(), 10, "ack not in the log")
        acks = [e for e in map(json.loads, log.read_text().splitlines()) if e["kind"] == "acknowledged"]
        assert len(acks) == 1 and acks[0]["rule"] == "reba_test" and event_id in acks[0]["message"]
        raised = next(e for e in map(json.loads, log.read_text().splitlines()) if e["event_id"] == event_id)
        assert raised["kind"] == "raised" and acks[0]["person"] == raised["person"]
        status, body = browser.execute_async_script(FETCH, "/api/ack", {
            "method": "POST", "headers": {"Content-Type": "application/json", "X-CSRF-Token": browser.execute_script(
                "return document.querySelector('meta[name=csrf-token]').content")},
            "body": json.dumps({"event_id": event_id})})
        assert status == 200 and json.loads(body)["acknowledged"]["from"] == "127.0.0.1"  # once only, same record

        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#exposure tr[data-person="0"] .stack span'))
        assert float(text_of(browser, 'dd[data-key="fps"]').split()[0]) > 0
        shot = tmp_path / "dashboard.png"
        assert browser.save_screenshot(str(shot))
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, ARTIFACT)
        image = Image.open(shot).convert("RGB")
        assert image.size[0] >= 1200 and len(image.getcolors(1 << 20) or []) > 500  # a picture, not a blank page
        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe  # no script error, no CSP violation, no missing asset
    finally:
        code = stop_run(proc)
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["alert_counts"]["acknowledged"] == {"reba_test": 1}
    with EventReader(tmp_path / "events.db") as reader:
        stored = [r for r in reader.query(rule="reba_test", limit=100) if r["kind"] == "acknowledged"]
    assert len(stored) == 1 and event_id in stored[0]["message"]


# ------------------------------------------------------------------------------------------- off loopback: login


def test_login_csrf_and_expiry_when_bound_beyond_loopback(footage, tmp_path, browser, monkeypatch, capsys):
    from selenium.webdriver.common.by import By

    config = tmp_path / "run.toml"
    # The login must outlast the clip's run on a loaded machine (the clip ends, then the session does).
    config.write_text(f'camera = "cam01"\n[sinks]\nstdout = false\n[dashboard]\nsession_ttl_s = 15\nlinger_s = 60\n'
                      f'{RULE}')
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["dashboard", "set-password", "--stdin", "--config", str(config)]) == 0
    port = free_port()
    proc = start_run(tmp_path, footage / "pose2sim" / "cam01.mp4", f"0.0.0.0:{port}", config.read_text())
    try:
        url = f"http://127.0.0.1:{port}/"
        # Nothing without a session: the page sends to the login, the data answers 401.
        status, headers, _ = http(url)
        assert status == 303 and headers["Location"] == "/login"
        for path in ("api/state", "api/frame.jpg", "api/events"):
            assert http(url + path)[0] == 401, path
        form = f"password={PASSWORD.replace(' ', '+')}".encode()
        assert http(url + "login", data=form, headers={"Origin": "http://evil.example"})[0] == 403
        browser.delete_all_cookies()
        browser.get(url)
        assert browser.current_url == url + "login"
        browser.find_element(By.ID, "password").send_keys("not the password")
        browser.find_element(By.ID, "login-button").click()
        wait_for(browser, lambda d: d.find_element(By.ID, "login-message").is_displayed())
        assert text_of(browser, "#login-message") == "wrong password" and browser.current_url == url + "login"
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login-button").click()
        wait_for(browser, lambda d: d.current_url == url and d.find_elements(By.CSS_SELECTOR, "body[data-seq]"))
        logged_in = time.monotonic()
        # The 1.7 s clip has ended: `linger_s` keeps its final state served, and the page says so.
        wait_for(browser, lambda d: text_of(d, "#status") == "source ended", what="no final state")
        assert text_of(browser, "#people .person .reba") is not None
        cookie = browser.get_cookie("ergoedge_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
        jar = f"ergoedge_session={cookie['value']}"
        status, _, body = http(url + "api/state", cookie=jar)
        assert status == 200 and json.loads(body)["camera"] == "cam01"

        # Actions need the session's CSRF token: none or a wrong one is refused; the right one gets through.
        token = browser.execute_script("return document.querySelector('meta[name=csrf-token]').content")
        post = {"method": "POST", "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"event_id": "0" * 32})}
        assert browser.execute_async_script(FETCH, "/api/ack", post)[0] == 403
        wrong = {**post, "headers": {**post["headers"], "X-CSRF-Token": "x" * len(token)}}
        assert browser.execute_async_script(FETCH, "/api/ack", wrong)[0] == 403
        right = {**post, "headers": {**post["headers"], "X-CSRF-Token": token}}
        assert browser.execute_async_script(FETCH, "/api/ack", right)[0] == 404  # past CSRF: no such alert
        assert browser.execute_async_script(FETCH, "/logout", {"method": "POST"})[0] == 403
        assert http(url + "api/state", cookie=jar)[0] == 200  # the refused logout did not log out

        # The session ends session_ttl_s after the login: the open page goes to the login by itself.
        wait_for(browser, lambda d: d.current_url == url + "login", 25, "the page stayed after expiry")
        assert time.monotonic() - logged_in >= 15 - 0.5
        assert http(url + "api/state", cookie=jar)[0] == 401
    finally:
        code = stop_run(proc)
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    assert "login required" in (tmp_path / "stderr.txt").read_text()


# ------------------------------------------------------------------------------------------- before any work


def test_no_password_hash_off_loopback_is_one_line_before_any_work(footage, tmp_path, capsys):
    out, db = tmp_path / "out", tmp_path / "events.db"
    code = main(["run", "--source", str(footage / "pose2sim" / "cam01.mp4"), "--dashboard", "0.0.0.0:8080",
                 "--out", str(out), "--events-db", str(db)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "dashboard.password_hash" in err, err
    assert not out.exists() and not db.exists()
    for bad in ("http://x:80", "0.0.0.0:", "99999", "a:b:80"):
        assert main(["run", "--source", "test://", "--dashboard", bad, "--out", str(out)]) == 2
        assert "--dashboard" in capsys.readouterr().err


def test_a_port_in_use_is_one_line_and_leaves_nothing(tmp_path, capsys, blazepose_models):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["run", "--source", "test://", "--dashboard", str(port), "--out", str(tmp_path / "out"),
                     "--events-db", str(tmp_path / "e.db")])
    err = capsys.readouterr().err
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "e.db").exists()


def test_set_password_edits_only_its_line_and_keeps_the_mode(tmp_path, monkeypatch, capsys):
    from runtime.config import load_config
    from runtime.dashboard.auth import verify_password

    config = tmp_path / "run.toml"
    text = '# line 3\ncamera = "line3"\n\n[dashboard]  # the screen\nport = 8080\npassword_hash = "old"\n\n' \
           '[pose]\nmax_people = 2\n'
    config.write_text(text)
    config.chmod(0o640)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["dashboard", "set-password", "--stdin", "--config", str(config)]) == 0
    new = config.read_text()
    assert new.replace(new.splitlines()[5], 'password_hash = "old"') == text  # one line changed
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    loaded = load_config(config)
    assert loaded.dashboard.port == 8080 and loaded.pose.max_people == 2
    assert verify_password(PASSWORD, loaded.dashboard.password_hash)
    assert not verify_password(PASSWORD + "!", loaded.dashboard.password_hash)
    # Printed when there is no config; too short refused; an inline table is never guessed at.
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    capsys.readouterr()
    assert main(["dashboard", "set-password", "--stdin"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("[dashboard]\npassword_hash = \"scrypt$16384$8$1$")
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["dashboard", "set-password", "--stdin"]) == 2 and "at least 8" in capsys.readouterr().err
    inline = tmp_path / "inline.toml"
    inline.write_text("dashboard = { port = 8080 }\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["dashboard", "set-password", "--stdin", "--config", str(inline)]) == 2
    assert "cannot place the hash safely" in capsys.readouterr().err
    assert inline.read_text() == "dashboard = { port = 8080 }\n"
    latin = tmp_path / "latin.toml"  # not UTF-8: refused in one line and left as it was
    latin.write_bytes(b'camera = "\xff\xfe"\n')
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["dashboard", "set-password", "--stdin", "--config", str(latin)]) == 2
    assert "not a readable UTF-8 text file" in capsys.readouterr().err
    assert latin.read_bytes() == b'camera = "\xff\xfe"\n'


def test_tls_serves_https_with_a_secure_cookie(tmp_path):
    from runtime.dashboard.auth import hash_password
    from runtime.dashboard.config import DashboardConfig
    from runtime.dashboard.publisher import DashboardPublisher

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    config = DashboardConfig(port=port, address="0.0.0.0", password_hash=hash_password(PASSWORD),
                             tls_cert=str(cert), tls_key=str(key))
    publisher = DashboardPublisher(config, "cam", "run", status=None)
    assert publisher.start() == f"https://0.0.0.0:{port}/"
    try:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        url = f"https://127.0.0.1:{port}/"
        assert http(url + "login", context=context)[0] == 200
        status, headers, _ = http(url + "login", data=f"password={PASSWORD.replace(' ', '+')}".encode(),
                                  headers={"Origin": f"https://127.0.0.1:{port}"}, context=context)
        assert status == 303 and all(flag in headers["Set-Cookie"] for flag in ("Secure", "HttpOnly",
                                                                                  "SameSite=Strict"))
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)  # no plain http on a TLS port
    finally:
        publisher.server.stop()


# ------------------------------------------------------------------------------------------- the pure parts


def test_password_hash_round_trip_and_refusals():
    from runtime.dashboard.auth import hash_password, parse_hash, verify_password
    from runtime.dashboard.config import DashboardConfig

    stored = hash_password(PASSWORD, salt=b"0123456789abcdef")
    assert stored == hash_password(PASSWORD, salt=b"0123456789abcdef") != hash_password(PASSWORD)
    n, r, p, salt, key = parse_hash(stored)
    assert (n, r, p, salt, len(key)) == (16384, 8, 1, b"0123456789abcdef", 32)
    assert verify_password(PASSWORD, stored) and not verify_password("correct horse batterx", stored)
    for bad in ("", "plain", stored.replace("16384", "3"), stored.replace("$8$", "$99$"), "scrypt$16384$8$1$!!$!!"):
        with pytest.raises(InputError) as info:
            DashboardConfig(password_hash=bad)
        assert bad == "" or bad not in str(info.value)  # the value itself is never repeated
    with pytest.raises(InputError, match="tls_cert and dashboard.tls_key go together"):
        DashboardConfig(tls_cert="/etc/hostname")
    assert DashboardConfig(port=80, address="::1").login_required is False  # loopback alone needs no login


def test_sessions_expire_and_logins_are_throttled():
    from runtime.dashboard.auth import LoginThrottle, SessionStore, csrf_ok

    store = SessionStore(ttl_s=10, max_sessions=3)
    first = store.create(100.0, authenticated=True)
    assert store.get(first.sid, 109.9) is first and store.get(first.sid, 110.0) is None and len(store) == 0
    sessions = [store.create(200.0 + i, authenticated=False) for i in range(4)]
    assert store.get(sessions[0].sid, 204.0) is None and store.get(sessions[3].sid, 204.0) is sessions[3]
    assert csrf_ok(sessions[3], sessions[3].csrf) and not csrf_ok(sessions[3], sessions[2].csrf)
    assert not csrf_ok(None, "x") and not csrf_ok(sessions[3], None)
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=30)
    for t in (0.0, 10.0):
        throttle.failed("a", t)
    assert throttle.locked("a", 11.0) == 0.0
    throttle.failed("a", 20.0)
    assert throttle.locked("a", 21.0) == 29.0 and throttle.locked("b", 21.0) == 0.0
    assert throttle.locked("a", 50.0) == 0.0
    throttle.failed("a", 100.0)  # the three latest span 90 s, more than the window
    assert throttle.locked("a", 101.0) == 0.0
    throttle.succeeded("a")
    assert throttle.locked("a", 0.0) == 0.0


def test_guesses_sent_at_once_are_throttled_like_guesses_in_a_row(tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from runtime.dashboard.auth import hash_password
    from runtime.dashboard.config import DashboardConfig
    from runtime.dashboard.server import DashboardServer

    config = DashboardConfig(port=free_port(), address="127.0.0.1", password_hash=hash_password("the-right-password-9"))
    server = DashboardServer(config, SimpleNamespace(camera="cam01", touch=lambda: None))  # the login needs no more
    url = server.start()
    try:
        form = b"password=wrong-guess"
        headers = {"Origin": url.rstrip("/"), "Content-Type": "application/x-www-form-urlencoded"}
        with ThreadPoolExecutor(24) as pool:
            statuses = list(pool.map(lambda _: http(url + "login", data=form, headers=headers)[0], range(24)))
        # Five wrong passwords a minute from one address (LoginThrottle): checked at most five, the rest refused
        # before any scrypt runs. Counting a guess only once it was verified let nearly all 24 through.
        assert statuses.count(401) <= 5 and statuses.count(429) >= 19 and set(statuses) <= {401, 429}
    finally:
        server.stop()


def test_the_body_parts_that_drive_the_scores():
    from runtime.dashboard.snapshot import active_alerts, person_view

    metrics = {"reba_total": 9.0, "rula_grand": 6.0, "reba_neck": 1.0, "reba_trunk": 4.0, "reba_legs": 1.0,
               "reba_upper_arm_left": 2.0, "reba_upper_arm_right": 5.0, "reba_lower_arm_left": 1.0,
               "reba_lower_arm_right": float("nan"), "reba_wrist_left": 1.0, "reba_wrist_right": 1.0,
               "rula_neck": 2.0, "rula_trunk": 6.0, "l5s1_compression_n": float("nan"), "activity": "bend"}
    view = person_view(3, metrics, ["reba_high"])
    assert [(p["part"], p["side"], p["score"]) for p in view["reba_parts"][:2]] == [("upper arm", "right", 5.0),
                                                                                    ("trunk", None, 4.0)]
    assert view["reba_parts"][0]["level"] == 0.8 and view["reba_drivers"] == ["upper arm (right)", "trunk"]
    assert view["rula_drivers"] == ["trunk"] and view["risk"] == "high" and view["activity"] == "bend"
    assert view["l5s1_compression_n"] is None and len(view["reba_parts"]) == 6
    json.dumps(view, allow_nan=False)
    recent = [{"kind": "raised", "person": 3, "rule": "reba_high", "event_id": "a", "severity": "warning",
               "wall_time": "2026-01-01T06:00:00+00:00", "time_s": 1.0, "value": 9.0, "threshold": 8.0},
              {"kind": "cleared", "person": 3, "rule": "reba_high", "event_id": "b"},
              {"kind": "raised", "person": 3, "rule": "reba_high", "event_id": "c", "severity": "warning",
               "wall_time": "2026-01-01T06:01:00+00:00", "time_s": 61.0, "value": 10.0, "threshold": 8.0}]
    alerts = active_alerts({(3, "reba_high"): "REBA 10"}, recent)
    assert [(a["event_id"], a["message"], a["value"]) for a in alerts] == [("c", "REBA 10", 10.0)]


def test_temperatures_where_readable(tmp_path):
    from runtime.dashboard.snapshot import read_temperatures

    for i, (kind, temp) in enumerate((("CPU-therm", "48500"), ("GPU-therm", "51000"), ("broken", "n/a"))):
        zone = tmp_path / f"thermal_zone{i}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(temp + "\n")
    assert read_temperatures(tmp_path) == [{"zone": "CPU-therm", "celsius": 48.5},
                                           {"zone": "GPU-therm", "celsius": 51.0}]
    assert read_temperatures(tmp_path / "missing") == []


@pytest.mark.parametrize("text, expected", [("8080", (None, 8080)), ("0.0.0.0:8080", ("0.0.0.0", 8080)),
                                            ("[::1]:443", ("::1", 443)), ("localhost:1", ("localhost", 1))])
def test_the_dashboard_option(text, expected):
    from runtime.dashboard.config import parse_listen

    assert parse_listen(text) == expected


def test_a_live_page_whose_machine_stops_answering_is_ended_by_the_kernel():
    """A stalled viewer holds one of the few live-page slots until TCP gives up on it: the event stream's socket
    has the kernel end it once sent data has gone unacknowledged for STALLED_VIEWER_S, not after ~15 minutes."""
    from runtime.dashboard.server import STALLED_VIEWER_S, drop_when_unanswered

    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()):
        peer, _ = server.accept()
        with peer:
            assert peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 0  # the kernel's default
            assert drop_when_unanswered(peer, STALLED_VIEWER_S)
            assert peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000
    with socket.socket(socket.AF_UNIX) as local:  # not TCP: left alone, no error
        assert not drop_when_unanswered(local, STALLED_VIEWER_S)
    assert not drop_when_unanswered(None, STALLED_VIEWER_S)
