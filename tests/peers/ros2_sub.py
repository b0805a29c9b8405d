"""Subscribes to a ROS 2 CompressedImage topic through Eclipse Cyclone DDS (the independent
peer of tests/ros2.rs, inside its network namespace) and saves what arrives.

    ros2_sub.py TOPIC DIR [--count N] [--timeout S] [--reliable]

Writes each message's data to DIR/NNNNNN.jpg and one line per message to stdout:
"ros2_sub: n=I stamp_ns=S frame_id=F format=X recv_ns=R"; prints "ros2_sub: ready" once
subscribed; ends after N messages or S seconds without one.
"""

import argparse
import os
import time

from ros2_msgs import CompressedImage, dds_topic, loopback_only, qos

loopback_only()
from cyclonedds.core import WaitSet, ReadCondition, ViewState, InstanceState, SampleState  # noqa: E402
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.sub import DataReader  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402
from cyclonedds.util import duration  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("topic")
    p.add_argument("dir")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--reliable", action="store_true")
    a = p.parse_args()

    dp = DomainParticipant(int(os.environ.get("ROS_DOMAIN_ID", "0")))
    reader = DataReader(dp, Topic(dp, dds_topic(a.topic), CompressedImage), qos=qos(a.reliable))
    cond = ReadCondition(reader, ViewState.Any | InstanceState.Any | SampleState.NotRead)
    ws = WaitSet(dp)
    ws.attach(cond)
    print("ros2_sub: ready", flush=True)
    n = 0
    while not a.count or n < a.count:
        if ws.wait(duration(seconds=a.timeout)) == 0:
            break
        for msg in reader.take(N=16):
            recv = time.time_ns()
            with open(os.path.join(a.dir, f"{n:06}.jpg"), "wb") as f:
                f.write(bytes(msg.data))
            s = msg.header.stamp
            print(f"ros2_sub: n={n} stamp_ns={s.sec * 1_000_000_000 + s.nanosec} "
                  f"frame_id={msg.header.frame_id} format={msg.format} recv_ns={recv}",
                  flush=True)
            n += 1


if __name__ == "__main__":
    main()
