"""Writes an MCAP file the way other ROS 2 tools do (PyPI mcap-ros2-support's writer, which
compresses chunks with zstd unless told not to): the JPEGs of SAVE_DIR (sorted) on two
CompressedImage topics in turn, /a/image/compressed and /b/image/compressed, 50 ms apart,
with a std_msgs/String topic first so the image channels are not the first channel.

    mcap_write.py SAVE_DIR OUT.mcap [--zstd]
"""

import os
import sys

from mcap.writer import CompressionType
from mcap_ros2.writer import Writer

IMAGE = """std_msgs/Header header
string format
uint8[] data
================================================================================
MSG: std_msgs/Header
builtin_interfaces/Time stamp
string frame_id
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
"""


def main():
    save_dir, out = sys.argv[1], sys.argv[2]
    names = sorted(n for n in os.listdir(save_dir) if n.endswith(".jpg"))
    compression = CompressionType.ZSTD if "--zstd" in sys.argv else CompressionType.NONE
    t0 = 1_700_000_000_000_000_000
    with open(out, "wb") as f:
        writer = Writer(f, compression=compression)
        text = writer.register_msgdef("std_msgs/msg/String", "string data")
        image = writer.register_msgdef("sensor_msgs/msg/CompressedImage", IMAGE)
        writer.write_message("/notes", text, {"data": "hello"}, log_time=t0, publish_time=t0)
        for i, name in enumerate(names):
            with open(os.path.join(save_dir, name), "rb") as jpeg:
                data = jpeg.read()
            t = t0 + i * 50_000_000
            topic = "/a/image/compressed" if i % 2 == 0 else "/b/image/compressed"
            msg = {
                "header": {"stamp": {"sec": t // 10**9, "nanosec": t % 10**9}, "frame_id": "cam"},
                "format": "jpeg",
                "data": data,
            }
            writer.write_message(topic, image, msg, log_time=t, publish_time=t)
        writer.finish()


if __name__ == "__main__":
    main()
