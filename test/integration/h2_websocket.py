#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# WebSocket over HTTP/2 (RFC 8441) against a running khz server, with python3-h2 as the HTTP/2
# client and WebSocket frames (RFC 6455 §5, masked, permessage-deflate per RFC 7692) built here.
# Run by test/integration/http2_connect_test.cc:
#
#   h2_websocket.py PORT [--tls CA_FILE] [CASE...]   every case when none is named; exit 1 when
#                                                      one fails
#
# The server under test serves server.websocket("/ws", echo) with subprotocols {"chat"} and
# allowed_origins {"http://good.test"}; the echo handler answers the text "version?" with the
# HTTP version the WebSocket arrived on and echoes every other message. GET "/plain" -> 200
# "plain"; GET "/last" -> "<code> <reason>" of the last close the handler saw.
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_tunnel  # noqa: E402  (the HTTP/2 client: connection, pumping, flow control)
from h2_tunnel import Failure, check  # noqa: E402

ORIGIN = "http://good.test"


def frame(opcode, payload, fin=True, rsv1=False):
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Socket:
    """One WebSocket on one HTTP/2 stream of `client`."""

    def __init__(self, client, path="/ws", extra=(), deflate=False):
        self.c = client
        self.c.until(lambda: self.c.settings is not None, "the server's SETTINGS")
        fields = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https" if h2_tunnel.CA else "http"),
                  (":path", path), (":authority", "localhost"), ("sec-websocket-version", "13"), ("origin", ORIGIN)]
        if deflate:
            fields.append(("sec-websocket-extensions", "permessage-deflate"))
        fields += list(extra)
        self.sid = self.c.conn.get_next_available_stream_id()
        self.c.conn.send_headers(self.sid, fields)
        self.c.flush()
        self.c.until(lambda: self.sid in self.c.heads, "the response to the extended CONNECT")
        self.head = self.c.heads[self.sid]
        self.read = 0  # bytes of the stream's body consumed as frames
        self.inflate = zlib.decompressobj(wbits=-15)

    def send(self, opcode, payload, fin=True, compress=False):
        if compress:
            z = zlib.compressobj(wbits=-15)  # a fresh context per message: valid whatever was agreed
            payload = z.compress(payload) + z.flush(zlib.Z_SYNC_FLUSH)
            check(payload.endswith(b"\x00\x00\xff\xff"), "deflate tail")
            payload = payload[:-4]
        self.c.send(self.sid, frame(opcode, payload, fin, rsv1=compress))

    def _have(self, n):
        return len(self.c.bodies.get(self.sid, b"")) - self.read >= n

    def _take(self, n):
        self.c.until(lambda: self._have(n) or self.sid in self.c.ended or self.sid in self.c.resets, "%d bytes" % n)
        check(self._have(n), "the stream ended in the middle of a frame")
        data = self.c.bodies[self.sid][self.read:self.read + n]
        self.read += n
        return data

    def frame(self):
        """The next frame: (fin, rsv1, opcode, payload). Frames from a server are unmasked."""
        b0, b1 = self._take(2)
        check(not b1 & 0x80, "a server frame is not masked")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        return bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, self._take(n)

    def message(self):
        """The next data message: (opcode, payload), reassembled and inflated."""
        fin, rsv1, opcode, payload = self.frame()
        check(opcode in (1, 2), "a data frame, got opcode %d" % opcode)
        compressed = rsv1
        while not fin:
            fin, rsv1, op, more = self.frame()
            check(op == 0 and not rsv1, "a continuation frame")
            payload += more
        if compressed:
            payload = self.inflate.decompress(payload + b"\x00\x00\xff\xff")
        return opcode, payload


def case_echo():
    c = h2_tunnel.Client()
    s = Socket(c, extra=[("sec-websocket-protocol", "superchat, chat")])
    check(s.head.get(":status") == "200", "status 200: %r" % s.head)
    check("sec-websocket-accept" not in s.head, "no Sec-WebSocket-Accept over HTTP/2: %r" % s.head)
    check(s.head.get("sec-websocket-protocol") == "chat", "subprotocol chat: %r" % s.head)
    check("sec-websocket-extensions" not in s.head, "no extension when none is offered: %r" % s.head)
    s.send(1, b"version?")
    check(s.message() == (1, b"HTTP/2"), "the handler saw HTTP/2")
    s.send(1, "héllo wörld".encode())
    check(s.message() == (1, "héllo wörld".encode()), "text echo")
    blob = bytes(i * 13 % 256 for i in range(200000))  # 64-bit length, over several DATA frames and windows
    s.send(2, blob)
    check(s.message() == (2, blob), "binary echo of 200000 bytes")
    s.send(1, b"frag", fin=False)
    s.send(0, b"men", fin=False)
    s.send(9, b"ping inside")  # a control frame between the fragments (§5.4)
    s.send(0, b"ted", fin=True)
    fin, _, op, payload = s.frame()
    check((op, payload) == (10, b"ping inside"), "pong to the ping between fragments: %d %r" % (op, payload))
    check(s.message() == (1, b"fragmented"), "fragmented message echoed whole")
    s.send(9, b"p1")
    fin, _, op, payload = s.frame()
    check((fin, op, payload) == (True, 10, b"p1"), "pong p1: %r" % ((fin, op, payload),))
    s.send(8, struct.pack("!H", 4001) + b"bye now")
    fin, _, op, payload = s.frame()
    check(op == 8 and struct.unpack("!H", payload[:2])[0] == 4001, "the close echoed with 4001: %d %r" % (op, payload))
    c.until(lambda: s.sid in c.ended or s.sid in c.resets, "the end of the stream after the close")
    check(s.sid not in c.resets, "the stream ends cleanly, not reset: %r" % c.resets)
    status, body = c.get("/last")
    check(body == b"4001 bye now", "the handler saw close 4001 'bye now': %r" % body)


def case_deflate():
    c = h2_tunnel.Client()
    s = Socket(c, deflate=True)
    check(s.head.get(":status") == "200", "status 200: %r" % s.head)
    ext = s.head.get("sec-websocket-extensions", "")
    check(ext.startswith("permessage-deflate"), "permessage-deflate agreed: %r" % s.head)
    check("sec-websocket-protocol" not in s.head, "no subprotocol when none is offered")
    text = ("the quick brown fox jumps over the lazy dog. " * 40).encode()
    for i in range(3):  # context takeover across messages on both sides
        s.send(1, text, compress=True)
        check(s.message() == (1, text), "compressed text echo %d" % i)
    blob = bytes(i % 7 for i in range(100000))
    s.send(2, blob, compress=True)
    check(s.message() == (2, blob), "compressed binary echo")
    s.send(1, b"short", compress=False)  # an uncompressed message on a deflate session
    check(s.message() == (1, b"short"), "uncompressed echo")
    s.send(8, struct.pack("!H", 1000))
    fin, _, op, payload = s.frame()
    check(op == 8 and payload[:2] == struct.pack("!H", 1000), "the close echoed: %r" % payload)
    c.until(lambda: s.sid in c.ended or s.sid in c.resets, "the end of the stream")


def case_beside():
    c = h2_tunnel.Client()
    s = Socket(c)
    check(s.head.get(":status") == "200", "status 200: %r" % s.head)
    for i in range(20):
        s.send(1, b"message %d" % i)
        if i % 5 == 2:  # an ordinary GET on the same connection while the WebSocket is open
            status, body = c.get("/plain")
            check(status == "200" and body == b"plain", "GET /plain beside the WebSocket: %r %r" % (status, body))
        check(s.message() == (1, b"message %d" % i), "echo %d" % i)
    s2 = Socket(c)  # a second WebSocket on the same connection
    s2.send(1, b"second")
    s.send(1, b"first")
    check(s2.message() == (1, b"second") and s.message() == (1, b"first"), "two WebSockets on one connection")
    s.send(8, struct.pack("!H", 1000))
    check(s.frame()[2] == 8, "close on the first")
    s2.send(1, b"still here")
    check(s2.message() == (1, b"still here"), "the second outlives the first")
    s2.send(8, struct.pack("!H", 1000))
    check(s2.frame()[2] == 8, "close on the second")


def refused(extra_fields, protocol="websocket", drop=()):
    c = h2_tunnel.Client()
    c.until(lambda: c.settings is not None, "SETTINGS")
    fields = [(":method", "CONNECT"), (":protocol", protocol), (":scheme", "https" if h2_tunnel.CA else "http"),
              (":path", "/ws"), (":authority", "localhost"), ("sec-websocket-version", "13"), ("origin", ORIGIN)]
    fields = [f for f in fields if f[0] not in drop and f[0] not in dict(extra_fields)] + list(extra_fields)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, fields)
    c.flush()
    c.until(lambda: sid in c.ended or sid in c.resets, "the refusal")
    status, body = c.get("/plain")  # the connection lives on
    check(status == "200", "the connection still serves after a refusal")
    return c.heads.get(sid, {})


def case_wrong_protocol():
    head = refused([], protocol="not-websocket")
    check(head.get(":status") == "400", "400 for :protocol not-websocket: %r" % head)


def case_bad_origin():
    head = refused([("origin", "http://evil.test")])
    check(head.get(":status") == "403", "403 for a refused Origin: %r" % head)


def case_no_version():
    head = refused([], drop=("sec-websocket-version",))
    check(head.get(":status") == "426", "426 without sec-websocket-version: %r" % head)
    check(head.get("sec-websocket-version") == "13", "426 names version 13: %r" % head)


CASES = {"echo": case_echo, "deflate": case_deflate, "beside": case_beside, "wrong_protocol": case_wrong_protocol,
         "bad_origin": case_bad_origin, "no_version": case_no_version}


def main():
    args = sys.argv[1:]
    h2_tunnel.PORT = int(args.pop(0))
    if args and args[0] == "--tls":
        args.pop(0)
        h2_tunnel.CA = args.pop(0)
    failed = False
    for name in args or list(CASES):
        try:
            CASES[name]()
            print("ok   " + name)
        except Exception as e:  # a Failure, or the library's own complaint
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
