#!/usr/bin/env python3
"""A model of link-relay's 32 KB bursts (10 Mbit/s, 15 +- 4 ms each way), for the default window.

Why the default stays over 1.1 x strict's latency p50 there (docs/slow-links.md): a frame's last,
partial burst goes only when 32 KB are full or, as its last byte falls due (one-way delay after
the link sent it), nothing more has reached the relay. The model: a 30 fps source (newest wins,
6 ms encode), frames of the measured size +- 3 %, each way's delay with uniform jitter, and three
pacings: strict (the next frame after the answer), back to back (the next frame as the link is
done with the last), burst-aware (back to back, unless the tail's burst would take longer than
THETA to fill: then the link idles for the tail's one-way trip, delay + jitter, and the burst goes
out alone), and every K (back to back, and after every K-th frame the link idles for that trip,
blind to where bursts end). It prints fps over what the link carries and latency p50 (capture to
answer) over strict's. The real binaries follow its burst-aware rows only when they also pace at
the true rate: told the burst size and rate outright, 1.07-1.10 x strict's at 0.88-0.93 of the
link (docs/slow-links.md, "What knowing the bursts would buy"). Standard library only:
    python3 scripts/burst-model.py
"""

import random
import statistics

RATE = 1.25e6  # bytes/s: 10 Mbit/s
BURST = 32768
DELAY, JITTER = 0.015, 0.004
INTERVAL, ENCODE = 1 / 30, 0.006


def run(size, pacing, theta=0.0, frames=3000, seed=1, every=0):
    """(fps, latency p50 in ms) of `frames` frames of about `size` bytes under `pacing`."""
    rnd = random.Random(seed)
    link_free = next_ready = last_answer = 0.0
    since_idle = 0  # bytes the link sent since it last idled long enough to flush a burst
    latencies = []
    for i in range(frames):
        n = int(rnd.gauss(size, size * 0.03)) + 40
        ready = last_answer if pacing == "strict" else next_ready
        captured = max(0, int((ready - ENCODE) / INTERVAL)) * INTERVAL
        start = max(ready, captured + ENCODE, link_free)
        if start - link_free > DELAY + JITTER:
            since_idle = 0
        since_idle += n
        end = start + n / RATE
        fill = (BURST - since_idle % BURST) % BURST / RATE
        if pacing == "strict":
            tail = end + DELAY + rnd.uniform(-JITTER, JITTER)
        elif pacing == "every K":
            idle = i % every == every - 1
            tail = end + (0 if idle else fill) + DELAY + rnd.uniform(-JITTER, JITTER)
            next_ready = end + (DELAY + JITTER if idle else 0)
        elif pacing == "back to back" or fill <= theta:
            # The tail waits for the next frame's first bytes, sent as the link is free.
            tail = end + fill + DELAY + rnd.uniform(-JITTER, JITTER)
            next_ready = end
        else:
            tail = end + DELAY + rnd.uniform(-JITTER, JITTER)
            next_ready = end + DELAY + JITTER
        last_answer = tail + DELAY + rnd.uniform(-JITTER, JITTER)
        link_free = end
        latencies.append(last_answer - captured)
    return frames / last_answer, statistics.median(latencies) * 1e3


def main():
    for size in (74_100, 107_000):
        link_fps = RATE / size
        strict_fps, strict_p50 = run(size, "strict")
        print(f"{size} B: link {link_fps:.1f} fps; strict {strict_fps:.2f} fps, p50 {strict_p50:.1f} ms")
        cases = [("back to back", 0.0)] + [("burst-aware", t / 1e3) for t in (10, 15, 19, 20)]
        for pacing, theta in cases:
            fps, p50 = run(size, pacing, theta)
            what = pacing + (f", theta {theta * 1e3:.0f} ms" if pacing == "burst-aware" else "")
            print(f"  {what}: {fps / link_fps:.2f} of the link, p50 {p50 / strict_p50:.2f} x strict's")
        for every in (3, 4, 5):
            fps, p50 = run(size, "every K", every=every)
            print(f"  every {every}: {fps / link_fps:.2f} of the link, p50 {p50 / strict_p50:.2f} x strict's")


if __name__ == "__main__":
    main()
