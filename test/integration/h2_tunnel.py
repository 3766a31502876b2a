#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# RFC 8441 (extended CONNECT) against a running khz server, with python3-h2 as the client.
# Run by test/integration/http2_connect_test.cc:
#
#   h2_tunnel.py PORT [--tls CA_FILE] [CASE...]   every case when none is named; exit 1 when
#                                                   one fails
#
# Over TLS the client offers ALPN "h2" only. The server under test serves: CONNECT "/echo"
# with :protocol "websocket" -> 200 with x-protocol: <:protocol>, then echoes the tunnel's
# bytes until the client ends its half; CONNECT "/echo" with another :protocol -> 400;
# GET "/plain" -> 200 "plain"; GET "/last" -> how the last tunnel's handler ended
# ("eof", "reset", "none yet"); CONNECT "/upgrade" -> ctx.upgrade("websocket", echo).
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

PORT = 0
CA = None


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Client:
    def __init__(self):
        sock = socket.create_connection(("127.0.0.1", PORT), timeout=10)
        if CA:
            ctx = ssl.create_default_context(cafile=CA)
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
            check(sock.selected_alpn_protocol() == "h2", "ALPN h2")
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.heads = {}      # stream id -> dict of the response fields
        self.bodies = {}     # stream id -> bytes received
        self.ended = set()   # streams the server ended (END_STREAM)
        self.resets = {}     # stream id -> error code of a RST_STREAM from the server
        self.settings = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self):
        data = self.sock.recv(65536)
        if not data:
            raise Failure("the server closed the connection")
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                self.settings = {int(k): v.new_value for k, v in ev.changed_settings.items()}
            elif isinstance(ev, h2.events.ResponseReceived):
                self.heads[ev.stream_id] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                self.bodies[ev.stream_id] = self.bodies.get(ev.stream_id, b"") + ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.ended.add(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                self.resets[ev.stream_id] = ev.error_code
        self.flush()

    def until(self, cond, what):
        deadline = time.time() + 10
        while not cond():
            if time.time() > deadline:
                raise Failure("timed out waiting for " + what)
            self.pump()

    def connect(self, path, protocol="websocket"):
        self.until(lambda: self.settings is not None, "the server's SETTINGS")
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", protocol), (":scheme", "https" if CA else "http"),
                                     (":path", path), (":authority", "localhost"), ("sec-websocket-version", "13")])
        self.flush()
        return sid

    def get(self, path):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "GET"), (":scheme", "https" if CA else "http"), (":path", path),
                                     (":authority", "localhost")], end_stream=True)
        self.flush()
        self.until(lambda: sid in self.ended, "GET " + path)
        return self.heads[sid].get(":status"), self.bodies.get(sid, b"")

    def send(self, sid, data, end=False):
        # Within the flow-control windows; what does not fit waits for WINDOW_UPDATEs.
        while data:
            self.until(lambda: self.conn.local_flow_control_window(sid) > 0, "window on stream %d" % sid)
            n = min(len(data), self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            self.conn.send_data(sid, data[:n])
            data = data[n:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()


def case_settings():
    c = Client()
    c.until(lambda: c.settings is not None, "SETTINGS")
    check(c.settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) == 1, "ENABLE_CONNECT_PROTOCOL = 1: %r" % c.settings)


def case_echo():
    c = Client()
    sid = c.connect("/echo")
    c.until(lambda: sid in c.heads, "the tunnel's response")
    head = c.heads[sid]
    check(head.get(":status") == "200", "status 200: %r" % head)
    check(head.get("x-protocol") == "websocket", "x-protocol: %r" % head)
    check("content-length" not in head, "no content-length (RFC 9110 §8.6)")
    check(sid not in c.ended, "the stream stays open")
    sent = b""
    for i in range(100):
        msg = (b"message %d " % i) * (1 + i % 50)
        sent += msg
        c.send(sid, msg)
        c.until(lambda: len(c.bodies.get(sid, b"")) >= len(sent), "echo %d" % i)
        if i == 50:  # an ordinary request beside the tunnel, on the same connection
            status, body = c.get("/plain")
            check(status == "200" and body == b"plain", "GET /plain beside the tunnel: %r %r" % (status, body))
    check(c.bodies[sid] == sent, "echoed bytes")
    c.send(sid, b"", end=True)  # the handler's fill sees eof, it returns: END_STREAM
    c.until(lambda: sid in c.ended, "the server's END_STREAM")
    check(sid not in c.resets, "no RST_STREAM")
    status, body = c.get("/last")
    check(body == b"eof", "the handler saw eof: %r" % body)


def case_big():
    c = Client()
    sid = c.connect("/echo")
    c.until(lambda: sid in c.heads, "the tunnel's response")
    data = bytes(i * 7 % 251 for i in range(4 << 20))
    c.send(sid, data, end=True)
    c.until(lambda: sid in c.ended, "4 MiB back")
    check(c.bodies.get(sid, b"") == data, "4 MiB echoed: got %d bytes" % len(c.bodies.get(sid, b"")))


def case_reset():
    c = Client()
    sid = c.connect("/echo")
    c.send(sid, b"hello")
    c.until(lambda: c.bodies.get(sid) == b"hello", "echo")
    c.conn.reset_stream(sid, error_code=8)  # CANCEL
    c.flush()
    deadline = time.time() + 5
    while True:
        status, body = c.get("/last")
        if body == b"reset":
            break
        check(time.time() < deadline, "the handler saw the reset: %r" % body)
        time.sleep(0.02)


def case_refused():
    c = Client()
    sid = c.connect("/echo", protocol="something-else")
    c.until(lambda: sid in c.ended or sid in c.resets, "the refusal")
    check(c.heads.get(sid, {}).get(":status") == "400", "400 for another protocol: %r" % c.heads.get(sid))


def case_upgrade():
    c = Client()
    sid = c.connect("/upgrade")
    c.until(lambda: sid in c.heads, "the tunnel's response")
    check(c.heads[sid].get(":status") == "200", "upgrade() answers 200: %r" % c.heads[sid])
    check("upgrade" not in c.heads[sid], "no Upgrade field on HTTP/2")
    c.send(sid, b"hi there", end=True)
    c.until(lambda: sid in c.ended, "the server's END_STREAM")
    check(c.bodies.get(sid) == b"hi there", "echo through upgrade(): %r" % c.bodies.get(sid))


CASES = {"settings": case_settings, "echo": case_echo, "big": case_big, "reset": case_reset, "refused": case_refused,
         "upgrade": case_upgrade}


def main():
    global PORT, CA
    args = sys.argv[1:]
    PORT = int(args.pop(0))
    if args and args[0] == "--tls":
        args.pop(0)
        CA = args.pop(0)
    names = args or list(CASES)
    failed = False
    for name in names:
        try:
            CASES[name]()
            print("ok   " + name)
        except Exception as e:  # a Failure, or the library's own complaint
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
