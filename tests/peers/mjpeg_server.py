#!/usr/bin/env python3
"""A scripted MJPEG-over-HTTP server (as ustreamer, mjpg-streamer and IP cameras serve it) for
the streamer's `--source http://...` tests.

    mjpeg_server.py --port 0 --fps 30 [--no-length] [--not-multipart] A.jpg B.jpg ...

Serves the given JPEG files in turn, forever, as multipart/x-mixed-replace parts, each with a
Content-Length header unless --no-length. --not-multipart answers with an HTML page instead.
Prints "listening on PORT" once ready.
"""

import argparse
import http.server
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--fps", type=float, default=30)
    p.add_argument("--no-length", action="store_true")
    p.add_argument("--not-multipart", action="store_true")
    p.add_argument("jpegs", nargs="+")
    args = p.parse_args()
    jpegs = [open(path, "rb").read() for path in args.jpegs]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if args.not_multipart:
                body = b"<html><body>camera settings</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frameboundary")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            i, start = 0, time.monotonic()
            try:
                while True:
                    jpeg = jpegs[i % len(jpegs)]
                    head = b"--frameboundary\r\nContent-Type: image/jpeg\r\n"
                    if not args.no_length:
                        head += b"Content-Length: %d\r\n" % len(jpeg)
                    self.wfile.write(head + b"\r\n" + jpeg + b"\r\n")
                    self.wfile.flush()
                    i += 1
                    time.sleep(max(0.0, start + i / args.fps - time.monotonic()))
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
