#!/usr/bin/env python3
"""WebSocket visitors that misbehave or go quiet, for the tunnel tests, against a `websocket`
proxy at ws://127.0.0.1:PORT/PATH.

    ws_hostile.py stall PORT PATH       sends half an upgrade request and waits
    ws_hostile.py oversize PORT PATH    upgrades, then announces a 2^40-byte frame
    ws_hostile.py idle PORT PATH        upgrades (python3-websockets, no pings) and waits
    ws_hostile.py read PORT PATH        upgrades (python3-websockets) and reads until the end

Each prints one line, what the server did, and exits 0 when the server ended the connection
(1 when it did not within 60 s):
  stall     `closed after the upgrade timeout` (the server's EOF, no answer)
  oversize  `close CODE` (the code of the server's close frame), then the connection ends
  idle      `close CODE` once the server closes the idle connection
  read      `close CODE` once the connection ends (1006: it ended without a close frame)
"""
import asyncio
import base64
import os
import socket
import struct
import sys


def connect(port):
    connection = socket.create_connection(("127.0.0.1", port), timeout=60)
    return connection


def read_until_closed(connection):
    """Everything the server sends until it closes."""
    data = b""
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk


def upgrade(connection, path):
    key = base64.b64encode(os.urandom(16)).decode()
    connection.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(4096)
        if not chunk:
            raise SystemExit(f"closed during the upgrade: {answer!r}")
        answer += chunk
    head, rest = answer.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"upgrade refused: {head!r}")
    return rest


def close_code(frames):
    """The status code of the first close frame (opcode 8) in `frames`, server to client."""
    while len(frames) >= 2:
        opcode, length = frames[0] & 0x0F, frames[1] & 0x7F
        offset = 2
        if length == 126:
            length, offset = struct.unpack("!H", frames[2:4])[0], 4
        elif length == 127:
            length, offset = struct.unpack("!Q", frames[2:10])[0], 10
        if opcode == 8:
            return struct.unpack("!H", frames[offset:offset + 2])[0] if length >= 2 else None
        frames = frames[offset + length:]
    return None


def stall(port, path):
    connection = connect(port)
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
    answer = read_until_closed(connection)
    print("closed after the upgrade timeout" if not answer else f"answered {answer[:40]!r}", flush=True)


def oversize(port, path):
    connection = connect(port)
    rest = upgrade(connection, path)
    # FIN, binary; masked, 127: a 64-bit length of 2^40; then the mask.
    connection.sendall(bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 40) + os.urandom(4))
    print(f"close {close_code(rest + read_until_closed(connection))}", flush=True)


async def idle(port, path):
    import websockets

    async with websockets.connect(f"ws://127.0.0.1:{port}{path}", ping_interval=None, close_timeout=10) as websocket:
        await websocket.wait_closed()
        print(f"close {websocket.close_code}", flush=True)


async def read(port, path):
    import websockets

    async with websockets.connect(f"ws://127.0.0.1:{port}{path}", close_timeout=10) as websocket:
        try:
            async for _ in websocket:
                pass
        except websockets.ConnectionClosed:
            pass
        print(f"close {websocket.close_code}", flush=True)


def main():
    mode, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    try:
        if mode in ("idle", "read"):
            asyncio.run(asyncio.wait_for({"idle": idle, "read": read}[mode](port, path), 60))
        else:
            {"stall": stall, "oversize": oversize}[mode](port, path)
    except (socket.timeout, asyncio.TimeoutError):
        print("the server did not close the connection within 60 s", flush=True)
        sys.exit(1)


main()
