#!/usr/bin/env python3
"""The hostile-client battery of scripts/hub-attack-bench.sh, against a running viewer --http.

From 127.0.0.1, for SECONDS: connections that send a request head one byte a second, idle
connections, fast MJPEG readers (each kind reconnecting as soon as it is closed or refused),
and a flood of bad requests. From 127.0.0.2, the good client: GET /api/streams every 100 ms
(a new connection each) and one MJPEG reader of /stream/1. Every second it samples the
viewer's resident memory and how many lines it has written to stderr. Prints one key=value
line; exits 0 whatever it measured (the caller judges the figures).
"""

import argparse
import socket
import statistics
import threading
import time

GOOD = "127.0.0.2"
BAD = "127.0.0.1"


def connect(host, port, source, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect((host, port))
    return s


class Battery:
    def __init__(self, host, port, seconds):
        self.host, self.port = host, port
        self.stop_at = time.monotonic() + seconds
        self.lock = threading.Lock()
        self.opened = 0
        self.refused = 0  # 503 answers an attacker got
        self.good = []  # (status, seconds)
        self.parts = []  # good reader's parts per second

    def running(self):
        return time.monotonic() < self.stop_at

    def count(self, opened=0, refused=0):
        with self.lock:
            self.opened += opened
            self.refused += refused

    def attacker(self, kind):
        while self.running():
            try:
                s = connect(self.host, self.port, BAD, timeout=1.0)
            except OSError:
                time.sleep(0.05)
                continue
            self.count(opened=1)
            try:
                if kind == "stream":
                    s.sendall(b"GET /stream/1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
                elif kind == "slow":
                    s.sendall(b"GET /api/streams HTTP/1.1\r\n")
                elif kind == "flood":
                    s.sendall(b"BAD\r\n\r\n")
                first = True
                while self.running():
                    try:
                        data = s.recv(65536)
                    except socket.timeout:
                        if kind == "slow":
                            s.sendall(b"X")
                        continue
                    if not data:
                        break
                    if first and data.startswith(b"HTTP/1.1 503"):
                        self.count(refused=1)
                    first = False
            except OSError:
                pass
            finally:
                s.close()

    def good_requests(self):
        while self.running():
            started = time.monotonic()
            status = 0
            try:
                s = connect(self.host, self.port, GOOD)
                s.sendall(b"GET /api/streams HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                head = s.recv(64)
                if head.startswith(b"HTTP/1.1 "):
                    status = int(head[9:12])
                while s.recv(65536):
                    pass
                s.close()
            except (OSError, ValueError):
                pass
            took = time.monotonic() - started
            with self.lock:
                self.good.append((status, took))
            time.sleep(max(0.0, 0.1 - took))

    def good_reader(self):
        """Reads /stream/1 throughout (again at once if it ends); parts per second."""
        parts, second = 0, time.monotonic()
        while self.running():
            tail = b""
            try:
                s = connect(self.host, self.port, GOOD)
                s.sendall(b"GET /stream/1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
                while self.running():
                    data = s.recv(65536)
                    if not data:
                        break
                    tail += data
                    parts += tail.count(b"--frame\r\n")
                    tail = tail[-8:]
                    now = time.monotonic()
                    if now - second >= 1.0:
                        self.parts.append(parts / (now - second))
                        parts, second = 0, now
                s.close()
            except OSError:
                time.sleep(0.1)


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--http", required=True)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--viewer-pid", type=int, required=True)
    p.add_argument("--viewer-err", required=True)
    p.add_argument("--slow", type=int, default=20)
    p.add_argument("--idle", type=int, default=20)
    p.add_argument("--streams", type=int, default=23)
    a = p.parse_args()
    host, port = a.http.rsplit(":", 1)
    b = Battery(host, int(port), a.seconds)
    threads = [threading.Thread(target=b.good_reader), threading.Thread(target=b.good_requests)]
    for kind, n in (("slow", a.slow), ("idle", a.idle), ("stream", a.streams), ("flood", 1)):
        threads += [threading.Thread(target=b.attacker, args=(kind,)) for _ in range(n)]
    for t in threads:
        t.daemon = True
        t.start()
    rss, per_second, before = [], [], lines(a.viewer_err)
    while b.running():
        time.sleep(1.0)
        rss.append(rss_mb(a.viewer_pid))
        now = lines(a.viewer_err)
        per_second.append(now - before)
        before = now
    time.sleep(1.5)  # let the last good request finish
    with b.lock:
        good = list(b.good)
    times = sorted(t * 1000 for _, t in good)
    ok = sum(1 for status, t in good if status == 200 and t <= 1.0)
    steady = b.parts[2:] or b.parts
    print(
        "hub-attack",
        f"seconds={a.seconds:g}",
        f"attack_connections={b.opened}",
        f"attack_503={b.refused}",
        f"good_requests={len(good)}",
        f"good_200_within_1s={ok}",
        f"good_p50_ms={statistics.median(times):.1f}" if times else "good_p50_ms=unknown",
        f"good_max_ms={times[-1]:.1f}" if times else "good_max_ms=unknown",
        f"good_stream_fps_min={min(steady):.1f}" if steady else "good_stream_fps_min=unknown",
        f"viewer_rss_max_mb={max(rss, default=0):.1f}",
        f"stderr_lines_max_per_s={max(per_second, default=0)}",
    )


if __name__ == "__main__":
    main()
