'use strict'

// What the downstream specs (sockjs, faye-pubsub) share: JSON events of an
// exact size, and where a downstream package's websocket-extensions resolves.

const assert = require('assert/strict')
const path = require('path')

const ROOT = path.resolve(__dirname, '..', '..', '..')
const WORDS = ['price', 'bid', 'ask', 'hello', 'room', 'user', 'quote', 'trade', 'EUR', 'USD', 'ünïcode', 'ok']

// A JSON chat or market event of exactly `size` bytes of UTF-8 (size >= 64),
// different for every `seed`: records with repeating keys and varying
// values, as a pub/sub server sends them, so it compresses a few times over.
const event = (size, seed) => {
  let state = (seed * 2654435761 + size) >>> 0
  const next = () => {
    state = (state * 1103515245 + 12345) >>> 0
    return state >>> 8
  }
  const head = `{"seed":${seed},"size":${size},"items":[`
  const items = []
  let length = Buffer.byteLength(head) + 2 // "]}"
  for (;;) {
    const item = JSON.stringify({ n: items.length, word: WORDS[next() % WORDS.length], value: next() % 100000, user: `user-${next() % 97}` })
    const bytes = Buffer.byteLength(item) + (items.length > 0 ? 1 : 0)
    if (length + bytes > size) break
    items.push(item)
    length += bytes
  }
  const text = head + items.join(',') + ']}' + ' '.repeat(size - length)
  assert.equal(Buffer.byteLength(text), size)
  return text
}

// Follows `chain` (package names) from `fromDir` the way Node resolves each
// package's `require` from the one before, then resolves websocket-extensions
// from the last: the file that package really loads.
const extensionsSeenThrough = (fromDir, chain) => {
  let dir = fromDir
  for (const name of chain) {
    dir = path.dirname(require.resolve(`${name}/package.json`, { paths: [dir] }))
  }
  return require.resolve('websocket-extensions', { paths: [dir] })
}

module.exports = { ROOT, event, extensionsSeenThrough }
