"""Echo peer for __test__/interop.spec.js: Python's `websockets` with permessage-deflate.

    echo_peer.py server [OPTIONS]      listen on 127.0.0.1, port 0, print the port on a line
                                       of its own, then echo every message of every
                                       connection until stdin closes or SIGTERM comes
    echo_peer.py client URL [OPTIONS]  connect to URL and echo every message until the
                                       server closes the connection; exit 0 on a clean close

Without options the extension has websockets' own defaults (compression="deflate").
--no-context-takeover asks for no context takeover in both directions and
--max-window-bits N for windows of N bits in both directions.

A connection that fails is reported on one line of stderr, down to its root cause (a
stream that would not inflate, say): the tests show it when they fail.
"""

import argparse
import asyncio
import signal
import sys
import threading

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosedError
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)


def extensions(args, factory):
    """None keeps websockets' default permessage-deflate; else one factory as asked."""
    params = {}
    if args.no_context_takeover:
        params["server_no_context_takeover"] = True
        params["client_no_context_takeover"] = True
    if args.max_window_bits is not None:
        params["server_max_window_bits"] = args.max_window_bits
        params["client_max_window_bits"] = args.max_window_bits
    return [factory(**params)] if params else None


async def echo(websocket):
    """Echoes until the connection closes; False if it did not close cleanly."""
    try:
        async for message in websocket:
            await websocket.send(message)
        return True
    except ConnectionClosedError as exc:
        causes = []
        while exc is not None:
            causes.append(str(exc))
            exc = exc.__cause__
        print("echo_peer: " + ": ".join(causes), file=sys.stderr, flush=True)
        return False


async def run_server(args):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def done():
        if not stop.done():
            stop.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, done)

    # The test runner holds our stdin: when it goes away, so do we.
    def watch_stdin():
        sys.stdin.read()
        loop.call_soon_threadsafe(done)

    threading.Thread(target=watch_stdin, daemon=True).start()

    async with serve(
        echo,
        "127.0.0.1",
        0,
        max_size=None,
        ping_interval=None,
        extensions=extensions(args, ServerPerMessageDeflateFactory),
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await stop
    return 0


async def run_client(args):
    async with connect(
        args.url,
        max_size=None,
        ping_interval=None,
        extensions=extensions(args, ClientPerMessageDeflateFactory),
    ) as websocket:
        return 0 if await echo(websocket) else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--no-context-takeover", action="store_true")
    parser.add_argument("--max-window-bits", type=int, choices=range(8, 16))
    args = parser.parse_args()
    if args.role == "client" and not args.url:
        parser.error("client needs a URL")
    sys.exit(asyncio.run(run_server(args) if args.role == "server" else run_client(args)))


if __name__ == "__main__":
    main()
