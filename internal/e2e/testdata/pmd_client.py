"""A permessage-deflate client on Python's websockets library (Debian's
python3-websockets), for shoal's interop tests: it offers compression,
sends text and binary messages of 16 bytes to 256 KiB, expects each echoed
exactly, and prints the extension the server accepted.

Python's zlib inflates the server's messages with the window the server
announced (server_max_window_bits), and refuses any reference past it.

    pmd_client.py URL [server_max_window_bits]
"""
import asyncio
import json
import random
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory


def messages():
    rnd = random.Random(7)
    words = "the a to deploy build test room message server client alert ok thanks".split()
    for n in (16, 100, 1000, 4000, 16000, 64000, 256000):
        text = []
        size = 0
        while size < n:
            obj = {"type": "message", "room": rnd.choice(["lobby", "dev"]),
                   "from": rnd.choice(["alice", "bob", "carol"]), "id": rnd.getrandbits(40),
                   "text": " ".join(rnd.choice(words) for _ in range(rnd.randint(3, 30)))}
            s = json.dumps(obj)
            text.append(s)
            size += len(s) + 1
        yield "\n".join(text)[:n]
        yield bytes(rnd.getrandbits(8) for _ in range(min(n, 20000)))


async def main(url, server_bits):
    factory = ClientPerMessageDeflateFactory(
        server_max_window_bits=server_bits,
        client_max_window_bits=True,
    )
    async with websockets.connect(url, extensions=[factory], compression=None,
                                  max_size=1 << 22, open_timeout=10) as ws:
        print("negotiated:", ws.response_headers.get("Sec-WebSocket-Extensions"), flush=True)
        count = 0
        for _ in range(2):  # twice: with context takeover the second round uses the first
            for msg in messages():
                await ws.send(msg)
                echo = await asyncio.wait_for(ws.recv(), 10)
                if echo != msg:
                    print("echo differs for a %s message of %d" % (type(msg).__name__, len(msg)))
                    sys.exit(1)
                count += 1
        print("echoed:", count, flush=True)


if __name__ == "__main__":
    bits = int(sys.argv[2]) if len(sys.argv) > 2 else None
    asyncio.run(main(sys.argv[1], bits))
