#!/usr/bin/env python3
"""A WebSocket visitor for the tunnel tests (Debian's python3-websockets), against a
`websocket` proxy whose local service echoes bytes.

    ws_visitor.py URL binary|text      (the messages the proxy sends)

Prints one line per check, `NAME ok DETAIL` or `NAME failed DETAIL`:
  binary   a binary message comes back (the kind of message the proxy sends, in DETAIL)
  text     a text message's bytes come back
  large    a 1 MiB message comes back whole (the echo may split it into several messages)
  ping     a ping is answered with a pong
"""
import asyncio
import sys

import websockets


async def collect(websocket, count):
    """Reads messages until `count` bytes have come; returns them and the kinds seen."""
    data, kinds = b"", set()
    while len(data) < count:
        message = await asyncio.wait_for(websocket.recv(), 20)
        kinds.add(type(message).__name__)
        data += message.encode() if isinstance(message, str) else message
    return data, ",".join(sorted(kinds))


def report(name, good, detail):
    print(f"{name} {'ok' if good else 'failed'} {detail}", flush=True)


async def main():
    async with websockets.connect(sys.argv[1], max_size=None, compression=None) as websocket:
        await websocket.send(b"binary hello")
        data, kinds = await collect(websocket, 12)
        report("binary", data == b"binary hello", kinds)
        await websocket.send("text hello")
        data, kinds = await collect(websocket, 10)
        report("text", data == b"text hello", kinds)
        # Text messages must be UTF-8: a text proxy gets ASCII.
        large = bytes((i * 7) % 256 for i in range(1 << 20)) if sys.argv[2] == "binary" else bytes(65 + i % 26 for i in range(1 << 20))
        await websocket.send(large)
        data, kinds = await collect(websocket, len(large))
        report("large", data == large, f"{len(data)} bytes")
        pong = await websocket.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        report("ping", True, "pong")


asyncio.run(main())
