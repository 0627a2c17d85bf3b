#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into fuzz/corpus/.

The committed corpora started from these and grew by fuzzing (then
`scripts/fuzz.sh --cmin`). Run it again only if an input format changes:
    python3 fuzz/seeds/make_seeds.py
"""
import hashlib
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")


def write(target, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def deflate(messages, wbits=15, level=6, strategy=zlib.Z_DEFAULT_STRATEGY):
    """Each message raw-deflated with a sync flush, trailer removed (RFC 7692)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -max(wbits, 9), 8, strategy)
    out = []
    for m in messages:
        w = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        assert w.endswith(b"\x00\x00\xff\xff")
        out.append(w[:-4] or b"\x00")
    return out


# inflate: first byte selects window bits (8 + s % 8) and context takeover
# (bit 7 clear); the rest is one message, inflated twice.
hello = deflate([b"Hello"])[0]
write("inflate", bytes([7]) + hello)
write("inflate", bytes([7]) + bytes.fromhex("f348cdc9c90700"))  # RFC 7692 7.2.3.1
write("inflate", bytes([7]) + bytes.fromhex("f348cdc9c9070000"))  # RFC 7692 7.2.3.4
write("inflate", bytes([0x87]) + bytes.fromhex("0005 00fa ff48 656c 6c6f 00".replace(" ", "")))
write("inflate", bytes([7, 0]))  # an empty message
for bits in (8, 9, 12, 15):
    text = b"".join(b"%d permessage-deflate " % i for i in range(200))
    write("inflate", bytes([bits - 8]) + deflate([text], wbits=bits)[0])
write("inflate", bytes([6 | 0x80]) + deflate([b"\x00" * 65536])[0])  # exactly 64 KiB

# parse_header: header lines.
for h in [
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; client_max_window_bits=10, "
    "permessage-deflate",
    'a; b="quoted \\" value"; c=1.5, d; e=-0',
    "x-webkit-deflate-frame, foo; bar=baz",
]:
    write("parse_header", h.encode())


# deflate_session: client options (5 bytes: level, memLevel, strategy, flags,
# window bits), server options (5 bytes), client maxLength, server maxLength,
# then operations (see fuzz_targets/deflate_session.rs).
def options(level=0, mem=7, strategy=0, nct=False, rnct=False, mwb=None, rmwb=None):
    flags = nct | rnct << 1 | (mwb is not None) << 2 | (rmwb is not None) << 3
    bits = ((mwb or 8) - 8) | ((rmwb or 8) - 8) << 4
    return bytes([level, mem, strategy, flags, bits])


NONE = b"\x00"


def u16max(n):
    return b"\x02" + struct.pack("<H", n)


def literal(text):
    return b"\x00" + bytes([len(text)]) + text


def length(n):
    """The length encoding of fuzz_targets/deflate_session.rs."""
    if n < 256:
        return bytes([0, n])
    if n < 4096:
        return b"\x0c" + struct.pack("<H", n)
    if n < 65536:
        return b"\x0e" + struct.pack("<H", n)
    for k in (1, 2):
        if 0 <= n - (k * 65536 - 128) < 256:
            return bytes([15 | (k - 1) << 7, n - (k * 65536 - 128)])
    raise ValueError(n)


def pattern(p, n):
    return bytes([2 | (len(p) - 1) << 2]) + p + length(n)


def noise(seed, n):
    return bytes([3 | seed << 2]) + length(n)


def burst(to_server, messages):
    return bytes([to_server | (len(messages) - 1) << 2]) + b"".join(messages)


def raw(to_server, data):
    return bytes([2 | to_server, len(data)]) + data


write("deflate_session", options() + options() + NONE + NONE
      + burst(1, [literal(b"Hello")]) + burst(0, [literal(b"Hello")]))
write("deflate_session", options(nct=True, mwb=9) + options(rnct=True, rmwb=10) + NONE + NONE
      + burst(1, [literal(b"abcabcabc"), pattern(b"xyz", 3000)]) + burst(0, [noise(1, 5000)]))
write("deflate_session", options(level=10, strategy=3, mwb=8, rmwb=8) + options(mem=0, strategy=2)
      + u16max(2000) + u16max(2000)
      + burst(1, [pattern(b"a", 2000), pattern(b"a", 2001), literal(b"after")]))
write("deflate_session", options() + options(nct=True) + NONE + u16max(65535)
      + burst(1, [pattern(b"0123456789abcdef", 0xffff), noise(7, 131073)]))
write("deflate_session", options(rmwb=12) + options(mwb=11) + NONE + NONE
      + burst(0, [noise(3, 40000), noise(4, 65536)]) + raw(1, bytes.fromhex("f348cdc9c9070000"))
      + burst(1, [literal(b"fresh pair")]))
write("deflate_session", options(strategy=4) + options(strategy=1, level=1) + b"\x01\x10" + b"\x01\x10"
      + burst(1, [literal(b"x" * 16), literal(b"x" * 17)]) + raw(0, b"\xff" * 20))
