#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A WebSocket echo server on python3-websockets for wsload_test.sh: a third-party peer with
ways to echo that khz-wsload must accept, and ways it must reject.

  wsload_peer.py MODE      (listens on 127.0.0.1, an ephemeral port; prints "port N" when ready)

MODE: echo       each message back as it came
      fragment   a ping before each echo, answered before the echo goes, which comes in three
                 fragments (the first empty)
      corrupt    the 5th message of each connection comes back with one byte changed
      wrongtype  binary messages come back as text (and text as binary)
      short      the 5th message comes back one byte short
      close      the server closes (1011) after 3 messages
      extension  the handshake answers with permessage-deflate (which nobody offered)
"""
import asyncio
import sys

import websockets


async def main(mode):
    async def handler(ws, path=None):
        count = 0
        async for message in ws:
            count += 1
            if mode == "fragment":
                # The echo waits for the pong (a client that ignores pings gets 1011 in 5 s).
                # Distinct payloads: websockets allows one outstanding ping per payload.
                pong = await ws.ping(b"khz %d" % count)
                await asyncio.wait_for(pong, 5)
                third = len(message) // 3
                await ws.send([message[:0], message[:third], message[third:]])
                continue
            if mode == "corrupt" and count == 5:
                data = bytearray(message.encode() if isinstance(message, str) else message)
                data[len(data) // 2] ^= 0x01
                message = bytes(data) if isinstance(message, bytes) else data.decode()
            elif mode == "wrongtype":
                message = message.decode() if isinstance(message, bytes) else message.encode()
            elif mode == "short" and count == 5:
                message = message[:-1]
            elif mode == "close" and count == 4:
                await ws.close(1011, "going away on purpose")
                return
            await ws.send(message)

    kwargs = {"compression": None, "max_size": 64 * 1024 * 1024}
    if mode == "extension":  # websockets sends the extra headers in its 101 as they are
        kwargs["extra_headers"] = {"Sec-WebSocket-Extensions": "permessage-deflate"}
    server = await websockets.serve(handler, "127.0.0.1", 0, **kwargs)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1]))
    except KeyboardInterrupt:
        pass
