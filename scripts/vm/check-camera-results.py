#!/usr/bin/env python3
"""Checks what the camera test VM shipped out (scripts/vm-camera-test.sh): exit codes, frame
counts, negotiated modes, the --list-cameras output and vivid's colour bars in each snapshot.
Prints one block per case and exits 1 on any failure."""

import re
import sys
from pathlib import Path

# vivid's default test pattern: 75 % colour bars, left to right, full-range RGB.
BARS = [
    ("white", (191, 191, 191)),
    ("yellow", (191, 191, 0)),
    ("cyan", (0, 191, 191)),
    ("green", (0, 191, 0)),
    ("magenta", (191, 0, 191)),
    ("red", (191, 0, 0)),
    ("blue", (0, 0, 191)),
    ("black", (0, 0, 0)),
]
# JPEG at quality 40 moves a bar's centre by at most 3 levels here; a washed-out picture
# (limited range shown as full) is 16 off at black and 11 at white.
TOLERANCE = 8
# The share of a case's frames the viewer must have decoded: most. Under emulation on a busy
# host the decoder skips some (the newest frame wins): 24 of 30 has been seen.
MIN_DECODED = 0.6
# The link camera-init.sh makes, as udev does for a USB camera, before the second listing.
BY_ID_LINK = "/dev/v4l/by-id/usb-Test_vivid_0001-video-index0"


def read_ppm(path):
    data = path.read_bytes()
    fields = []
    pos = 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        start = pos
        while not data[pos : pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError(f"{path}: not an 8-bit binary PPM")
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[pos + 1 : pos + 1 + w * h * 3]


def sample(w, h, pixels, x0, y0, size):
    """Mean RGB over a size x size patch centred on (x0, y0)."""
    acc = [0, 0, 0]
    n = 0
    for y in range(y0 - size // 2, y0 + size // 2 + 1):
        for x in range(x0 - size // 2, x0 + size // 2 + 1):
            i = (y * w + x) * 3
            for c in range(3):
                acc[c] += pixels[i + c]
            n += 1
    return tuple(round(a / n) for a in acc)


def luma709(rgb):
    r, g, b = rgb
    return round(0.2126 * r + 0.7152 * g + 0.0722 * b)


def conf_blocks(text):
    """The /etc/streamer/NAME.conf blocks of a --list-cameras output: {file: [lines]}."""
    blocks, current = {}, None
    for line in text.splitlines():
        m = re.match(r"# --- (/etc/streamer/[a-z0-9-]+\.conf): ", line)
        if m:
            current = blocks.setdefault(m.group(1), [])
        elif current is not None and line.strip():
            current.append(line)
    return blocks


def check_conf_blocks(out, capture, check):
    """One block per capture node: by /dev/videoN with a warning while no by-id link exists,
    by the link once it does, each with the two settings the unit reads."""
    for name, path, warned in (("list", None, True), ("list-byid", BY_ID_LINK, False)):
        text = read(out / f"{name}.out")
        blocks = conf_blocks(text)
        print(f"{name}: config blocks {sorted(blocks)}")
        for lines in blocks.values():
            print("  " + "\n  ".join(lines))
        check(read(out / f"{name}.rc").strip() == "0", f"{name}: --list-cameras did not exit 0")
        if not check(len(blocks) == len(capture) == 1, f"{name}: {len(blocks)} blocks, want 1"):
            continue
        lines = next(iter(blocks.values()))
        args = [l for l in lines if l.startswith("STREAMER_ARGS=")]
        want = f"STREAMER_ARGS=--camera {path or capture[0]}"
        check(args and args[0].split(" --camera-format")[0] == want, f"{name}: {args}, want {want}")
        check(any(l.startswith("VIEWER_ADDR=") for l in lines), f"{name}: no VIEWER_ADDR")
        warning = any("may change" in l for l in lines if l.startswith("#"))
        check(warning == warned, f"{name}: the /dev/videoN warning is {'missing' if warned else 'wrong'}")


def summary(text):
    """The numeric key=value pairs of the last `summary:` line (signed: a clock offset on one
    machine is as often just below 0 as just above)."""
    lines = [l for l in text.splitlines() if l.startswith("summary:")]
    return dict(re.findall(r"(\w+)=(-?[\d.]+)", lines[-1])) if lines else {}


def read(path):
    return path.read_text(errors="replace") if path.exists() else ""


def main():
    out = Path(sys.argv[1])
    cases = [c.split("|") for c in sys.argv[2:]]
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)
        return ok

    # --list-cameras: vivid's capture node and nothing else (no output or metadata nodes).
    nodes = dict(l.split(" ", 1) for l in read(out / "nodes.txt").splitlines() if " " in l)
    capture = sorted(f"/dev/{n}" for n, what in nodes.items() if what.endswith("-vid-cap"))
    listing = read(out / "list.out")
    listed = sorted(l.split(":")[0] for l in listing.splitlines() if l.startswith("/dev/"))
    print(f"list-cameras: listed {listed}; vivid's nodes: {sorted(nodes.values())}")
    print("  " + "\n  ".join(listing.splitlines()[:6]) + "\n  ...")
    check(read(out / "list.rc").strip() == "0", "--list-cameras did not exit 0")
    check(capture and listed == capture, f"--list-cameras listed {listed}, want {capture}")
    check(
        all(f in listing for f in ("YUYV 640x480", "NV12", "GREY", "RGB3", "BGR3")),
        "--list-cameras misses a format vivid offers",
    )
    check_conf_blocks(out, capture, check)
    for n in (1, 2):
        err = read(out / f"wrong-node-{n}.err").strip()
        rc = read(out / f"wrong-node-{n}.rc").strip()
        what = nodes.get(f"video{n}", "?")
        print(f"--camera {n} ({what}): exit {rc}: {err}")
        check(
            rc not in ("", "0") and err.startswith(f"streamer: /dev/video{n}: ") and "not a camera" in err,
            f"--camera {n} did not fail clearly",
        )
    if read(out / "insmod.txt").strip():
        print(read(out / "insmod.txt").rstrip())

    for name, frames, args, want, *action in cases:
        frames = int(frames)
        print(f"\n== {name}: streamer --source camera {args}".rstrip())
        src, vrc = read(out / f"{name}.src").strip(), read(out / f"{name}.vrc").strip()
        serr = read(out / f"{name}.serr")
        got = [l for l in serr.splitlines() if re.match(r"camera /dev/\S+: [A-Z0-9]{4} ", l)]
        print(f"  negotiated: {got[0] if got else '(no mode line)'}   (asked for {want})")
        print(f"  exit codes: streamer {src or '?'}, viewer {vrc or '?'}")
        check(src == "0", f"{name}: streamer exited {src or 'never'}")
        check(vrc == "0", f"{name}: viewer exited {vrc or 'never'}")
        check(got and got[0].split(": ", 1)[1] == want, f"{name}: negotiated {got}, want {want}")
        s = summary(read(out / f"{name}.sout"))
        v = summary(read(out / f"{name}.vout"))
        print(
            f"  frames: streamer sent {s.get('frames', '?')} at {s.get('fps', '?')} fps "
            f"(latency p50 {s.get('latency_p50_ms', '?')} ms, dropped {s.get('dropped', '?')}); "
            f"viewer received {v.get('frames', '?')}, decoded {v.get('decoded', '?')}, "
            f"errors {v.get('errors', '?')}"
        )
        check(s.get("frames") == str(frames), f"{name}: streamer summary {s}")
        check(
            v.get("frames") == str(frames) and v.get("errors") == "0" and v.get("truncated") == "0",
            f"{name}: viewer summary {v}",
        )
        # The decoder takes the newest frame (a slow decode skips, never queues), so a few may
        # go undecoded under emulation; most must not.
        decoded = int(v.get("decoded", 0))
        check(decoded >= MIN_DECODED * frames, f"{name}: decoded only {decoded} of {frames}")
        # Glass-to-glass from the V4L2 capture times sent in-band: every decoded frame measured,
        # none unknown, the clock offset known (one machine: within its bound of 0).
        print(
            f"  glass: p50 {v.get('glass_p50_ms', '?')} ms over {v.get('glass_frames', '?')} frames, "
            f"link p50 {v.get('link_p50_ms', '?')} ms, clock {v.get('clock_offset_ms', '?')} "
            f"± {v.get('clock_error_ms', '?')} ms"
        )
        check(
            v.get("glass_frames") == v.get("decoded") and v.get("glass_unknown") == "0",
            f"{name}: glass measured on {v.get('glass_frames')} of {v.get('decoded')} decoded frames",
        )
        try:
            inside = abs(float(v["clock_offset_ms"])) <= float(v["clock_error_ms"]) + 1.0
        except (KeyError, ValueError):
            inside = False
        check(inside, f"{name}: clock offset {v.get('clock_offset_ms')} outside its bound")
        if args == "@conf":
            used = read(out / f"{name}.args").strip()
            print(f"  arguments from the conf block: {used}")
            check(used.startswith(f"--camera {BY_ID_LINK}"), f"{name}: ran with {used!r}")
        if action == ["unplug"]:
            print("  " + read(out / f"{name}.action").strip().replace("\n", "; "))
            events = [
                l
                for l in serr.splitlines()
                if " lost " in l or ": back: " in l or ": cannot start it again: " in l
            ]
            for line in events:
                print(f"  streamer: {line}")
            connects = read(out / f"{name}.verr").count("streamer connected")
            print(f"  viewer saw {connects} connection(s)")
            check(any(" lost " in l for l in events), f"{name}: the streamer never saw the loss")
            check(any(": back: " in l for l in events), f"{name}: the camera never came back")
            # Unplugged for 3 s, tried again every second: why it could not start, said once.
            why = [l for l in events if ": cannot start it again: " in l]
            check(len(why) == 1, f"{name}: {len(why)} lines say why the camera did not start")
            check(connects == 1, f"{name}: the streamer reconnected ({connects} connections)")
        snap = out / f"{name}.ppm"
        if not check(snap.exists(), f"{name}: no snapshot"):
            continue
        w, h, px = read_ppm(snap)
        # Below vivid's text lines, which cover the upper part of the picture.
        row = int(h * 0.9)
        grey = want.startswith("GREY")
        worst = 0
        report = []
        for i, (bar, rgb) in enumerate(BARS):
            seen = sample(w, h, px, int((i + 0.5) * w / 8), row, 5)
            # vivid makes grey from its bars with Rec. 709 weights, full range.
            expect = (luma709(rgb),) * 3 if grey else rgb
            off = max(abs(a - b) for a, b in zip(seen, expect))
            worst = max(worst, off)
            report.append(f"{bar} {seen[0] if grey else seen}")
        ok = worst <= TOLERANCE
        print(f"  colours ({w}x{h}, row {row}): " + ", ".join(report))
        print(f"  colour check: {'ok' if ok else 'FAILED'}, worst channel off by {worst} (max {TOLERANCE})")
        check(ok, f"{name}: bars off by up to {worst}")

    print()
    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        sys.exit(1)
    print(f"vm-camera-test: all {len(cases)} cases passed")


if __name__ == "__main__":
    main()
