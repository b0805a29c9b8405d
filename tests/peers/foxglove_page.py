"""The hub's page in headless Chromium (tests/foxglove.rs): opens URL, reads the page's
per-frame glass from its DOM over the DevTools protocol (devtools.py) once DRAWN frames were
drawn, and prints one line: page_glass_ms= clock_error_ms= drawn= caption=. With a third
argument `untimed`, prints that line once DRAWN frames were drawn, whatever the figure."""

import json
import sys
import time

from devtools import chromium_page

url, drawn_wanted = sys.argv[1], int(sys.argv[2])
untimed = sys.argv[3:] == ["untimed"]
script = """(() => {  const f = document.querySelector('figure');
  return f ? JSON.stringify([f.dataset.pageGlassMs, f.dataset.clockErrorMs, f.dataset.drawn,
    f.querySelector('figcaption').textContent]) : null; })()"""
with chromium_page(url) as evaluate:
    deadline = time.monotonic() + 60
    value = None
    while time.monotonic() < deadline:
        value = evaluate(script)
        if value:
            glass, error, drawn, caption = json.loads(value)
            known = "page glass" in caption and "unknown" not in caption
            if drawn and int(drawn) >= drawn_wanted and (known or untimed):
                print(f"page_glass_ms={glass} clock_error_ms={error} drawn={drawn} caption={caption!r}")
                sys.exit(0)
        time.sleep(0.2)
    print(f"timeout last={value}")
    sys.exit(1)
