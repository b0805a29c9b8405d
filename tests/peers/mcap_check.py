"""Reads an MCAP recording with other people's readers (PyPI mcap + mcap-ros2-support, and
rerun-sdk's MCAP import when asked) and checks it against the frames the viewer saved.

    mcap_check.py FILE.mcap SAVE_DIR [--cut] [--rerun]

Every CompressedImage message is decoded with the ROS 2 decoder and must equal, byte for
byte and in order, the JPEGs in SAVE_DIR (the viewer's --save-dir files, sorted by name);
header stamps, publish and log times go forward; each image has its latency message.
Without --cut the file must have a summary with chunk indexes and statistics, and every saved
frame must be there; with --cut (a file cut by kill -9) it is read by the streaming reader, up
to where it ends, and the frames found must be the saved ones' first. Prints one key=value
line, or the first failure on stderr with exit status 1.
"""

import io
import os
import sys

from mcap.reader import NonSeekingReader, make_reader
from mcap_ros2.decoder import DecoderFactory


def fail(what):
    print(f"mcap_check: {what}", file=sys.stderr)
    sys.exit(1)


def saved_frames(save_dir):
    names = sorted(n for n in os.listdir(save_dir) if n.endswith(".jpg"))
    out = []
    for n in names:
        with open(os.path.join(save_dir, n), "rb") as f:
            out.append(f.read())
    return out


def messages(path, cut):
    """(schema, channel, message, decoded) for every message the reader yields."""
    factory = DecoderFactory()
    with open(path, "rb") as f:
        data = f.read()
    if not cut:
        reader = make_reader(io.BytesIO(data), decoder_factories=[factory])
        summary = reader.get_summary()
        if summary is None:
            fail("no summary section")
        if not summary.chunk_indexes:
            fail("no chunk indexes in the summary")
        if summary.statistics is None or summary.statistics.message_count == 0:
            fail("no statistics in the summary")
        header = reader.get_header()
        if header.profile != "ros2":
            fail(f"profile {header.profile!r}, not ros2")
        return list(reader.iter_decoded_messages()), summary
    # A cut file: the streaming reader, which needs no summary, up to where the file ends.
    reader = NonSeekingReader(io.BytesIO(data), decoder_factories=[factory])
    out = []
    try:
        # In file order, so each message comes as it is read (sorting would read to the end first).
        for item in reader.iter_decoded_messages(log_time_order=False):
            out.append(item)
    except Exception as e:  # the cut: whatever the reader raises at the end
        print(f"mcap_check: the reader stopped at the cut: {type(e).__name__}", file=sys.stderr)
    return out, None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    cut = "--cut" in sys.argv
    path, save_dir = args[0], args[1]
    expected = saved_frames(save_dir)
    items, summary = messages(path, cut)
    images, latencies = [], []
    for schema, channel, message, decoded in items:
        if channel.topic.endswith("/image/compressed"):
            if schema.name != "sensor_msgs/msg/CompressedImage" or schema.encoding != "ros2msg":
                fail(f"image schema {schema.name} {schema.encoding}")
            if channel.message_encoding != "cdr":
                fail(f"image channel encoding {channel.message_encoding}")
            images.append((channel.topic, message, decoded))
        elif channel.topic.endswith("/latency"):
            latencies.append((channel.topic, message, decoded))
        else:
            fail(f"unexpected channel {channel.topic}")
    if not images:
        fail("no image messages")
    topics = {t for t, _, _ in images}
    if len(topics) != 1:
        fail(f"image topics {topics}")
    if len(latencies) != len(images):
        fail(f"{len(images)} images but {len(latencies)} latency messages")
    if cut:
        if len(images) > len(expected):
            fail(f"{len(images)} frames in the file, {len(expected)} saved")
    elif len(images) != len(expected):
        fail(f"{len(images)} frames in the file, {len(expected)} saved")
    last_log, last_stamp = 0, 0
    for i, ((_, message, img), (_, _, lat)) in enumerate(zip(images, latencies)):
        if bytes(img.data) != expected[i]:
            fail(f"frame {i + 1}: bytes differ from the saved frame")
        if img.format != "jpeg":
            fail(f"frame {i + 1}: format {img.format!r}")
        stamp = img.header.stamp.sec * 1_000_000_000 + img.header.stamp.nanosec
        if stamp != message.publish_time:
            fail(f"frame {i + 1}: stamp {stamp} but publish time {message.publish_time}")
        if (lat.header.stamp.sec, lat.header.stamp.nanosec) != (
            img.header.stamp.sec,
            img.header.stamp.nanosec,
        ):
            fail(f"frame {i + 1}: its latency message has another stamp")
        if message.log_time < last_log:
            fail(f"frame {i + 1}: log time went back")
        last_log = message.log_time
        # Capture times (frames with figures; the others are stamped with their arrival).
        if lat.arrival_ms == lat.arrival_ms:
            if stamp < last_stamp:
                fail(f"frame {i + 1}: capture stamp went back")
            last_stamp = stamp
            # Captured before it arrived (1 ms for the two clocks' readings to differ).
            if message.log_time + 1_000_000 < stamp:
                fail(f"frame {i + 1}: logged before it was captured")
    arrival = [getattr(d, "arrival_ms") for _, _, d in latencies]
    known = [a for a in arrival if a == a]
    line = (
        f"mcap_check: frames={len(images)} saved={len(expected)} topic={images[0][0]} "
        f"latency_known={len(known)} summary={'yes' if summary else 'no'}"
    )
    if summary is not None:
        line += f" chunks={len(summary.chunk_indexes)}"
    if known:
        line += f" arrival_max_ms={max(known):.3f}"
    if "--rerun" in sys.argv:
        line += " " + rerun_check(path, len(images))
    print(line)


def rerun_check(path, frames):
    """Converts the file with rerun-sdk's MCAP importer (`rerun mcap convert`) and counts the
    EncodedImage rows it made of the image topic, which must be every frame."""
    import re
    import subprocess
    import tempfile

    cli = os.path.join(os.path.dirname(sys.executable), "rerun")
    with tempfile.TemporaryDirectory() as tmp:
        rrd = os.path.join(tmp, "out.rrd")
        done = subprocess.run(
            [cli, "mcap", "convert", path, "-o", rrd], capture_output=True, timeout=120
        )
        if done.returncode != 0:
            fail(f"rerun mcap convert failed: {done.stderr.decode(errors='replace')[-400:]}")
        printed = subprocess.run(
            [cli, "rrd", "print", rrd], capture_output=True, timeout=120, text=True
        )
        rows = 0
        for line in printed.stdout.splitlines():
            m = re.search(r"with (\d+) rows .* - (\S+/image/compressed) - .*EncodedImage:blob", line)
            if m:
                rows += int(m.group(1))
        if rows != frames:
            fail(f"rerun made {rows} EncodedImage rows of {frames} frames")
        return f"rerun_images={rows}"


if __name__ == "__main__":
    main()
