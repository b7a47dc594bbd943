"""`make demo`'s dashboard screenshot: the run's live dashboard, as a browser shows it, kept as a PNG.

    .venv/bin/python scripts/demo_dashboard.py --port 8765 --out build/demo/dashboard.png

Waits (up to --timeout seconds) until the dashboard served on 127.0.0.1:PORT by a running `ergoedge run
--dashboard 127.0.0.1:PORT` shows a person, then saves the page with Debian's headless chromium (selenium) and
prints the file's path. The run keeps serving its final state for `[dashboard] linger_s` after the clip ends, so
the screenshot can be taken after a short clip.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import urllib.request
from pathlib import Path


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        sys.exit("demo_dashboard: no chromium/chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1300"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def _wait_until_served(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"demo_dashboard: nothing served at {url}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url = f"http://127.0.0.1:{args.port}/"
    _wait_until_served(url, time.monotonic() + args.timeout)
    driver = _browser()
    try:
        driver.get(url)
        WebDriverWait(driver, args.timeout, poll_frequency=0.2).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#people .person"), message="the dashboard showed nobody")
        time.sleep(1.0)  # a camera view and a second update
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(out)):
            sys.exit(f"demo_dashboard: could not save {out}")
    finally:
        driver.quit()
    print(f"dashboard screenshot: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
