#!/usr/bin/python3
"""Decodes JPEG files with every decoder a user may meet and says whether each decoder gives
them all the same pixels: djpeg (libjpeg-turbo's tool), OpenCV's cv2.imdecode (what the
reference Python viewer calls), Pillow, ffmpeg and Chromium (headless, through a canvas).

  decoders.py A.jpg B.jpg [MORE.jpg...]
prints one line per decoder:
  decoder=NAME width=W height=H equal=1 mean=M
(`mean` is the mean sample value of A, so a blank or truncated decode shows). A missing tool
is an error naming the package that provides it (scripts/setup.sh installs them all).
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import cv2
    import numpy
    from PIL import Image
except ImportError as e:
    sys.exit("decoders.py: %s: install python3-opencv and python3-pil (scripts/setup.sh)" % e)


def need(tool, package):
    if shutil.which(tool) is None:
        sys.exit("decoders.py: %s is missing: install %s (scripts/setup.sh)" % (tool, package))


def djpeg(path):
    need("djpeg", "libjpeg-turbo-progs")
    ppm = subprocess.run(["djpeg", "-pnm", path], check=True, capture_output=True).stdout
    return Image.open(__import__("io").BytesIO(ppm)).convert("RGB")


def opencv(path):
    data = numpy.frombuffer(open(path, "rb").read(), dtype=numpy.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise RuntimeError("cv2.imdecode failed")
    return Image.fromarray(img[:, :, ::-1].copy())


def pillow(path):
    return Image.open(path).convert("RGB")


def ffmpeg(path):
    need("ffmpeg", "ffmpeg")
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", path],
                           check=True, capture_output=True, text=True).stdout.strip()
    w, h = (int(v) for v in probe.split(","))
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], check=True, capture_output=True).stdout
    return Image.frombytes("RGB", (w, h), raw)


PAGE = """<html><body><pre id=out>pending</pre><script>
function pixels(src) { return new Promise((ok, bad) => { const img = new Image();
  img.onload = () => { const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d', {willReadFrequently: true}); ctx.drawImage(img, 0, 0);
    ok([c.width, c.height, ctx.getImageData(0, 0, c.width, c.height).data]); };
  img.onerror = () => bad('decode error'); img.src = src; }); }
Promise.all([%s].map(pixels))
 .then(([a, ...others]) => { let equal = true, sum = 0, n = 0;
   for (const b of others) { if (a[0] != b[0] || a[1] != b[1] || a[2].length != b[2].length) equal = false;
     else for (let i = 0; i < a[2].length; i++) if (a[2][i] != b[2][i]) { equal = false; break; } }
   for (let i = 0; i < a[2].length; i++) if (i %% 4 != 3) { sum += a[2][i]; n++; }
   document.getElementById('out').textContent =
     'width=' + a[0] + ' height=' + a[1] + ' equal=' + (equal ? 1 : 0) + ' mean=' + (sum / n).toFixed(2); })
 .catch(e => { document.getElementById('out').textContent = 'error ' + e; });
</script></body></html>"""


def chromium(paths):
    # Debian's package installs the browser as chromium, Ubuntu's as chromium-browser.
    browser = shutil.which("chromium") or "chromium-browser"
    need(browser, "chromium (Ubuntu: chromium-browser)")
    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, "page.html")
        urls = ", ".join("'data:image/jpeg;base64,%s'" % base64.b64encode(open(p, "rb").read()).decode()
                         for p in paths)
        open(page, "w").write(PAGE % urls)
        dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                              "--user-data-dir=" + os.path.join(tmp, "profile"),
                              "--virtual-time-budget=10000", "--dump-dom", "file://" + page],
                             capture_output=True, text=True, timeout=120).stdout
    start = dom.find('<pre id="out">')
    line = dom[start + len('<pre id="out">'):dom.find("</pre>", start)] if start >= 0 else ""
    if not line.startswith("width="):
        raise RuntimeError("chromium did not decode: %r" % line[:200])
    return line


def main():
    paths = sys.argv[1:]
    if len(paths) < 2:
        sys.exit(__doc__)
    for name, decode in [("djpeg", djpeg), ("opencv", opencv), ("pillow", pillow),
                         ("ffmpeg", ffmpeg)]:
        first, *others = [decode(p) for p in paths]
        equal = all(o.size == first.size and o.tobytes() == first.tobytes() for o in others)
        samples = numpy.asarray(first, dtype=numpy.float64)
        print("decoder=%s width=%d height=%d equal=%d mean=%.2f" % (
            name, first.width, first.height, int(equal), samples.mean()))
    print("decoder=chromium " + chromium(paths))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
