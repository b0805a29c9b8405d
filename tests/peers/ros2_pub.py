"""Publishes images on a ROS 2 topic through Eclipse Cyclone DDS, the independent peer of
tests/ros2.rs (run inside its network namespace).

    ros2_pub.py TOPIC compressed DIR [options]     every DIR/*.jpg, in name order
    ros2_pub.py TOPIC image FILE W H ENCODING [options]   FILE's raw pixels, step = len / H

Options: --count N (messages, cycling over the files), --rate HZ, --burst N (the first N
messages back to back, the rest at HZ after them), --reliable, --zero-stamp, --wait S (for a
subscriber first, at most S seconds), --go FILE (once matched, waits for FILE to exist before
the first message, within --wait: the test says when the subscriber's side is ready),
--timing (prints "ros2_pub: write_p50_ms=... write_p95_ms=...": header.stamp to write()
returning). header.stamp is the wall clock when the message is built; frame_id is "cam".
Prints "ros2_pub: matched" once a subscriber is seen and "ros2_pub: sent=N" at the end
(stdout, flushed).
"""

import argparse
import os
import statistics
import sys
import time

from ros2_msgs import CompressedImage, Header, Image, dds_topic, loopback_only, qos, stamp

loopback_only()
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.pub import DataWriter  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("topic")
    p.add_argument("kind", choices=["compressed", "image"])
    p.add_argument("rest", nargs="+")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--rate", type=float, default=30.0)
    p.add_argument("--burst", type=int, default=0)
    p.add_argument("--go")
    p.add_argument("--reliable", action="store_true")
    p.add_argument("--zero-stamp", action="store_true")
    p.add_argument("--wait", type=float, default=60.0)
    p.add_argument("--timing", action="store_true")
    a = p.parse_args()

    dp = DomainParticipant(int(os.environ.get("ROS_DOMAIN_ID", "0")))
    cls = CompressedImage if a.kind == "compressed" else Image
    writer = DataWriter(dp, Topic(dp, dds_topic(a.topic), cls), qos=qos(a.reliable))
    if a.kind == "compressed":
        names = sorted(n for n in os.listdir(a.rest[0]) if n.endswith(".jpg"))
        payloads = [open(os.path.join(a.rest[0], n), "rb").read() for n in names]
    else:
        payloads = [open(a.rest[0], "rb").read()]
        width, height, encoding = int(a.rest[1]), int(a.rest[2]), a.rest[3]
    count = a.count or len(payloads)

    deadline = time.monotonic() + a.wait
    while not writer.get_matched_subscriptions():
        if time.monotonic() > deadline:
            sys.exit("ros2_pub: no subscriber matched")
        time.sleep(0.02)
    print("ros2_pub: matched", flush=True)
    while a.go and not os.path.exists(a.go):
        if time.monotonic() > deadline:
            sys.exit(f"ros2_pub: {a.go} never appeared")
        time.sleep(0.01)

    start = time.monotonic()
    written = []
    for i in range(count):
        if a.burst and i == a.burst:
            # The paced rest starts one interval after the burst.
            start = time.monotonic() - (i - 1) / a.rate
        if i >= a.burst:
            time.sleep(max(0.0, start + i / a.rate - time.monotonic()))
        data = payloads[i % len(payloads)]
        header = Header(stamp=stamp(0 if a.zero_stamp else time.time_ns()), frame_id="cam")
        if a.kind == "compressed":
            msg = CompressedImage(header=header, format="jpeg", data=data)
        else:
            msg = Image(header=header, height=height, width=width, encoding=encoding,
                        is_bigendian=0, step=len(data) // height, data=data)
        writer.write(msg)
        written.append(time.time_ns() - header.stamp.sec * 1_000_000_000 - header.stamp.nanosec)
    if a.timing and len(written) > 1:
        cuts = statistics.quantiles([w / 1e6 for w in written], n=100)
        print(f"ros2_pub: write_p50_ms={cuts[49]:.2f} write_p95_ms={cuts[94]:.2f}", flush=True)
    print(f"ros2_pub: sent={count}", flush=True)
    # Reliable samples still in flight are delivered before the participant leaves.
    time.sleep(0.5)


if __name__ == "__main__":
    main()
