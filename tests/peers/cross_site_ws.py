"""Cross-site WebSocket hijacking, tried for real (tests/foxglove.rs): serves a page of its own
on 127.0.0.1:PAGE_PORT (another origin than the hub's), opens it in headless Chromium (devtools.py), and
its script opens the hub's WebSocket at WS_URL as Foxglove's client would. Prints one line:
`outcome=data` (the page read the hub's messages: the attack worked), `outcome=refused` (the
socket never opened), or `outcome=timeout`; then `origin=` the page's origin."""

import http.server
import sys
import threading
import time

from devtools import chromium_page

ws_url, page_port = sys.argv[1], int(sys.argv[2])
page = f"""<!doctype html><title>waiting</title><script>
const ws = new WebSocket({ws_url!r}, ["foxglove.websocket.v1"]);
ws.onmessage = (m) => {{ document.title = "data"; }};
ws.onerror = () => {{ if (document.title !== "data") document.title = "refused"; }};
</script>""".encode()


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", page_port), Page)
threading.Thread(target=server.serve_forever, daemon=True).start()
origin = f"http://127.0.0.1:{server.server_address[1]}"
with chromium_page(origin + "/") as evaluate:
    deadline = time.monotonic() + 60
    outcome = "timeout"
    while time.monotonic() < deadline:
        title = evaluate("document.title")
        if title in ("data", "refused"):
            outcome = title
            break
        time.sleep(0.2)
print(f"outcome={outcome} origin={origin}")
server.shutdown()
