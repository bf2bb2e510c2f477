#!/usr/bin/env python3
"""A UDP echo service for the tunnel tests: every datagram goes back to its sender unchanged.

    udp_echo.py HOST

Binds HOST on a port the OS picks, prints `listening on PORT` and echoes until killed. One
socket serves every sender, so replies reaching the wrong visitor would show.
"""
import socket
import sys

family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
sock = socket.socket(family, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
sock.bind((sys.argv[1], 0))
print(f"listening on {sock.getsockname()[1]}", flush=True)
while True:
    data, sender = sock.recvfrom(65535)
    sock.sendto(data, sender)
