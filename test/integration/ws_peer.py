#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# A python3-websockets peer for websocket_interop_test.
#   ws_peer.py server PORT_DEFLATE PORT_PLAIN   echo servers (same type back; permessage-deflate
#                                               on the first port, none on the second) until killed
#   ws_peer.py client URL deflate|plain         talks to an echo server; prints "ok" or why not
import asyncio
import sys

import websockets

MAX = 16 * 1024 * 1024


def pattern(n):
    return "".join(chr(ord("a") + (i * 7 + i // 13) % 26) for i in range(n))


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def serve(port_deflate, port_plain):
    async with websockets.serve(echo, "127.0.0.1", port_deflate, compression="deflate", max_size=MAX,
                                subprotocols=["chat"]), \
            websockets.serve(echo, "127.0.0.1", port_plain, compression=None, max_size=MAX, subprotocols=["chat"]):
        await asyncio.Future()


class Failure(Exception):
    pass


def fail(why):
    raise Failure(why)


async def client(url, mode):
    compression = "deflate" if mode == "deflate" else None
    async with websockets.connect(url, subprotocols=["chat"], compression=compression, max_size=MAX) as ws:
        if ws.subprotocol != "chat":
            fail("subprotocol %r" % ws.subprotocol)
        deflated = any(e.name == "permessage-deflate" for e in ws.extensions)
        if deflated != (mode == "deflate"):
            fail("permessage-deflate negotiated: %r" % deflated)
        big = pattern(1024 * 1024 + 3)
        for message in ["hello", b"\x00\x01\xff", "", "κόσμε", big, big.encode()]:
            await ws.send(message)
            back = await ws.recv()
            if back != message or type(back) is not type(message):
                fail("echo of a %s message of %d differs" % (type(message).__name__, len(message)))
        # A fragmented message (one frame per piece).
        await ws.send(["frag", "mented", " text"])
        if await ws.recv() != "fragmented text":
            fail("fragmented echo differs")
        pong = await ws.ping(b"py")
        await asyncio.wait_for(pong, 5)
        await ws.close(code=4000, reason="py done")
        if ws.close_code != 4000:
            fail("close code echoed %r" % ws.close_code)
    print("ok")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "server":
        asyncio.run(serve(int(sys.argv[2]), int(sys.argv[3])))
    elif len(sys.argv) == 4 and sys.argv[1] == "client":
        try:
            asyncio.run(asyncio.wait_for(client(sys.argv[2], sys.argv[3]), 20))
        except (Failure, Exception) as e:  # one line for the test's log
            print("%s: %s" % (type(e).__name__, e))
            sys.exit(1)
    else:
        print("usage: ws_peer.py server PORT_DEFLATE PORT_PLAIN | client URL deflate|plain")
        sys.exit(2)


if __name__ == "__main__":
    main()
