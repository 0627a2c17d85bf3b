#!/usr/bin/env node
// `npm run demo`: the package doing its main job. A faye-websocket 0.11.4 echo
// server and client on 127.0.0.1, both with this package's native
// permessage-deflate, exchange a few thousand generated chat and market
// events. Every echo is checked, in order, character for character. Prints
// the negotiated header, the throughput, and payload bytes against bytes on
// the wire, then exits: 0 when every echo matched, 1 otherwise.
//
// In this repository npm `overrides` point websocket-driver's
// `require('websocket-extensions')` at this package (node_modules/
// websocket-extensions -> ..), so the drivers run this package's container.
'use strict'

const http = require('http')
const path = require('path')
const WebSocket = require('faye-websocket')
const deflate = require('websocket-extensions-rs/deflate')

const MESSAGES = 4000
const LARGE = 8 // of at least 64 KiB: compressed on a worker thread
const IN_FLIGHT = 64 // messages sent ahead of their echoes
const DEADLINE_MS = 60000

function fail (text) {
  console.error('demo: FAILED: ' + text)
  process.exit(1)
}

// --- Messages -------------------------------------------------------------

// Seeded (the tests' generator), so every run sends the same messages.
const random = require('../__test__/support/random').random(0x5eed).next
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1))
const pick = (list) => list[Math.floor(random() * list.length)]

const SYMBOLS = { 'BTC-USD': 64250, 'ETH-USD': 3120, 'SOL-USD': 142, 'ADA-EUR': 0.41, 'EUR-USD': 1.0842 }
const USERS = ['ana', 'björn', 'chen', 'dmitri', 'émilie', 'farah', 'goran', 'hiro', 'ines', 'jules', 'kofi', 'lena']
const ROOMS = ['#general', '#trading', '#ops', '#random', '#support']
const WORDS = ('the a to and of is for on it that this with we be are at not but you have can ' +
  'deploy build release fix merge review latency socket frame buffer window deflate server client ' +
  'order book trade price spread market limit fill cancel retry timeout queue worker thread ' +
  'today tomorrow later soon maybe really great thanks ok done ☕ 🚀 naïve café déjà-vu').split(' ')

let seq = 0
let clock = Date.UTC(2026, 0, 5, 9, 30)
const tick = () => (clock += int(1, 40))

function price (symbol) {
  const mid = SYMBOLS[symbol] * (1 + (random() - 0.5) / 200)
  return Number(mid.toPrecision(6))
}

function sentence (min, max) {
  const words = []
  for (let i = int(min, max); i > 0; i--) words.push(pick(WORDS))
  return words.join(' ')
}

function trade () {
  const symbol = pick(Object.keys(SYMBOLS))
  return { type: 'trade', seq: ++seq, symbol, price: price(symbol), size: Number((random() * 3).toFixed(4)), side: pick(['buy', 'sell']), ts: tick() }
}

function ticker () {
  const symbol = pick(Object.keys(SYMBOLS))
  const last = price(symbol)
  return {
    type: 'ticker',
    seq: ++seq,
    symbol,
    last,
    bid: last * 0.9999,
    ask: last * 1.0001,
    open24h: price(symbol),
    high24h: price(symbol),
    low24h: price(symbol),
    volume24h: int(1e3, 1e7),
    ts: tick()
  }
}

function chatMessage () {
  const message = {
    type: 'chat.message',
    seq: ++seq,
    id: 'm' + int(1e8, 1e9).toString(36),
    room: pick(ROOMS),
    user: { id: int(1, 5000), name: pick(USERS) },
    text: sentence(3, random() < 0.2 ? 250 : 40),
    ts: tick()
  }
  if (random() < 0.3) message.mentions = [pick(USERS), pick(USERS)]
  if (random() < 0.3) message.reactions = { '👍': int(1, 9), '🎉': int(0, 4) }
  return message
}

function levels (symbol, depth, direction) {
  const mid = SYMBOLS[symbol]
  const rows = []
  for (let i = 1; i <= depth; i++) {
    rows.push([(mid * (1 + direction * i / 20000)).toPrecision(7), (random() * 12).toFixed(4), int(1, 30)])
  }
  return rows
}

function bookUpdate (depth) {
  const symbol = pick(Object.keys(SYMBOLS))
  return { type: 'book.update', seq: ++seq, symbol, bids: levels(symbol, depth, -1), asks: levels(symbol, depth, 1), ts: tick() }
}

function chatHistory (count) {
  const messages = []
  for (let i = 0; i < count; i++) messages.push(chatMessage())
  return { type: 'chat.history', seq: ++seq, room: pick(ROOMS), messages, more: random() < 0.5 }
}

// Mostly small events, some of a few KiB, and up to ~16 KiB; then and again
// a large snapshot of at least 64 KiB.
function generateMessages () {
  const out = []
  const largeEvery = Math.floor(MESSAGES / LARGE)
  for (let i = 0; i < MESSAGES; i++) {
    let event
    if (i % largeEvery === largeEvery - 1) {
      event = random() < 0.5 ? bookUpdate(int(1200, 4000)) : chatHistory(int(300, 900))
    } else {
      const r = random()
      if (r < 0.35) event = trade()
      else if (r < 0.5) event = ticker()
      else if (r < 0.75) event = chatMessage()
      else if (r < 0.9) event = bookUpdate(int(5, 180))
      else event = chatHistory(int(3, 30))
    }
    out.push(JSON.stringify(event))
  }
  return out
}

// --- Echo server and client -----------------------------------------------

function startServer () {
  const server = http.createServer((req, res) => res.end('websocket-extensions-rs demo\n'))
  const state = { server, socket: null, offer: null }
  server.on('upgrade', (req, socket, body) => {
    state.socket = socket
    state.offer = req.headers['sec-websocket-extensions']
    const ws = new WebSocket(req, socket, body, [], { extensions: [deflate] })
    ws.on('message', (event) => ws.send(event.data))
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(state)))
}

// Sends `messages`, keeping IN_FLIGHT of them ahead of their echoes, and
// checks every echo against what was sent, in order. `onOpen` runs once the
// handshake is done.
function runClient (url, messages, onOpen) {
  return new Promise((resolve, reject) => {
    const client = new WebSocket.Client(url, [], { extensions: [deflate] })
    const result = { header: null, started: 0n, finished: 0n }
    let sent = 0
    let received = 0
    const sendMore = () => {
      while (sent < messages.length && sent - received < IN_FLIGHT) client.send(messages[sent++])
    }
    client.on('open', () => {
      result.header = client.headers['sec-websocket-extensions'] || null
      onOpen()
      result.started = process.hrtime.bigint()
      sendMore()
    })
    client.on('message', (event) => {
      const expected = messages[received]
      if (event.data !== expected) {
        return reject(new Error(`echo ${received} differs from what was sent ` +
          `(${Buffer.byteLength(String(event.data))} bytes back, ${Buffer.byteLength(expected)} sent)`))
      }
      received += 1
      if (received < messages.length) return sendMore()
      result.finished = process.hrtime.bigint()
      client.close()
    })
    client.on('error', (event) => reject(new Error('client error: ' + event.message)))
    client.on('close', (event) => {
      if (received === messages.length) resolve(result)
      else reject(new Error(`connection closed (${event.code} ${event.reason}) after ${received} echoes`))
    })
  })
}

// --- Main -----------------------------------------------------------------

const mb = (bytes) => (bytes / 1e6).toFixed(2) + ' MB'
const count = (n) => n.toLocaleString('en-US')

async function main () {
  setTimeout(() => fail(`no result after ${DEADLINE_MS / 1000} s`), DEADLINE_MS).unref()

  // The container websocket-driver loads must be this package.
  const driverDir = path.dirname(require.resolve('websocket-driver', { paths: [path.dirname(require.resolve('faye-websocket'))] }))
  const container = require.resolve('websocket-extensions', { paths: [driverDir] })
  if (container !== require.resolve('..')) {
    fail(`websocket-driver loads ${container}, not this package: run \`npm install\` here first`)
  }

  const messages = generateMessages()
  const sizes = messages.map((m) => Buffer.byteLength(m))
  const payload = sizes.reduce((a, b) => a + b, 0)
  const small = sizes.filter((s) => s < 64 * 1024).sort((a, b) => a - b)
  const large = sizes.filter((s) => s >= 64 * 1024)

  const state = await startServer()
  const { port } = state.server.address()
  const url = `ws://127.0.0.1:${port}/`

  console.log('websocket-extensions-rs demo: faye-websocket echo over ' + url)
  console.log(`  driver's websocket-extensions: ${path.relative(process.cwd(), container) || container} (this package)`)
  const kib = (bytes) => (bytes / 1024).toFixed(1) + ' KiB'
  console.log(`  messages: ${count(messages.length)} JSON chat and market events: ${count(small.length)} of ` +
    `${small[0]} B to ${kib(small[small.length - 1])} (median ${small[small.length >> 1]} B) and ${large.length} of ` +
    `${kib(Math.min(...large))} to ${kib(Math.max(...large))}; ${mb(payload)} in all`)

  // Bytes on the wire are counted on the server's end of the TCP connection,
  // from the moment the handshake is done: frames only, both directions.
  let wire0 = null
  let result
  try {
    result = await runClient(url, messages, () => {
      wire0 = { read: state.socket.bytesRead, written: state.socket.bytesWritten }
    })
  } catch (error) {
    fail(error.message)
  }
  const wire = (state.socket.bytesRead - wire0.read) + (state.socket.bytesWritten - wire0.written)
  state.server.close()

  if (!result.header || !/^permessage-deflate\b/.test(result.header)) {
    fail('permessage-deflate was not negotiated (server answered: ' + result.header + ')')
  }
  const seconds = Number(result.finished - result.started) / 1e9
  console.log(`  client offered:   Sec-WebSocket-Extensions: ${state.offer}`)
  console.log(`  server answered:  Sec-WebSocket-Extensions: ${result.header}`)
  console.log(`  echoed: ${count(messages.length)} of ${count(messages.length)}, in order, each identical to what was sent`)
  console.log(`  time: ${seconds.toFixed(2)} s for ${count(messages.length)} round trips, ${IN_FLIGHT} in flight: ` +
    `${count(Math.round(messages.length / seconds))} messages/s, ${(payload / 1e6 / seconds).toFixed(1)} MB/s of payload`)
  console.log(`  payload: ${mb(2 * payload)} (${mb(payload)} each way); on the wire: ${mb(wire)} ` +
    `of frames, ${(100 * wire / (2 * payload)).toFixed(1)} % of the payload`)
}

main()
