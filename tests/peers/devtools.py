"""Headless Chromium driven over the DevTools protocol (PyPI `websockets`), for the page tests:
`with chromium_page(url) as evaluate:` opens URL in a fresh profile and gives a function that
evaluates a JavaScript expression in the page and returns its value."""

import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import urllib.request

from websockets.sync.client import connect


@contextlib.contextmanager
def chromium_page(url):
    profile = tempfile.mkdtemp(prefix="chromium-page-")
    # Debian's package installs the browser as chromium, Ubuntu's as chromium-browser.
    browser = shutil.which("chromium") or "chromium-browser"
    chromium = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in chromium.stderr:
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = m.group(1)
                break
        assert port, "chromium gave no DevTools port"
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=20))
        target = next(p for p in pages if p["type"] == "page")
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=20) as ws:
            ws.send(json.dumps({"id": 0, "method": "Page.navigate", "params": {"url": url}}))
            asked = [0]

            def evaluate(expression):
                asked[0] += 1
                ws.send(json.dumps({"id": asked[0], "method": "Runtime.evaluate",
                                    "params": {"expression": expression, "returnByValue": True}}))
                while True:
                    answer = json.loads(ws.recv(timeout=20))
                    if answer.get("id") == asked[0]:
                        return answer["result"]["result"].get("value")

            yield evaluate
    finally:
        chromium.kill()
        chromium.wait()
        # The profile is tens of files a run: not left in /tmp.
        shutil.rmtree(profile, ignore_errors=True)
