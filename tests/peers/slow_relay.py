#!/usr/bin/env python3
"""A slow link for the freshness test: sits between a streamer and a viewer speaking the `flag`
dialect, forwards every byte at once, but holds each frame's final `ok` back for --delay-ms, as
a slow radio link would. Only one streamer connection.

    slow_relay.py --viewer 127.0.0.1:PORT --delay-ms 40     # prints "listening on PORT"
"""

import argparse
import socket
import time


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--viewer", required=True)
    p.add_argument("--delay-ms", type=float, default=40)
    args = p.parse_args()
    host, port = args.viewer.rsplit(":", 1)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(f"listening on {listener.getsockname()[1]}", flush=True)
    streamer, _ = listener.accept()
    viewer = socket.create_connection((host, int(port)))
    for s in (streamer, viewer):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            flag = b""
            while not flag.endswith(b", "):
                byte = streamer.recv(1)
                if not byte:
                    return
                flag += byte
            viewer.sendall(flag)
            streamer.sendall(recv_exact(viewer, 2))
            payload = recv_exact(streamer, int(flag[:-2]))
            viewer.sendall(payload)
            ok = recv_exact(viewer, 2)
            time.sleep(args.delay_ms / 1000)
            streamer.sendall(ok)
    except (EOFError, ConnectionError):
        pass


if __name__ == "__main__":
    main()
