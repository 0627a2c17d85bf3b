# wstest, with every listening socket bound to 127.0.0.1: autobahntestsuite's
# fuzzingserver listens on all interfaces, and `npm run autobahn` keeps to
# loopback. Run by scripts/autobahn.js with the virtualenv's Python 2.7.
import sys

from autobahn.twisted import websocket
from autobahntestsuite import fuzzing

_listen = websocket.listenWS


def listen_loopback(factory, contextFactory=None, backlog=50, interface=''):
    return _listen(factory, contextFactory, backlog, interface='127.0.0.1')


fuzzing.listenWS = listen_loopback

from autobahntestsuite.wstest import run  # noqa: E402 (after the patch)

if __name__ == '__main__':
    sys.exit(run())
