#!/usr/bin/env python3
"""Draw what a vision program sees (a box and a label per detection) and pipe it to the streamer.

    python3 examples/opencv_overlay.py --test | streamer --source - 192.168.3.20
    python3 examples/opencv_overlay.py --camera 0 | streamer --source - 192.168.3.20
    python3 examples/opencv_overlay.py --file clip.mp4 --raw | streamer --source - --raw 640x480 ...

Standard library and OpenCV only. The "detection" is a stand-in for your own code: the largest
bright blob (threshold, then contours). Frames go to stdout as JPEG (passed through by the
streamer untouched) or, with --raw, as raw BGR bytes (`frame.tobytes()`; the streamer encodes
them). Messages go to stderr, never to stdout.
"""

import argparse
import sys
import time

try:
    import cv2
    import numpy as np
except ImportError as e:  # say what to install instead of a traceback
    sys.exit(f"opencv_overlay.py: {e}: install python3-opencv (Debian) or opencv-python (pip)")

# --test: the size of the generated picture and of the moving square in it.
TEST_SIZE = (640, 480)
SQUARE = 80


def test_frame(i):
    """A generated moving picture: a grey gradient with a white square moving 8 px a frame."""
    w, h = TEST_SIZE
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = np.linspace(40, 100, w, dtype=np.uint8)[None, :, None]
    x, y = square_at(i)
    frame[y:y + SQUARE, x:x + SQUARE] = 255
    return frame


def square_at(i):
    """Top-left corner of the test square in frame i (tests check the box against it)."""
    return (40 + 8 * i) % (TEST_SIZE[0] - SQUARE - 40), 200


def detect(frame):
    """Bounding boxes of bright blobs, largest first: the stand-in for real vision code."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    _, mask = cv2.threshold(grey, 200, 255, cv2.THRESH_BINARY)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = [cv2.boundingRect(c) for c in contours]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def draw(frame, boxes):
    """A green box 4 px outside each detection, and its size as a label above it."""
    for x, y, w, h in boxes[:5]:
        cv2.rectangle(frame, (x - 4, y - 4), (x + w + 3, y + h + 3), (0, 255, 0), 2)
        cv2.putText(frame, f"object {w}x{h}", (x - 4, y - 10), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, (0, 255, 0), 2)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", type=int, metavar="INDEX", help="camera index (0 = /dev/video0)")
    src.add_argument("--file", metavar="PATH", help="a video file")
    src.add_argument("--test", action="store_true", help="a generated moving picture")
    p.add_argument("--frames", type=int, default=0, help="stop after N frames (0 = never)")
    p.add_argument("--fps", type=float, default=30, help="pace of --test and --file (0 = unpaced)")
    p.add_argument("--quality", type=int, default=80, help="JPEG quality")
    p.add_argument("--raw", action="store_true", help="write raw BGR frames instead of JPEG")
    args = p.parse_args()

    cap = None
    if not args.test:
        cap = cv2.VideoCapture(args.camera if args.file is None else args.file)
        if not cap.isOpened():
            sys.exit(f"opencv_overlay.py: cannot open {args.file or f'camera {args.camera}'}")
    out = sys.stdout.buffer
    # The three-line core: get a frame, draw on it, write it to the streamer.
    i, start = 0, time.monotonic()
    while args.frames == 0 or i < args.frames:
        if cap is None:
            frame = test_frame(i)
        else:
            ok, frame = cap.read()
            if not ok:
                break
        draw(frame, detect(frame))
        try:
            out.write(frame.tobytes() if args.raw else
                      cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, args.quality])[1])
            out.flush()
        except BrokenPipeError:
            break  # the streamer stopped
        i += 1
        if args.fps > 0 and args.camera is None:
            time.sleep(max(0.0, start + i / args.fps - time.monotonic()))


if __name__ == "__main__":
    main()
