"""A plain Foxglove WebSocket client on PyPI `websockets` (tests/foxglove.rs): connects with one
subprotocol, reads serverInfo and advertise, subscribes to the first stream's image and latency
channels, and writes each image's JPEG (cut out of the CDR CompressedImage by its own reader,
not ours) to OUT/NNNN.jpg. Prints one line: protocol= frames= latency= topic= (or refused=CODE, or closed=CODE).
"""

import argparse
import asyncio
import json
import os
import ssl
import struct
import sys

from websockets.exceptions import ConnectionClosed, InvalidStatus
# The asyncio client, not the sync one: the sync client reads on a thread of its own while the
# caller writes, and with TLS 1.3 its request was now and then never sent (1 run in 30-60 here:
# 597 bytes, the handshake only, left the client, and the hub closed it after 10 s without a
# request head). asyncio drives TLS from one thread.
from websockets.asyncio.client import connect


def cdr_image(msg):
    """(stamp ns, format, jpeg) of a little-endian CDR sensor_msgs/msg/CompressedImage."""
    assert msg[:4] == b"\x00\x01\x00\x00", msg[:4]
    at = 4

    def u32():
        nonlocal at
        at += (4 - (at - 4) % 4) % 4
        (v,) = struct.unpack_from("<I", msg, at)
        at += 4
        return v

    def string():
        nonlocal at
        n = u32()
        s = msg[at : at + n].rstrip(b"\x00").decode()
        at += n
        return s

    sec, nsec = u32(), u32()
    string()  # frame_id
    fmt = string()
    n = u32()
    assert at + n == len(msg), (at, n, len(msg))
    return sec * 1_000_000_000 + nsec, fmt, msg[at : at + n]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--subprotocol", required=True)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--out")
    ap.add_argument("--user", help="user:password, sent as HTTP Basic")
    ap.add_argument("--token", help="user:password, sent as ?auth=BASE64 (as a browser would)")
    ap.add_argument("--cafile")
    ap.add_argument("--bad-json", action="store_true", help="send garbage, print how it closed")
    a = ap.parse_args()
    headers = {}
    if a.user:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(a.user.encode()).decode()
    if a.token:
        import base64
        import urllib.parse

        a.url += "?auth=" + urllib.parse.quote(base64.b64encode(a.token.encode()).decode(), safe="")
    context = None
    if a.url.startswith("wss:"):
        context = ssl.create_default_context(cafile=a.cafile)
    try:
        ws = await connect(
            a.url,
            subprotocols=[a.subprotocol],
            additional_headers=headers,
            ssl=context,
            open_timeout=20,
            max_size=64 << 20,
        )
    except InvalidStatus as e:
        print(f"refused={e.response.status_code}")
        return

    async def recv():
        return await asyncio.wait_for(ws.recv(), 20)

    async with ws:
        assert ws.subprotocol == a.subprotocol, ws.subprotocol
        info = json.loads(await recv())
        assert info["op"] == "serverInfo", info
        if a.bad_json:
            await ws.send("{this is not json")
            try:
                while True:
                    await recv()
            except ConnectionClosed as e:
                print(f"closed={e.rcvd.code} reason={e.rcvd.reason!r}")
            return
        channels = {}
        while not any(c["topic"].endswith("/image/compressed") for c in channels.values()):
            m = json.loads(await recv())
            if m["op"] == "advertise":
                channels.update({c["id"]: c for c in m["channels"]})
        image = min(c["id"] for c in channels.values() if c["topic"].endswith("/image/compressed"))
        topic = channels[image]["topic"]
        latency = next(c["id"] for c in channels.values() if c["topic"] == topic.replace("/image/compressed", "/latency"))
        c = channels[image]
        assert (c["encoding"], c["schemaName"], c["schemaEncoding"]) == ("cdr", "sensor_msgs/msg/CompressedImage", "ros2msg"), c
        subs = [{"id": 10, "channelId": image}, {"id": 11, "channelId": latency}]
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))
        frames = lat = 0
        last_stamp = 0
        while frames < a.frames:
            m = await recv()
            if isinstance(m, str):
                continue
            op, sub, log_ns = struct.unpack_from("<BIQ", m, 0)
            assert op == 1, op
            if sub == 11:
                lat += 1
                continue
            assert sub == 10, sub
            stamp, fmt, jpeg = cdr_image(m[13:])
            assert fmt == "jpeg" and jpeg[:2] == b"\xff\xd8", fmt
            assert stamp >= last_stamp and log_ns > 0
            last_stamp = stamp
            if a.out:
                with open(os.path.join(a.out, f"{frames:04}.jpg"), "wb") as f:
                    f.write(jpeg)
            frames += 1
    print(f"protocol={a.subprotocol} frames={frames} latency={lat} topic={topic}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
