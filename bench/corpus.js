'use strict'
// The message corpus: generated JSON chat and market events, seeded so that
// every run (and every child process, and the Rust codec binary) sees the
// same bytes. Events carry increasing ids, sequence numbers and timestamps,
// so no two are alike, and messages are batches of consecutive events, so no
// two messages are alike either. That matters: with context takeover, a
// message the compressor has seen before shrinks to almost nothing, and a
// benchmark that repeats one buffer measures nothing.

const fs = require('fs')
// The tests' seeded generator (mulberry32): fast and good enough to make
// text; seeded, so repeatable.
const seeded = require('../__test__/support/random')

function random (seed) {
  return seeded.random(seed).next
}

const WORDS = (
  'the a to and of is in it you that for on was with this are be have not just so but ' +
  'what can do like get all one about up out if me my your we they there here now when ' +
  'deploy build release merge branch review ticket bug fix test flaky ci green red prod ' +
  'staging rollback latency p99 spike alert pager oncall dashboard graph metrics logs ' +
  'database index query slow cache miss hit ttl queue worker retry timeout socket ' +
  'websocket frame deflate compression window context takeover handshake header ' +
  'lunch coffee meeting standup sync later tomorrow friday weekend thanks thx lol ok ' +
  'sure nice great agreed +1 ship it looks good lgtm nit typo rename refactor cleanup ' +
  'price order book bid ask spread fill trade volume market limit stop maker taker fee'
).split(' ')
const ROOMS = ['general', 'random', 'eng-backend', 'eng-frontend', 'incidents', 'releases',
  'trading-desk', 'support', 'design', 'ops']
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan',
  'judy', 'mallory', 'niaj', 'olivia', 'peggy', 'rupert', 'sybil', 'trent', 'victor',
  'walter', 'zoe']
const EMOJI = ['thumbsup', 'tada', 'eyes', 'rocket', 'fire', 'white_check_mark', 'pray']
const SYMBOLS = ['BTC-USD', 'ETH-USD', 'SOL-USD', 'AAPL', 'MSFT', 'NVDA', 'TSLA', 'EUR-USD',
  'GBP-USD', 'USD-JPY', 'XAU-USD', 'ES-FUT']
const VENUES = ['XNAS', 'XNYS', 'BATS', 'ARCX', 'CBSE', 'LMAX']

// An endless stream of distinct events as JSON text.
function events (seed) {
  const rnd = random(seed)
  const pick = (list) => list[Math.floor(rnd() * list.length)]
  const int = (n) => Math.floor(rnd() * n)
  const prices = SYMBOLS.map((_, i) => 20 + i * 137.25 + int(1000))
  let ts = 1700000000000 + int(1e9)
  let seq = int(1e6)
  let chatId = int(1e9)

  const sentence = (n) => {
    const words = []
    for (let i = 0; i < n; i++) words.push(pick(WORDS))
    const text = words.join(' ')
    return text[0].toUpperCase() + text.slice(1) + pick(['.', '!', '?', '', ' :)'])
  }
  const price = (i) => {
    prices[i] = Math.max(0.01, prices[i] * (1 + (rnd() - 0.5) * 0.002))
    return Math.round(prices[i] * 100) / 100
  }
  const qty = () => Math.round(rnd() * rnd() * 5000) / 100

  function chat () {
    const user = int(NAMES.length * 50)
    const event = {
      type: 'message',
      id: 'm_' + (chatId++).toString(36),
      room: pick(ROOMS),
      user: { id: user, name: NAMES[user % NAMES.length] + (user >> 4) },
      ts,
      text: sentence(2 + int(int(4) === 0 ? 60 : 14))
    }
    if (int(5) === 0) event.mentions = [NAMES[int(NAMES.length)]]
    if (int(4) === 0) event.reactions = { [pick(EMOJI)]: 1 + int(9) }
    if (int(8) === 0) event.thread = 'm_' + (chatId - 1 - int(500)).toString(36)
    return event
  }

  function trade () {
    const i = int(SYMBOLS.length)
    return {
      type: 'trade',
      seq: seq++,
      sym: SYMBOLS[i],
      px: price(i),
      qty: qty(),
      side: rnd() < 0.5 ? 'buy' : 'sell',
      ts
    }
  }

  function book () {
    const i = int(SYMBOLS.length)
    const mid = price(i)
    const levels = 1 + int(5)
    const side = (sign) => {
      const out = []
      for (let l = 1; l <= levels; l++) {
        out.push([Math.round((mid + sign * l * mid * 0.0001) * 100) / 100, qty()])
      }
      return out
    }
    return { type: 'book', seq: seq++, sym: SYMBOLS[i], venue: pick(VENUES), bids: side(-1), asks: side(1), ts }
  }

  function presence () {
    const user = int(NAMES.length * 50)
    return { type: 'presence', user: NAMES[user % NAMES.length] + (user >> 4), status: pick(['online', 'away', 'typing', 'offline']), room: pick(ROOMS), ts }
  }

  return function next () {
    ts += 1 + int(40)
    const r = rnd()
    const event = r < 0.35 ? chat() : r < 0.7 ? trade() : r < 0.92 ? book() : presence()
    return JSON.stringify(event)
  }
}

// `count` messages of at most `size` bytes: each a JSON array of the next
// events that fit. An event too long for an empty batch is dropped (only
// at the smallest sizes), so small messages hold trades, ticks and short
// chat lines, as they do in practice.
function messages (size, count, seed) {
  const next = events(seed)
  const out = []
  let pending = next()
  while (out.length < count) {
    const parts = []
    let length = 2
    for (;;) {
      const extra = Buffer.byteLength(pending) + (parts.length > 0 ? 1 : 0)
      if (length + extra > size) {
        if (parts.length > 0) break
        pending = next()
        continue
      }
      parts.push(pending)
      length += extra
      pending = next()
    }
    out.push(Buffer.from('[' + parts.join(',') + ']'))
  }
  return out
}

// The messages in a file the Rust codec bench reads: for each message, its
// length as a little-endian u32, then its bytes.
function writeFile (file, list) {
  const total = list.reduce((n, m) => n + 4 + m.length, 0)
  const out = Buffer.allocUnsafe(total)
  let at = 0
  for (const m of list) {
    out.writeUInt32LE(m.length, at)
    m.copy(out, at + 4)
    at += 4 + m.length
  }
  fs.writeFileSync(file, out)
}

module.exports = { messages, writeFile }
