"""The hub's page in headless Chromium (tests/foxglove.rs): starts chromium with a DevTools
port, opens URL, reads the page's per-frame glass from its DOM over the DevTools protocol (PyPI
`websockets`) once DRAWN frames were drawn, and prints one line:
page_glass_ms= clock_error_ms= drawn= caption=."""

import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

from websockets.sync.client import connect

url, drawn_wanted = sys.argv[1], int(sys.argv[2])
profile = tempfile.mkdtemp(prefix="foxglove-page-")
chromium = subprocess.Popen(
    ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
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
    script = """(() => {  const f = document.querySelector('figure');
      return f ? JSON.stringify([f.dataset.pageGlassMs, f.dataset.clockErrorMs, f.dataset.drawn,
        f.querySelector('figcaption').textContent]) : null; })()"""
    with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=20) as ws:
        ws.send(json.dumps({"id": 0, "method": "Page.navigate", "params": {"url": url}}))
        deadline = time.monotonic() + 60
        n = 0
        while time.monotonic() < deadline:
            n += 1
            ws.send(json.dumps({"id": n, "method": "Runtime.evaluate",
                                "params": {"expression": script, "returnByValue": True}}))
            while True:
                answer = json.loads(ws.recv(timeout=20))
                if answer.get("id") == n:
                    break
            value = answer["result"]["result"].get("value")
            if value:
                glass, error, drawn, caption = json.loads(value)
                if drawn and int(drawn) >= drawn_wanted and "page glass" in caption and "unknown" not in caption:
                    print(f"page_glass_ms={glass} clock_error_ms={error} drawn={drawn} caption={caption!r}")
                    sys.exit(0)
            time.sleep(0.2)
    print(f"timeout last={answer}")
    sys.exit(1)
finally:
    chromium.kill()
    chromium.wait()
