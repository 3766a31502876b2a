#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Frame-level HTTP/2 conformance and abuse checks against a running khz server (h2c, prior
# knowledge). Frames are packed by hand (a real client library refuses to send most of them);
# header blocks come from python3-hpack. Run by test/integration/http2_test.cc:
#
#   h2_frames.py PORT [CASE...]      every case but EXPLICIT ones when none is named; exit 1
#                                    when one fails
#
# The server under test serves: "/" -> 200 "ok"; "/slow" -> 200 after 300 ms; "/big" -> 200
# with 256 KiB; "/hold" (POST) -> streams the request body but does not read it for 1 s;
# "/count" (POST) -> reads the streamed body, answers "bytes=N largest=L trailers=T";
# "/204", "/304"; "/hijack" -> asks for a hijack (not on HTTP/2); "/stream" -> 1 MiB through
# BodyWriter; "/broken" -> one streamed piece, then the handler reports a failure.
# Its options: max_header_list_size 16 KiB, stall_timeout 300 ms, idle_timeout 1 s,
# read_timeout 500 ms, max_body_bytes 100000, max_continuations 4 (MAX_CONTINUATIONS), the
# other protections at their defaults (see protocol/DESIGN.md). The cases in EXPLICIT run only
# when named: "shutdown" (the test shuts the server down meanwhile), "not_http2" (a server that
# speaks HTTP/2 only, serve_http2), and the preface and flood cases, which http2_test.cc runs
# as tests of their own.
import socket
import struct
import sys
import time

from hpack import Decoder, Encoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM = range(12)
SETTINGS_INITIAL_WINDOW_SIZE = 4
MAX_CONTINUATIONS = 4  # Http2Options::max_continuations of the server under test (default: 8)
MAX_OUTBOUND_ACKS = 1000  # Http2Options::max_outbound_control_frames (its default)
CODE_NAMES = {v: k for k, v in dict(
    NO_ERROR=0, PROTOCOL_ERROR=1, INTERNAL_ERROR=2, FLOW_CONTROL_ERROR=3, SETTINGS_TIMEOUT=4,
    STREAM_CLOSED=5, FRAME_SIZE_ERROR=6, REFUSED_STREAM=7, CANCEL=8, COMPRESSION_ERROR=9,
    CONNECT_ERROR=10, ENHANCE_YOUR_CALM=11).items()}

PORT = 0


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


def settings(**kv):
    ids = {"initial_window_size": SETTINGS_INITIAL_WINDOW_SIZE}
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in kv.items()))


class Failure(Exception):
    pass


class Conn:
    def __init__(self, preface=PREFACE, first=None, rcvbuf=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so the kernel does not grow it
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", PORT))
        self.enc = Encoder()
        self.dec = Decoder()
        self.buf = b""
        self.closed = False
        self.headers = {}  # stream id -> the last header block decoded on it
        self.last_goaway_stream = None
        self.sock.sendall(preface + (first if first is not None else frame(SETTINGS, 0, 0)))

    def send(self, *frames):
        try:
            self.sock.sendall(b"".join(frames))
        except OSError:
            self.closed = True

    def block(self, headers):
        return self.enc.encode(headers)

    def request(self, sid, path="/", method="GET", extra=(), end_stream=True):
        hdrs = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "localhost")]
        hdrs += list(extra)
        return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), sid, self.block(hdrs))

    def send_body(self, sid, total, chunk=16384, timeout=3.0):
        """Sends `total` bytes of DATA on sid without overrunning the server's windows (65535 per
        stream at first), reading WINDOW_UPDATEs as needed. Stops early once the stream is
        answered or reset; returns the frames read meanwhile."""
        window = {0: 65535, sid: 65535}
        sent, seen = 0, []
        deadline = time.monotonic() + timeout
        while sent < total:
            n = min(chunk, total - sent)
            if min(window.values()) < n:
                f = self.read_frame(deadline)
                if f is None:
                    return seen
                seen.append(f)
                if f[0] == WINDOW_UPDATE and f[2] in window:
                    window[f[2]] += struct.unpack(">I", f[3])[0] & 0x7FFFFFFF
                if f[2] == sid and f[0] in (HEADERS, RST_STREAM):
                    return seen
                continue
            self.send(frame(DATA, 0, sid, b"y" * n))
            sent += n
            window[0] -= n
            window[sid] -= n
        return seen

    def read_frame(self, deadline):
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk
        length = int.from_bytes(self.buf[:3], "big")
        ftype, flags, sid = struct.unpack(">BBI", self.buf[3:9])
        payload = self.buf[9:9 + length]
        self.buf = self.buf[9 + length:]
        sid &= 0x7FFFFFFF
        if ftype == SETTINGS and not flags & ACK:
            self.send(frame(SETTINGS, ACK, 0))
        if ftype == DATA and payload:  # keep the connection's window open (streams: response())
            self.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload))))
        if ftype == HEADERS:  # decode every block, or the HPACK table goes out of step
            self.headers[sid] = dict(self.dec.decode(payload))
        return ftype, flags, sid, payload

    def until(self, want, timeout=3.0):
        """Frames until want(frame) is true; returns that frame, or None on close/timeout."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(deadline)
            if f is None or want(f):
                return f

    def goaway(self, timeout=3.0):
        """(error code, last stream id) of the server's GOAWAY; None when it closed without one."""
        f = self.until(lambda f: f[0] == GOAWAY, timeout)
        if f is None:
            return None
        last, code = struct.unpack(">II", f[3][:8])
        self.last_goaway_stream = last & 0x7FFFFFFF
        return code, last & 0x7FFFFFFF

    def stream_error(self, sid, timeout=3.0):
        """("rst", code) or ("goaway", code) for stream sid; None when neither came."""
        f = self.until(lambda f: (f[0] == RST_STREAM and f[2] == sid) or f[0] == GOAWAY, timeout)
        if f is None:
            return None
        if f[0] == RST_STREAM:
            return "rst", struct.unpack(">I", f[3][:4])[0]
        return "goaway", struct.unpack(">II", f[3][:8])[1]

    def response(self, sid, timeout=3.0):
        """(status, headers, body) of stream sid, or (None, reason, b"")."""
        headers, body = {}, b""
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(deadline)
            if f is None:
                return None, "closed or timed out", body
            ftype, flags, fsid, payload = f
            if ftype == GOAWAY:
                return None, "GOAWAY %s" % CODE_NAMES.get(struct.unpack(">II", payload[:8])[1]), body
            if fsid != sid:
                continue
            if ftype == RST_STREAM:
                return None, "RST_STREAM %s" % CODE_NAMES.get(struct.unpack(">I", payload)[0]), body
            if ftype == HEADERS:
                headers.update(self.headers[sid])
            elif ftype == DATA:
                body += payload
                if payload:  # keep the stream's window open
                    self.send(frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", len(payload))))
            if flags & END_STREAM:
                return int(headers.get(":status", "0")), headers, body

    def close(self):
        self.sock.close()


def expect(cond, message):
    if not cond:
        raise Failure(message)


def expect_connection_error(c, code, what, allow_close=False):
    got = c.goaway()
    if got is None and allow_close and c.closed:
        return
    expect(got is not None, "%s: no GOAWAY (want %s)" % (what, CODE_NAMES[code]))
    expect(got[0] == code, "%s: GOAWAY %s, want %s" % (what, CODE_NAMES.get(got[0]), CODE_NAMES[code]))
    expect(c.until(lambda f: False, 2.0) is None and c.closed, "%s: connection not closed after GOAWAY" % what)


def expect_stream_error(c, sid, code, what, connection_ok=False):
    got = c.stream_error(sid)
    expect(got is not None, "%s: no RST_STREAM or GOAWAY (want %s)" % (what, CODE_NAMES[code]))
    kind, got_code = got
    expect(kind == "rst" or connection_ok, "%s: connection error %s, want a stream error" % (what, CODE_NAMES.get(got_code)))
    expect(got_code == code, "%s: %s %s, want %s" % (what, kind, CODE_NAMES.get(got_code), CODE_NAMES[code]))


def expect_still_serving(c, sid, what):
    c.send(c.request(sid))
    status, headers, body = c.response(sid)
    expect(status == 200 and body == b"ok", "%s: the connection no longer serves (%s)" % (what, headers))


# ---- conformance (RFC 9113)

def case_basic():
    c = Conn()
    c.send(c.request(1))
    status, headers, body = c.response(1)
    expect(status == 200 and body == b"ok", "GET /: %s %s %r" % (status, headers, body))
    expect("connection" not in headers, "a connection-specific header in the response")


def case_bad_preface():
    # RFC 9113 §3.4: the preface is the magic followed by a SETTINGS frame; anything else is a
    # connection error PROTOCOL_ERROR. On the shared plain-text port, a client whose first line
    # is "PRI * HTTP/2.0" speaks HTTP/2 (no HTTP/1.x request has that line), so it gets the
    # HTTP/2 answer too, not an HTTP/1.1 one.
    c = Conn(first=frame(PING, 0, 0, b"12345678"))
    expect_connection_error(c, PROTOCOL_ERROR, "PING before SETTINGS")
    c = Conn(first=frame(HEADERS, END_HEADERS | END_STREAM, 1, Encoder().encode([(":method", "GET")])))
    expect_connection_error(c, PROTOCOL_ERROR, "HEADERS before SETTINGS")
    for bad in (b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", PREFACE[:-2] + b"XX", b"PRI * HTTP/2.0\r\nSM\r\n\r\n"):
        c = Conn(preface=bad, first=b"")
        expect_connection_error(c, PROTOCOL_ERROR, "preface %r" % bad)
        expect(c.last_goaway_stream == 0, "preface %r: GOAWAY last stream %s, want 0" % (bad, c.last_goaway_stream))


def case_preface_sniff():
    # The shared port: a first line other than "PRI * HTTP/2.0" stays HTTP/1.1, even when it
    # starts like the preface.
    for first in (b"PRI * HTTP/1.1\r\nHost: localhost\r\n\r\n", b"PRI / HTTP/2.0\r\nHost: localhost\r\n\r\n"):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=3)
        s.sendall(first)
        got = b""
        while len(got) < 9:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
        expect(got.startswith(b"HTTP/1.1 "), "%r: not answered as HTTP/1.1 (%r)" % (first, got[:40]))


def case_not_http2():
    # A port that speaks HTTP/2 only (serve_http2, as after ALPN h2): an HTTP/1.1 request is a
    # wrong preface like any other.
    c = Conn(preface=b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", first=b"")
    expect_connection_error(c, PROTOCOL_ERROR, "an HTTP/1.1 request on an HTTP/2-only port")


def case_even_stream_id():
    c = Conn()
    c.send(c.request(2))
    expect_connection_error(c, PROTOCOL_ERROR, "HEADERS on an even stream id")


def case_decreasing_stream_id():
    c = Conn()
    c.send(c.request(5))
    expect(c.response(5)[0] == 200, "stream 5 not answered")
    c.send(c.request(3))
    expect_connection_error(c, PROTOCOL_ERROR, "HEADERS on stream 3 after stream 5")


def case_reused_stream_id():
    c = Conn()
    c.send(c.request(1))
    expect(c.response(1)[0] == 200, "stream 1 not answered")
    c.send(c.request(1))
    got = c.goaway()
    expect(got is not None and got[0] in (PROTOCOL_ERROR, STREAM_CLOSED),
           "HEADERS on closed stream 1: %s, want GOAWAY PROTOCOL_ERROR or STREAM_CLOSED" % (got,))


def case_data_on_closed_stream():
    c = Conn()
    c.send(c.request(1))
    expect(c.response(1)[0] == 200, "stream 1 not answered")
    c.send(frame(DATA, 0, 1, b"late"))
    got = c.stream_error(1)
    expect(got is not None and got[1] == STREAM_CLOSED, "DATA on closed stream 1: %s, want STREAM_CLOSED" % (got,))


def case_data_on_half_closed_stream():
    c = Conn()
    c.send(c.request(1, "/slow"), frame(DATA, 0, 1, b"after END_STREAM"))
    expect_stream_error(c, 1, STREAM_CLOSED, "DATA after END_STREAM", connection_ok=True)


def case_stream_flow_control():
    # /hold does not read its body, so the stream's window (65535) is not reopened.
    c = Conn()
    c.send(c.request(1, "/hold", "POST", end_stream=False))
    chunk = b"x" * 16384
    c.send(*[frame(DATA, 0, 1, chunk) for _ in range(5)])
    expect_stream_error(c, 1, FLOW_CONTROL_ERROR, "81920 bytes into a 65535-byte stream window", connection_ok=True)


def case_window_update_errors():
    c = Conn()
    c.send(c.request(1, "/slow"), frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0)))
    expect_stream_error(c, 1, PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on a stream", connection_ok=True)
    c = Conn()
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
    expect_connection_error(c, FLOW_CONTROL_ERROR, "connection window over 2^31-1")


def case_oversized_frame():
    c = Conn()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x00" * 16385))
    expect_connection_error(c, FRAME_SIZE_ERROR, "a 16385-byte HEADERS frame (SETTINGS_MAX_FRAME_SIZE 16384)")
    c = Conn()
    c.send(frame(PING, 0, 0, b"1234567"))
    expect_connection_error(c, FRAME_SIZE_ERROR, "a 7-byte PING")


def case_bad_settings():
    c = Conn(first=settings(initial_window_size=0x80000000))
    expect_connection_error(c, FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE 2^31")
    c = Conn(first=frame(SETTINGS, 0, 0, b"\x00\x04\x00"))
    expect_connection_error(c, FRAME_SIZE_ERROR, "a SETTINGS frame of 3 bytes")


def bad_request(name, headers):
    c = Conn()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(headers)))
    expect_stream_error(c, 1, PROTOCOL_ERROR, name)
    expect_still_serving(c, 3, name)


def case_bad_pseudo_headers():
    base = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "localhost")]
    bad_request("no :path", [h for h in base if h[0] != ":path"])
    bad_request("no :method", [h for h in base if h[0] != ":method"])
    bad_request("empty :path", [(k, "" if k == ":path" else v) for k, v in base])
    bad_request("unknown pseudo-header :foo", base + [(":foo", "bar")])
    bad_request("pseudo-header after a regular one", base[:2] + [("accept", "*/*")] + base[2:])
    bad_request("a pseudo-header twice", base + [(":path", "/again")])


def case_connection_specific_headers():
    base = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "localhost")]
    bad_request("connection: keep-alive", base + [("connection", "keep-alive")])
    bad_request("keep-alive: 5", base + [("keep-alive", "5")])
    bad_request("transfer-encoding: chunked", base + [("transfer-encoding", "chunked")])
    bad_request("te: gzip", base + [("te", "gzip")])
    bad_request("upper-case name Accept", base + [("Accept", "*/*")])
    c = Conn()
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(base + [("te", "trailers")])))
    expect(c.response(1)[0] == 200, "te: trailers refused")


def case_no_content_statuses():
    for sid, path in ((1, "/204"), (3, "/304")):
        c = Conn()
        c.send(c.request(sid, path))
        f = c.until(lambda f: f[0] in (HEADERS, DATA, RST_STREAM, GOAWAY) and f[2] == sid)
        expect(f is not None and f[0] == HEADERS and f[1] & END_STREAM, "%s: not one HEADERS with END_STREAM" % path)
        headers = c.headers[sid]
        expect(headers.get(":status") == path[1:], "%s: status %s" % (path, headers.get(":status")))
        expect("content-length" not in headers, "%s: content-length %s" % (path, headers.get("content-length")))


def case_head():
    c = Conn()
    c.send(c.request(1, "/big", "HEAD"))
    f = c.until(lambda f: f[2] == 1 and f[0] in (HEADERS, DATA, RST_STREAM))
    expect(f is not None and f[0] == HEADERS and f[1] & END_STREAM, "HEAD: not one HEADERS with END_STREAM")
    expect(c.headers[1].get("content-length") == str(256 * 1024), "HEAD: content-length %s" % c.headers[1])


def case_hijack_refused():
    c = Conn()
    c.send(c.request(1, "/hijack"))
    status, headers, body = c.response(1)
    expect(status == 501, "hijack on HTTP/2: status %s, want 501" % status)


def case_request_trailers():
    c = Conn()
    c.send(c.request(1, "/count", "POST", end_stream=False), frame(DATA, 0, 1, b"x" * 1000),
           frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block([("x-sum", "42")])))
    status, headers, body = c.response(1)
    expect(status == 200 and body == b"bytes=1000 largest=1000 trailers=1", "request trailers: %s %r" % (status, body))


def case_body_limit():
    c = Conn()
    c.send(c.request(1, "/", "POST", extra=[("content-length", "200000")], end_stream=False))
    status, _, _ = c.response(1)
    expect(status == 413, "announced body over max_body_bytes: %s, want 413" % status)
    c = Conn()
    c.send(c.request(1, "/", "POST", end_stream=False))
    seen = c.send_body(1, 7 * 16384)  # within the windows, over max_body_bytes (100000)
    if any(f[0] == HEADERS and f[2] == 1 for f in seen):
        status = int(c.headers[1].get(":status", "0"))
    else:
        status = c.response(1)[0]
    expect(status == 413, "body over max_body_bytes: %s, want 413" % status)
    expect_still_serving(c, 3, "after a 413")


def case_max_concurrent_streams():
    # SETTINGS_MAX_CONCURRENT_STREAMS 100: the 101st open stream is refused (RFC 9113 §5.1.2).
    c = Conn()
    c.send(*[c.request(1 + 2 * i, "/slow") for i in range(101)])
    expect_stream_error(c, 201, REFUSED_STREAM, "stream 101 of 101")
    done = 0
    deadline = time.monotonic() + 3
    while done < 100:
        f = c.read_frame(deadline)
        expect(f is not None, "only %d of 100 streams answered" % done)
        if f[1] & END_STREAM and f[0] in (HEADERS, DATA):
            done += 1


def case_read_timeouts():
    c = Conn()
    c.send(c.request(1, "/count", "POST", end_stream=False), frame(DATA, 0, 1, b"z" * 10))
    start = time.monotonic()
    expect_stream_error(c, 1, CANCEL, "streamed body that stops coming")
    expect(0.4 < time.monotonic() - start < 3, "streamed body: reset after %.2f s (read_timeout 500 ms)"
           % (time.monotonic() - start))
    c.send(c.request(3, "/", "POST", end_stream=False))
    expect_stream_error(c, 3, CANCEL, "collected body that never comes")
    expect_still_serving(c, 5, "after body read timeouts")


def case_idle_timeout():
    c = Conn()
    c.send(c.request(1))
    expect(c.response(1)[0] == 200, "stream 1 not answered")
    start = time.monotonic()
    got = c.goaway(4.0)
    took = time.monotonic() - start
    expect(got is not None and got[0] == NO_ERROR, "idle connection: %s, want GOAWAY NO_ERROR" % (got,))
    expect(0.9 < took < 3.5, "idle connection closed after %.2f s (idle_timeout 1 s)" % took)
    c.until(lambda f: False, 2.0)
    expect(c.closed, "idle connection left open after GOAWAY")


def case_streamed_response_reset_by_client():
    # The client takes a little of a streamed response, then cancels it: the handler's write
    # fails, the connection goes on.
    c = Conn()
    c.send(c.request(1, "/stream"))
    f = c.until(lambda f: f[0] == DATA and f[2] == 1)
    expect(f is not None, "no DATA for /stream")
    c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", CANCEL)))
    expect_still_serving(c, 3, "after cancelling a streamed response")
    c.send(c.request(5, "/stream"))
    status, _, body = c.response(5, 10.0)
    expect(status == 200 and len(body) == 64 * 16384, "/stream: %s, %d bytes" % (status, len(body)))


def case_broken_streamed_response():
    c = Conn()
    c.send(c.request(1, "/broken"))
    expect_stream_error(c, 1, INTERNAL_ERROR, "a streamed response the handler broke off")
    expect_still_serving(c, 3, "after a broken streamed response")


def case_abandoned_connection():
    # Streams in every state, then the socket goes away: the server must clean up (the test
    # runs under AddressSanitizer too) and keep serving others.
    c = Conn(first=settings(initial_window_size=0))
    c.send(c.request(1, "/stream"), c.request(3, "/slow"), c.request(5, "/big"),
           c.request(7, "/count", "POST", end_stream=False), frame(DATA, 0, 7, b"partial"),
           c.request(9, "/hold", "POST", end_stream=False))
    c.until(lambda f: f[0] == HEADERS and f[2] == 5, 2.0)
    c.close()
    d = Conn()
    expect_still_serving(d, 1, "after an abandoned connection")


# ---- protections

def case_rapid_reset():
    c = Conn()
    frames = []
    for i in range(300):
        sid = 1 + 2 * i
        frames.append(c.request(sid, "/slow"))
        frames.append(frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL)))
    c.send(*frames)
    expect_connection_error(c, ENHANCE_YOUR_CALM, "300 streams opened and reset at once")


def header_block_in_pieces(c, sid, continuations):
    """HEADERS for GET / on sid, its block split so that `continuations` CONTINUATION frames
    follow, END_HEADERS on the last."""
    block = c.block([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "localhost"),
                     ("x-pieces", "p" * (continuations + 1))])
    pieces = [block[:len(block) // (continuations + 1)]]
    step = max(1, (len(block) - len(pieces[0])) // continuations)
    rest = block[len(pieces[0]):]
    for i in range(continuations):
        pieces.append(rest[i * step:] if i == continuations - 1 else rest[i * step:(i + 1) * step])
    frames = [frame(HEADERS, END_STREAM, sid, pieces[0])]
    for i, p in enumerate(pieces[1:]):
        frames.append(frame(CONTINUATION, END_HEADERS if i == continuations - 1 else 0, sid, p))
    return frames


def case_continuation_limit():
    # Http2Options::max_continuations (MAX_CONTINUATIONS here) CONTINUATION frames after a
    # HEADERS are served; one more is a flood: GOAWAY ENHANCE_YOUR_CALM, then the close.
    c = Conn()
    c.send(*header_block_in_pieces(c, 1, MAX_CONTINUATIONS))
    status, headers, body = c.response(1)
    expect(status == 200 and body == b"ok", "%d CONTINUATION frames: %s %s" % (MAX_CONTINUATIONS, status, headers))
    c = Conn()
    c.send(*header_block_in_pieces(c, 1, MAX_CONTINUATIONS + 1))
    expect_connection_error(c, ENHANCE_YOUR_CALM, "%d CONTINUATION frames" % (MAX_CONTINUATIONS + 1))


def case_continuation_flood():
    c = Conn()
    block = c.block([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "localhost")])
    frames = [frame(HEADERS, END_STREAM, 1, block)]
    frames += [frame(CONTINUATION, 0, 1, b"\x40\x01a\x01b") for _ in range(2000)]  # never END_HEADERS
    c.send(*frames)
    expect_connection_error(c, ENHANCE_YOUR_CALM, "CONTINUATION flood")
    # The same on a stream refused (the 101st of SETTINGS_MAX_CONCURRENT_STREAMS 100): nghttp2
    # decodes that header block only to keep HPACK in step, and reports its frames to no one.
    c = Conn()
    frames = [c.request(1 + 2 * i, "/slow") for i in range(100)]
    frames.append(frame(HEADERS, END_STREAM, 201, c.block([(":method", "GET"), (":scheme", "http"), (":path", "/"),
                                                           (":authority", "localhost")])))
    frames += [frame(CONTINUATION, 0, 201, b"\x40\x01a\x01b") for _ in range(2000)]
    c.send(*frames)
    expect_connection_error(c, ENHANCE_YOUR_CALM, "CONTINUATION flood on a refused stream")


def case_hpack_bomb():
    c = Conn()
    # One 4 KiB field in the dynamic table, then a block that names it 64 times: 256 KiB decoded
    # from a few hundred bytes, over max_header_list_size (16 KiB).
    base = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "localhost")]
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(base + [("x-bomb", "b" * 4000)])))
    expect(c.response(1)[0] == 200, "the seeding request failed")
    bomb = c.block(base + [("x-bomb", "b" * 4000)] * 64)
    expect(len(bomb) < 1000, "the encoder did not index the field (%d bytes)" % len(bomb))
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, bomb))
    status, headers, _ = c.response(3)
    expect(status == 431, "HPACK bomb: status %s (%s), want 431" % (status, headers))
    expect_still_serving(c, 5, "after the HPACK bomb")


def flood(frames, what):
    # Enough control frames to fill the socket buffers of both sides (several MB) first: the
    # client reads nothing, so once the kernel's buffers are full the ACKs the server owes pile
    # up. At MAX_OUTBOUND_ACKS it must say so (GOAWAY ENHANCE_YOUR_CALM) and close, rather than
    # queue without bound or just drop the connection.
    c = Conn(rcvbuf=4096)
    try:
        c.sock.settimeout(10)
        c.sock.sendall(b"".join(frames))
    except OSError:
        pass  # the server closed while we were still sending: wrong, but the reads below say so
    # Now read: megabytes of ACKs, then the GOAWAY, then the end of the stream.
    kinds, goaway, buf, pos = {}, None, bytearray(), 0
    deadline = time.monotonic() + 10
    while goaway is None and time.monotonic() < deadline:
        while len(buf) - pos >= 9 and len(buf) - pos >= 9 + int.from_bytes(buf[pos:pos + 3], "big"):
            length, ftype = int.from_bytes(buf[pos:pos + 3], "big"), buf[pos + 3]
            if ftype == GOAWAY:
                goaway = struct.unpack(">II", bytes(buf[pos + 9:pos + 17]))[1]
            kinds[ftype] = kinds.get(ftype, 0) + 1
            pos += 9 + length
        del buf[:pos]
        pos = 0
        if goaway is not None:
            break
        try:
            c.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = c.sock.recv(1 << 20)
        except OSError as e:
            chunk = b""
            expect(False, "%s: %s after %s" % (what, e, kinds))
        if not chunk:
            break
        buf += chunk
    expect(goaway is not None, "%s: no GOAWAY (frames read: %s)" % (what, kinds))
    expect(goaway == ENHANCE_YOUR_CALM, "%s: GOAWAY %s, want ENHANCE_YOUR_CALM" % (what, CODE_NAMES.get(goaway)))
    expect(c.until(lambda f: False, 3.0) is None and c.closed, "%s: connection not closed after GOAWAY" % what)


def case_ping_flood():
    flood([frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(600000)], "PING flood")


def case_settings_flood():
    flood([frame(SETTINGS, 0, 0) for _ in range(1200000)], "SETTINGS flood")


def case_ping_burst():
    # A client that reads may send more PINGs at once than MAX_OUTBOUND_ACKS: the limit counts
    # the ACKs its socket cannot take, not those of one read.
    c = Conn()
    n = 3 * MAX_OUTBOUND_ACKS
    c.send(*[frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(n)])
    acks = 0
    deadline = time.monotonic() + 5
    while acks < n:
        f = c.read_frame(deadline)
        expect(f is not None and f[0] != GOAWAY, "a burst of %d PINGs: %s after %d ACKs" % (n, f and f[:3], acks))
        if f[0] == PING and f[1] & ACK:
            expect(struct.unpack(">Q", f[3])[0] == acks, "PING ACK %d out of order" % acks)
            acks += 1
    expect_still_serving(c, 1, "after a burst of PINGs")


def case_zero_window_stall():
    # The client opens no window for the response: after stall_timeout the stream is reset.
    c = Conn(first=settings(initial_window_size=0))
    c.send(c.request(1, "/big"))
    start = time.monotonic()
    got = c.stream_error(1, 5.0)
    expect(got == ("rst", CANCEL), "zero-window stall: %s, want RST_STREAM CANCEL" % (got,))
    took = time.monotonic() - start
    expect(0.25 <= took < 3.0, "zero-window stall: reset after %.2f s (stall_timeout 300 ms)" % took)
    c.send(settings(initial_window_size=65535))
    expect_still_serving(c, 3, "after a stalled stream")


def case_shutdown():
    # Run by the test while the server shuts down gracefully: the slow request in hand finishes
    # after the GOAWAY.
    c = Conn()
    c.send(c.request(1, "/slow"))
    got = c.until(lambda f: f[0] == GOAWAY, 3.0)
    expect(got is not None, "no GOAWAY on shutdown")
    last, code = struct.unpack(">II", got[3][:8])
    expect(code == NO_ERROR and last == 1, "GOAWAY %s last stream %d, want NO_ERROR 1" % (CODE_NAMES.get(code), last))
    status, headers, body = c.response(1)
    expect(status == 200 and body == b"slow", "the stream in hand did not finish: %s %s" % (status, headers))
    c.until(lambda f: False, 3.0)
    expect(c.closed, "connection left open after the last stream")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}
EXPLICIT = {"shutdown", "bad_preface", "preface_sniff", "not_http2",
            "continuation_limit", "continuation_flood", "ping_burst", "ping_flood", "settings_flood"}


def main():
    global PORT
    PORT = int(sys.argv[1])
    names = sys.argv[2:] or [n for n in CASES if n not in EXPLICIT]
    failed = 0
    for name in names:
        try:
            CASES[name]()
            print("ok   %s" % name)
        except Failure as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
        except Exception as e:  # noqa: BLE001 - a crash of the script is a failure too
            failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
