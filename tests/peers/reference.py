#!/usr/bin/env python3
"""Scripted peers that behave exactly as docs/PROTOCOL.md describes the reference Python programs,
using only the standard library. Each checks every answer byte for byte and exits non-zero
with a one-line reason on any difference.

  reference.py send-flag  HOST PORT FILE [COUNT]   flag sender: one send() per flag, recv(1024)
  reference.py send-size  HOST PORT FILE           SIZE n / GOT SIZE / bytes / GOT IMAGE / BYE BYE
  reference.py send-len32 HOST PORT FILE           4-byte length + bytes, then close
  reference.py recv-flag  OUTDIR                   flag receiver (prints its port, one connection)
  reference.py recv-size  OUTDIR                   SIZE receiver
  reference.py recv-len32 OUTDIR                   len32 receiver
"""
import os
import socket
import struct
import sys


def fail(msg):
    print("reference peer: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(sock, want, bufsize):
    got = sock.recv(bufsize)
    if got != want:
        fail("expected %r in one recv(%d), got %r" % (want, bufsize, got))


def connect(host, port):
    sock = socket.create_connection((host, int(port)), timeout=20)
    sock.settimeout(20)
    return sock


def send_flag(host, port, path, count=1):
    data = open(path, "rb").read()
    sock = connect(host, port)
    for _ in range(int(count)):
        sock.send(("%d, " % len(data)).encode())
        expect(sock, b"ok", 1024)
        sock.sendall(data)
        expect(sock, b"ok", 1024)
    sock.close()


def send_size(host, port, path):
    data = open(path, "rb").read()
    sock = connect(host, port)
    sock.send(b"SIZE %d" % len(data))
    expect(sock, b"GOT SIZE", 4096)
    sock.sendall(data)
    expect(sock, b"GOT IMAGE", 4096)
    sock.send(b"BYE BYE ")
    # The receiver closes the connection after BYE BYE.
    try:
        rest = sock.recv(4096)
    except ConnectionResetError:
        rest = b""
    if rest:
        fail("expected the connection closed after BYE BYE, got %r" % rest)
    sock.close()


def send_len32(host, port, path):
    data = open(path, "rb").read()
    sock = connect(host, port)
    sock.sendall(struct.pack(">L", len(data)))
    sock.sendall(data)
    sock.close()


def recv_exactly(conn, n, what):
    chunks = []
    while n > 0:
        chunk = conn.recv(min(n, 65536))
        if not chunk:
            fail("connection closed with %d %s bytes missing" % (n, what))
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def serve(outdir, handler):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(30)
    print(listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    conn.settimeout(20)
    count = 0
    while True:
        data = handler(conn)
        if data is None:
            break
        count += 1
        with open(os.path.join(outdir, "frame-%04d" % count), "wb") as f:
            f.write(data)
    conn.close()
    print("received %d" % count, flush=True)


FLAGS_SEEN = [0]


def flag_frame(conn):
    flag = conn.recv(1024)
    if not flag:
        return None
    text = flag.decode("ascii", "replace")
    digits = text.split(",")[0]
    n = int(digits)
    # Our streamer must send the whole flag in one write and nothing after it before `ok`.
    # The reference parses it with int(), which reads past leading zeros: our streamer's
    # offers are leading zeros on a connection's first flag (one: overlapping frames, two:
    # the extension exchange), and nothing else may differ from "%d, ".
    first = FLAGS_SEEN[0] == 0
    if first and digits.startswith("00"):
        want = "00%d, " % n
    elif first and digits.startswith("0"):
        want = "0%d, " % n
    else:
        want = "%d, " % n
    if flag != want.encode():
        fail("flag arrived as %r, not as one %r" % (flag, want))
    FLAGS_SEEN[0] += 1
    conn.send(b"ok")
    data = recv_exactly(conn, n, "payload")
    conn.send(b"ok")
    return data


def size_frame(conn):
    msg = conn.recv(4096)
    if msg == b"BYE BYE ":
        return None
    if not msg.startswith(b"SIZE "):
        fail("expected SIZE n or BYE BYE in one recv, got %r" % msg)
    n = int(msg[5:])
    conn.send(b"GOT SIZE")
    data = recv_exactly(conn, n, "payload")
    conn.send(b"GOT IMAGE")
    return data


def len32_frame(conn):
    header = b""
    while len(header) < 4:
        chunk = conn.recv(4 - len(header))
        if not chunk:
            if header:
                fail("connection closed inside a length")
            return None
        header += chunk
    (n,) = struct.unpack(">L", header)
    return recv_exactly(conn, n, "payload")


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    mode, args = sys.argv[1], sys.argv[2:]
    handlers = {"recv-flag": flag_frame, "recv-size": size_frame, "recv-len32": len32_frame}
    senders = {"send-flag": send_flag, "send-size": send_size, "send-len32": send_len32}
    if mode in handlers:
        serve(args[0], handlers[mode])
    elif mode in senders:
        senders[mode](*args)
    else:
        fail("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
