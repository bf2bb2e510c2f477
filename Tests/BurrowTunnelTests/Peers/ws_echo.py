#!/usr/bin/env python3
"""A WebSocket echo service for the tunnel tests (Debian's python3-websockets).

    ws_echo.py HOST PATH [CERT KEY]

Binds HOST on a port the OS picks (over TLS with CERT and KEY), prints `listening on PORT`,
and serves PATH: each connection first gets the text message "hello\\n", then every message
back as it came (binary as binary, text as text). Other paths get 404 "no such path".
"""
import asyncio
import http
import ssl
import sys

import websockets


async def echo(websocket, path=None):
    await websocket.send("hello\n")
    async for message in websocket:
        await websocket.send(message)


def check_path(path, headers):
    if path != sys.argv[2]:
        return http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"no such path\n"
    return None


async def main():
    context = None
    if len(sys.argv) > 4:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
    async with websockets.serve(
        echo, sys.argv[1], 0, ssl=context, max_size=None, compression=None, process_request=check_path
    ) as server:
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


asyncio.run(main())
