#!/usr/bin/env python3
"""A Burrow client written from docs/protocol.md alone, by a stranger to the code.

It proves the document is enough to implement the protocol, and it lets tests and the churn
bench do what the real client never does: leave after the preamble, after the challenge, after
a refused login, send malformed or unknown messages, send GoAway.

    stranger.py SERVER TOKEN NAME ACTION [COUNT]

ACTION is one of
    preamble    send the preamble, read the server's, leave
    challenge   open the control stream, read the challenge, leave
    badlogin    log in with a wrong proof, print the loginError
    login       log in, leave at once
    visitor     log in, publish a proxy, send one 64 KiB visitor through it (echoed), leave
    session     log in, then obey commands from stdin (one a line) and print what happens:
                  open NAME [PORT]     openProxy
                  close NAME           closeProxy
                  raw JSON             a control message as given (any JSON text)
                  goaway               GoAway(normal) and FIN on the control stream
                  quit                 leave (close the socket)
                visitor streams are echoed back byte for byte
    rawlogin    send stdin's first line as the login message's JSON text, print the answer
    churn KIND  repeat KIND (preamble, challenge, badlogin, login, visitor) COUNT times

Events are printed one a line: `loggedIn <sessionID>`, `loginError <code> <message>`,
`proxyOpened <name> <port>`, `proxyRejected <name> <code>`, `proxyClosed <name> <port|none>`,
`goAway <code>`, `visitor <stream> <address>`, `closed`.
"""
import base64
import hashlib
import hmac
import json
import os
import selectors
import socket
import struct
import sys

DATA, WINDOW_UPDATE, PING, GO_AWAY = 0, 1, 2, 3
SYN, ACK, FIN, RST = 1, 2, 4, 8
WINDOW = 256 * 1024
PREAMBLE = b"BURROW\x00\x02"


def out(*words):
    print(*words, flush=True)


def frame(kind, flags, stream, length, payload=b""):
    return struct.pack(">BBHII", 0, kind, flags, stream, length) + payload


def message(obj):
    body = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(body)) + body


def proof(token, context, server_nonce, client_nonce, name):
    mac = hmac.new(token.encode(), digestmod=hashlib.sha256)
    mac.update(context)
    for part in (server_nonce, client_nonce, name.encode()):
        mac.update(struct.pack(">I", len(part)))
        mac.update(part)
    return mac.digest()


class Session:
    """One connection: preamble, yamux framing, the control stream (id 1), echoed visitors."""

    def __init__(self, server):
        host, port = server.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inbox = b""
        self.control = b""          # control stream bytes not yet parsed into messages
        self.streams = {}           # visitor stream id -> state
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def preamble(self):
        self.send(PREAMBLE)
        while len(self.inbox) < 8:
            if not self.receive():
                raise EOFError("server closed before its preamble")
        answer, self.inbox = self.inbox[:8], self.inbox[8:]
        if answer != PREAMBLE:
            raise ValueError(f"not a Burrow v2 server: {answer!r}")

    def open_control(self):
        self.send(frame(WINDOW_UPDATE, SYN, 1, 0))

    def receive(self):
        data = self.sock.recv(1 << 20)
        if not data:
            self.closed = True
            return False
        self.inbox += data
        return True

    def next_control(self):
        """Reads frames until one whole control message is in; returns it (or None at EOF)."""
        while True:
            for msg in self.control_messages():
                return msg
            if not self.pump():
                return None

    def control_messages(self):
        """The whole control messages received so far, taken off the control stream."""
        while len(self.control) >= 4:
            (length,) = struct.unpack(">I", self.control[:4])
            if len(self.control) < 4 + length:
                return
            body, self.control = self.control[4:4 + length], self.control[4 + length:]
            yield json.loads(body)

    def process(self):
        """Handles every whole frame in the inbox; says whether there was one."""
        handled = False
        while len(self.inbox) >= 12:
            _, kind, flags, stream, length = struct.unpack(">BBHII", self.inbox[:12])
            size = 12 + (length if kind == DATA else 0)
            if len(self.inbox) < size:
                break
            payload, self.inbox = self.inbox[12:size], self.inbox[size:]
            self.handle(kind, flags, stream, length, payload)
            handled = True
        return handled

    def pump(self):
        """Handles the whole frames in the inbox, or reads more when there is none."""
        return self.process() or self.receive()

    def handle(self, kind, flags, stream, length, payload):
        if kind == PING:
            if flags & SYN:
                self.send(frame(PING, ACK, 0, length))
            return
        if kind == GO_AWAY:
            out("goAway", length)
            return
        if stream == 1:
            if kind == DATA and payload:
                self.control += payload
                self.send(frame(WINDOW_UPDATE, 0, 1, len(payload)))
            return
        state = self.streams.get(stream)
        if flags & SYN:
            state = self.streams[stream] = {"header": b"", "named": False, "credit": WINDOW, "queue": b"", "fin": False}
            self.send(frame(WINDOW_UPDATE, ACK, stream, 0))
        if state is None:
            return
        if flags & RST:
            del self.streams[stream]
            return
        if kind == WINDOW_UPDATE:
            state["credit"] += length
        elif payload:
            self.send(frame(WINDOW_UPDATE, 0, stream, len(payload)))
            if not state["named"]:
                state["header"] += payload
                if len(state["header"]) >= 4:
                    (size,) = struct.unpack(">I", state["header"][:4])
                    if len(state["header"]) >= 4 + size:
                        header = json.loads(state["header"][4:4 + size])
                        out("visitor", stream, header["visitorAddress"])
                        state["named"] = True
                        state["queue"] += state["header"][4 + size:]
            else:
                state["queue"] += payload
        if flags & FIN:
            state["fin"] = True
        self.flush(stream)

    def flush(self, stream):
        """Echoes what the credit allows; FIN back once the visitor's FIN and its bytes are out."""
        state = self.streams[stream]
        while state["queue"] and state["credit"] > 0:
            chunk = state["queue"][: min(state["credit"], 65536)]
            state["queue"] = state["queue"][len(chunk):]
            state["credit"] -= len(chunk)
            self.send(frame(DATA, 0, stream, len(chunk), chunk))
        if state["fin"] and not state["queue"]:
            self.send(frame(WINDOW_UPDATE, FIN, stream, 0))
            del self.streams[stream]

    def control_send(self, obj):
        body = message(obj) if isinstance(obj, dict) else struct.pack(">I", len(obj)) + obj
        self.send(frame(DATA, 0, 1, len(body), body))

    def login(self, token, name, wrong=False):
        challenge = self.next_control()
        assert challenge["type"] == "challenge", challenge
        server_nonce = base64.b64decode(challenge["body"]["nonce"])
        client_nonce = os.urandom(32)
        mine = proof(token + ("x" if wrong else ""), b"burrow-client-v1", server_nonce, client_nonce, name)
        self.control_send({"type": "login", "body": {
            "name": name,
            "tokenHint": hashlib.sha256(token.encode()).digest()[:8].hex(),
            "clientNonce": base64.b64encode(client_nonce).decode(),
            "proof": base64.b64encode(mine).decode(),
            "version": "stranger-1",
        }})
        answer = self.next_control()
        if answer is None:
            out("closed")
            return False
        if answer["type"] != "loginOK":
            out("loginError", answer["body"]["code"], answer["body"]["message"])
            return False
        expected = proof(token, b"burrow-server-v1", server_nonce, client_nonce, name)
        assert base64.b64decode(answer["body"]["serverProof"]) == expected, "server proof does not match"
        assert isinstance(answer["body"]["sessionID"], str)
        out("loggedIn", answer["body"]["sessionID"])
        return True

    def report(self, msg):
        body = msg["body"]
        if msg["type"] == "proxyOpened":
            out("proxyOpened", body["name"], body["remotePort"])
        elif msg["type"] == "proxyRejected":
            out("proxyRejected", body["name"], body["code"])
        elif msg["type"] == "proxyClosed":
            out("proxyClosed", body["name"], body.get("remotePort") or "none")
        else:
            out("message", json.dumps(msg))

    def close(self):
        self.sock.close()


def run_session(session, token, name):
    if not session.login(token, name):
        return
    selector = selectors.DefaultSelector()
    selector.register(session.sock, selectors.EVENT_READ, "net")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    while not session.closed:
        for key, _ in selector.select():
            if key.data == "stdin":
                line = sys.stdin.readline()
                words = line.split(maxsplit=1)
                if not words or words[0] == "quit":
                    session.close()
                    return
                if words[0] == "open":
                    parts = words[1].split()
                    request = {"name": parts[0], "type": "tcp"}
                    if len(parts) > 1:
                        request["remotePort"] = int(parts[1])
                    session.control_send({"type": "openProxy", "body": request})
                elif words[0] == "close":
                    session.control_send({"type": "closeProxy", "body": {"name": words[1].strip()}})
                elif words[0] == "raw":
                    session.control_send(words[1].strip().encode())
                elif words[0] == "goaway":
                    session.send(frame(GO_AWAY, 0, 0, 0) + frame(WINDOW_UPDATE, FIN, 1, 0))
                out("sent", words[0])
            elif session.receive():
                session.process()
                for msg in session.control_messages():
                    session.report(msg)
    out("closed")


def once(action, server, token, name):
    session = Session(server)
    try:
        session.preamble()
        if action == "preamble":
            return
        session.open_control()
        if action == "challenge":
            session.next_control()
            return
        if action == "rawlogin":
            session.next_control()
            session.control_send(sys.stdin.readline().strip().encode())
            answer = session.next_control()
            if answer is None:
                out("closed")
            else:
                out(answer["type"], answer["body"].get("code", ""), answer["body"].get("message", ""))
            return
        if action == "session":
            run_session(session, token, name)
            return
        session.login(token, name, wrong=(action == "badlogin"))
        if action == "visitor":
            visit(session, name)
    finally:
        session.close()


def visit(session, name):
    """Publishes a proxy (the server picks the port), sends one visitor through it and back."""
    session.control_send({"type": "openProxy", "body": {"name": "churn", "type": "tcp"}})
    opened = session.next_control()
    assert opened and opened["type"] == "proxyOpened", opened
    visitor = socket.create_connection(("127.0.0.1", opened["body"]["remotePort"]))
    payload = os.urandom(64 * 1024)
    visitor.sendall(payload)
    visitor.shutdown(socket.SHUT_WR)
    echoed = b""
    selector = selectors.DefaultSelector()
    selector.register(visitor, selectors.EVENT_READ, "visitor")
    selector.register(session.sock, selectors.EVENT_READ, "session")
    done = False
    while not done:
        for key, _ in selector.select():
            if key.data == "session":
                if not session.receive():
                    raise EOFError("server closed the session during the visit")
                session.process()
            else:
                data = visitor.recv(1 << 20)
                echoed += data
                done = not data
    visitor.close()
    assert echoed == payload, f"echo differs: {len(echoed)} of {len(payload)} bytes"


def main():
    server, token, name, action = sys.argv[1:5]
    if action == "churn":
        kind, count = sys.argv[5], int(sys.argv[6])
        for index in range(count):
            once(kind, server, token, f"{name}-{index}" if kind in ("login", "visitor") else name)
        out("churned", kind, count)
    else:
        once(action, server, token, name)


if __name__ == "__main__":
    main()
