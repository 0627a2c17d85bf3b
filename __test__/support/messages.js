'use strict'

// What the permessage-deflate specs (deflate, deflate-rest, interop) send: messages of
// exact sizes, random or compressible, and the extension options for each window size.

const assert = require('assert/strict')
const crypto = require('crypto')

// The edges of a frame's three length encodings, and a large message.
const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]

// Printable ASCII from random bytes: about 6.6 bits of entropy a byte, so DEFLATE gains
// little; exactly `size` bytes of valid UTF-8.
const randomText = (size) => {
  const bytes = crypto.randomBytes(size)
  for (let i = 0; i < size; i++) bytes[i] = 0x20 + (bytes[i] % 95)
  return bytes
}

// JSON-ish records with a little non-ASCII, padded with spaces to exactly `size` bytes:
// repeats close together, so it shrinks tenfold whatever the window.
const compressibleText = (size) => {
  const parts = []
  let length = 0
  for (let id = 0; ; id++) {
    const record = `{"id":${id},"user":"user-${id % 97}","tags":["ünïcode","zlib"],"ok":true}\n`
    const bytes = Buffer.byteLength(record)
    if (length + bytes > size) break
    parts.push(record)
    length += bytes
  }
  const text = Buffer.from(parts.join('') + ' '.repeat(size - length))
  assert.equal(text.length, size)
  return text
}

// 64-byte random tokens drawn from a pool of 16: repeats lie from 64 bytes to a few KiB
// apart. A compressor that ignored a small negotiated window would refer further back than
// the peer keeps, and the peer's inflater rejects that ("invalid distance too far back").
const compressibleBinary = (size) => {
  const pool = Array.from({ length: 16 }, () => crypto.randomBytes(64))
  const bytes = Buffer.alloc(size)
  for (let i = 0; i < size; i += 64) pool[crypto.randomInt(16)].copy(bytes, i)
  return bytes
}

// Every window size RFC 7692 allows, in bits. Node's zlib, and so permessage-deflate 0.1.7
// and ws, cannot use 8: tests with those peers start at 9.
const WINDOW_BITS = [8, 9, 10, 11, 12, 13, 14, 15]
const ZLIB_WINDOW_BITS = WINDOW_BITS.filter((bits) => bits >= 9)

// Our extension's options for a window of `bits` both ways: it compresses with that
// window and asks the peer to. With `takeover` given, context takeover is kept (true) or
// dropped (false) both ways as well.
const windowOptions = (bits, takeover) => {
  const options = { maxWindowBits: bits, requestMaxWindowBits: bits }
  if (takeover === undefined) return options
  return { ...options, noContextTakeover: !takeover, requestNoContextTakeover: !takeover }
}

module.exports = {
  SIZES,
  randomText,
  compressibleText,
  compressibleBinary,
  WINDOW_BITS,
  ZLIB_WINDOW_BITS,
  windowOptions
}
