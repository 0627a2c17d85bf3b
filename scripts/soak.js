#!/usr/bin/env node
'use strict'
// Soak test (issue 6): many concurrent loopback WebSocket connections through
// faye-websocket 0.11.4 with this package's native permessage-deflate on both
// ends, for a set time. Every client sends a stream of distinct, seeded JSON
// events (and some binary frames) of mixed sizes, a few of them 64 KiB or
// more (so the worker-pool path runs too); the server echoes each message; the
// client checks every echo, in order, byte for byte.
//
//   npm run soak -- [--seconds 60] [--connections 1000] [--rate 1] [--seed 1]
//                   [--window 16] [--interval 5]
//
// The server runs in a child process of its own (this script, --role server),
// so that each end has a core and its own RSS and event loop to measure.
// --rate is messages per second per connection (on average; the gaps are
// random); --window caps the echoes a connection may wait for (a send that
// would pass it is skipped and counted as "throttled"). Everything listens on
// and connects to 127.0.0.1 only.
//
// Every --interval seconds it prints, for each process: RSS, V8 heap, event-
// loop delay (p50/p99/max beyond the 10 ms sampling interval), RSS per open
// connection (above the process's RSS before the first connection opened),
// this package's deflate.stats() for that process (live and resting zlib
// states, history bytes), and the counts of messages sent, echoed and
// checked, and errors. The summary gives RSS per connection on each end. It ends by itself, closes
// every connection normally, and exits 0 only if: every connection opened and
// negotiated permessage-deflate, no message was lost, reordered or corrupted,
// no error event or unexpected close happened on either end, and neither
// process's memory kept growing (the rule is at `memoryVerdict` below). Not
// part of CI.

const childProcess = require('child_process')
const http = require('http')
const path = require('path')
const { monitorEventLoopDelay } = require('perf_hooks')
const { random } = require('../__test__/support/random')

const ROOT = path.resolve(__dirname, '..')
const MiB = 1 << 20

// ---------------------------------------------------------------------------
// Options.

const DEFAULTS = { seconds: 60, connections: 1000, rate: 1, seed: 1, window: 16, interval: 5 }

function parseArgs (argv) {
  const options = { ...DEFAULTS, role: 'client' }
  for (let i = 0; i < argv.length; i++) {
    const match = /^--([a-z]+)(?:=(.*))?$/.exec(argv[i])
    if (!match || !(match[1] in options)) usage(`unknown argument ${argv[i]}`)
    const value = match[2] !== undefined ? match[2] : argv[++i]
    if (match[1] === 'role') {
      options.role = value
      continue
    }
    const number = Number(value)
    if (value === undefined || !Number.isFinite(number) || number <= 0) usage(`--${match[1]} needs a positive number`)
    options[match[1]] = number
  }
  options.connections = Math.floor(options.connections)
  return options
}

function usage (problem) {
  console.error(`soak: ${problem}`)
  console.error('usage: npm run soak -- [--seconds N] [--connections N] [--rate N] [--seed N] [--window N] [--interval N]')
  process.exit(2)
}

const options = parseArgs(process.argv.slice(2))

// ---------------------------------------------------------------------------
// faye-websocket must run on this package: npm overrides point its
// `websocket-extensions` here.

const WebSocket = require('faye-websocket')
const deflate = require('websocket-extensions-rs/deflate')

const resolved = require.resolve('websocket-extensions', {
  paths: [path.dirname(require.resolve('websocket-driver'))]
})
if (resolved !== path.join(ROOT, 'index.js')) {
  console.error(`soak: websocket-driver loads websocket-extensions from ${resolved}, not from this package`)
  console.error('soak: run `npm install` in the repository so that the npm override applies')
  process.exit(2)
}

// ---------------------------------------------------------------------------
// Measurements, the same in both processes.

// The histogram records the time between its timer's firings, so an idle loop
// reads as the resolution itself: what is reported is the delay beyond it.
const RESOLUTION_MS = 10
const loopDelay = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
loopDelay.enable()

function beyond (ns) {
  return Math.max(0, ns / 1e6 - RESOLUTION_MS)
}

// Memory and event-loop delay since the last call.
function snapshot () {
  const m = process.memoryUsage()
  const result = {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    p50: beyond(loopDelay.percentile(50)),
    p99: beyond(loopDelay.percentile(99)),
    max: beyond(loopDelay.max),
    deflate: deflate.stats()
  }
  loopDelay.reset()
  return result
}

function mb (bytes) {
  return (bytes / MiB).toFixed(1)
}

// RSS when the process had loaded everything and before any connection
// opened: per-connection figures count what is above it.
let baseRss = 0

function markBase () {
  baseRss = process.memoryUsage().rss
}

// KiB of RSS per open connection above the process's base, and the RSS
// divided by the connections without subtracting it.
function perConnection (rss, open, base) {
  if (open <= 0) return 'no connection open'
  return `${((rss - base) / 1024 / open).toFixed(0)} KiB/conn above the base of ${mb(base)} MiB ` +
    `(${(rss / 1024 / open).toFixed(0)} KiB/conn in all)`
}

// This thread's deflate figures (see deflate.d.ts): directions with a zlib
// state now, resting with only their history, and on a worker.
function describeDeflate (d) {
  return `deflate: live ${d.liveStates} (${mb(d.liveStateBytes)} MiB of state), resting ${d.resting}, ` +
    `history ${mb(d.historyBytes)} MiB, working ${d.working}, sessions ${d.sessions}`
}

function describeSnapshot (s, open, base) {
  return `rss ${mb(s.rss)} MiB heap ${mb(s.heapUsed)}/${mb(s.heapTotal)} MiB` +
    `  loop delay p50 ${s.p50.toFixed(1)} p99 ${s.p99.toFixed(1)} max ${s.max.toFixed(1)} ms` +
    `\n                 ${perConnection(s.rss, open, base)}; ${describeDeflate(s.deflate)}`
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

// The memory rule, applied to each process. RSS is sampled once a second
// while messages flow. The first third of the run is warm-up (connections
// open, codecs allocate their windows, V8 and jemalloc size their heaps) and
// is not judged. A leak shows as RSS that keeps rising after that, so the
// median RSS of the last third is compared with the median of the middle
// third: medians, so that a burst of large messages or a collection that
// happens to fall on a sample does not decide the verdict. A process fails
// when its last third's median exceeds its middle third's by more than
// max(32 MiB, 10 %). At 1,000 connections each process holds about 0.5 GiB,
// so 10 % leaves room for allocator and heap noise, while a leak of even
// 1 KiB per message (about 20 MiB per third of a 60 s run at the default
// rate) or of one codec per connection (0.3 GiB) still shows.
function memoryVerdict (samples) {
  const n = samples.length
  if (n < 6) return { ok: true, text: `too few samples (${n}) to judge memory` }
  const third = Math.floor(n / 3)
  const middle = median(samples.slice(third, 2 * third))
  const last = median(samples.slice(n - third))
  const allowed = Math.max(32 * MiB, middle * 0.1)
  const growth = last - middle
  return {
    ok: growth <= allowed,
    text: `median RSS middle third ${mb(middle)} MiB, last third ${mb(last)} MiB, ` +
      `growth ${mb(growth)} MiB (allowed ${mb(allowed)} MiB)`
  }
}

function waitFor (condition, timeoutMs) {
  return new Promise((resolve) => {
    const started = Date.now()
    const check = () => {
      if (condition()) return resolve(true)
      if (Date.now() - started > timeoutMs) return resolve(false)
      setTimeout(check, 50)
    }
    check()
  })
}

// ---------------------------------------------------------------------------
// The server process: echoes every message on the same connection, and
// answers the client process's commands over IPC.

function runServer () {
  const sockets = new Set()
  const problems = []
  const rssSamples = []
  let sampler = null
  let stopping = false
  let echoed = 0
  let accepted = 0
  let errors = 0

  const problem = (text) => {
    errors += 1
    if (problems.length < 20) problems.push(text)
  }

  const server = http.createServer((req, res) => {
    res.writeHead(404)
    res.end()
  })
  server.on('upgrade', (req, socket, body) => {
    if (!WebSocket.isWebSocket(req)) return socket.destroy()
    const ws = new WebSocket(req, socket, body, [], { extensions: [deflate] })
    accepted += 1
    sockets.add(ws)
    ws.on('message', (event) => {
      echoed += 1
      ws.send(event.data)
    })
    ws.on('error', (event) => problem(`server socket error: ${event.message}`))
    ws.on('close', (event) => {
      sockets.delete(ws)
      if (!stopping) problem(`server socket closed early: ${event.code} ${event.reason}`)
    })
  })

  process.on('message', async (command) => {
    if (command === 'flowing') {
      sampler = setInterval(() => rssSamples.push(process.memoryUsage().rss), 1000)
    } else if (command === 'report') {
      process.send({ type: 'report', snapshot: snapshot(), echoed, open: sockets.size, errors, baseRss })
    } else if (command === 'stopping') {
      clearInterval(sampler)
      stopping = true
    } else if (command === 'finish') {
      const closed = await waitFor(() => sockets.size === 0, 30000)
      if (!closed) problem(`${sockets.size} server socket(s) did not close`)
      await new Promise((resolve) => server.close(resolve))
      process.send({ type: 'final', rssSamples, problems, echoed, accepted, errors }, () => process.disconnect())
    }
  })

  server.listen(0, '127.0.0.1', () => {
    markBase()
    process.send({ type: 'listening', port: server.address().port })
  })
}

// ---------------------------------------------------------------------------
// Seeded messages.

// The tests' seeded generator (mulberry32, __test__/support/random.js).
function prng (seed) {
  return random(seed).next
}

const WORDS = ('the quick market order filled partial cancel price volume bid ask spread ' +
  'user joined left typing message channel room latency p99 cpu memory heap queue ' +
  'retry timeout deploy region eu us ap shard replica leader follower commit').split(' ')
const SYMBOLS = ['BTC-USD', 'ETH-USD', 'SOL-USD', 'AAPL', 'MSFT', 'EURUSD', 'GBPJPY', 'XAU']

function pick (rng, list) {
  return list[Math.floor(rng() * list.length)]
}

function sentence (rng, words) {
  const out = []
  for (let i = 0; i < words; i++) out.push(pick(rng, WORDS))
  return out.join(' ')
}

function record (rng, i) {
  return {
    id: i,
    symbol: pick(rng, SYMBOLS),
    price: Math.round(rng() * 1e6) / 100,
    qty: Math.floor(rng() * 1000),
    side: rng() < 0.5 ? 'buy' : 'sell',
    ts: 1700000000000 + Math.floor(rng() * 1e9)
  }
}

// The seq-th message of connection `conn`: a string (a text frame) or a
// Buffer (a binary frame). Distinct per (conn, seq), deterministic per seed.
function makeMessage (rng, conn, seq) {
  const head = { conn, seq, ts: 1700000000000 + seq }
  const roll = rng()
  if (roll < 0.006) {
    // A snapshot: 64 KiB to about 256 KiB of JSON records.
    const target = (64 << 10) + Math.floor(rng() * (192 << 10))
    const records = []
    let size = 0
    for (let i = 0; size < target; i++) {
      const r = record(rng, i)
      records.push(r)
      size += 90
    }
    return JSON.stringify({ ...head, type: 'snapshot', records })
  }
  if (roll < 0.009) {
    // A large binary blob (64 to 160 KiB): half incompressible, half repetitive.
    return binary(rng, head, (64 << 10) + Math.floor(rng() * (96 << 10)))
  }
  if (roll < 0.06) return binary(rng, head, 64 + Math.floor(rng() * 4096))
  if (roll < 0.30) {
    // Chat or log lines: 1 to 16 KiB of words.
    const lines = []
    const count = 8 + Math.floor(rng() * 120)
    for (let i = 0; i < count; i++) lines.push({ user: `user-${Math.floor(rng() * 5000)}`, text: sentence(rng, 4 + Math.floor(rng() * 20)) })
    return JSON.stringify({ ...head, type: 'chat', room: `room-${Math.floor(rng() * 100)}`, lines })
  }
  // Small events: trades, quotes, presence, 100 to 600 bytes.
  const type = pick(rng, ['trade', 'quote', 'presence', 'ack'])
  const body = { ...head, type, ...record(rng, seq) }
  if (type === 'presence') body.status = sentence(rng, 3 + Math.floor(rng() * 30))
  if (type === 'quote') body.levels = Array.from({ length: 1 + Math.floor(rng() * 8) }, () => [Math.round(rng() * 1e6) / 100, Math.floor(rng() * 100)])
  return JSON.stringify(body)
}

function binary (rng, head, size) {
  const bytes = Buffer.allocUnsafe(size)
  const header = Buffer.from(JSON.stringify(head))
  header.copy(bytes, 0)
  const half = header.length + ((size - header.length) >> 1)
  for (let i = header.length; i < half; i++) bytes[i] = Math.floor(rng() * 256)
  for (let i = half; i < size; i++) bytes[i] = (i * 31) & 0x7f
  return bytes
}

function sameMessage (a, b) {
  if (typeof a === 'string') return typeof b === 'string' && a === b
  return Buffer.isBuffer(b) && a.equals(b)
}

function byteLength (m) {
  return typeof m === 'string' ? Buffer.byteLength(m) : m.length
}

// ---------------------------------------------------------------------------
// The client process: opens the connections, sends, checks every echo.

const stats = {
  opened: 0,
  sent: 0,
  echoed: 0,
  bytesSent: 0,
  large: 0,
  throttled: 0,
  lost: 0,
  reordered: 0,
  corrupted: 0,
  unexpected: 0,
  errors: 0,
  notNegotiated: 0
}
const problems = []
let stopping = false

function problem (kind, text) {
  stats[kind] += 1
  if (problems.length < 20) problems.push(text)
}

function failures () {
  return stats.errors + stats.lost + stats.reordered + stats.corrupted + stats.unexpected + stats.notNegotiated
}

class Connection {
  constructor (index, url) {
    this.index = index
    this.rng = prng((options.seed * 1000003 + index) >>> 0)
    this.seq = 0
    this.expected = []
    this.head = 0
    this.timer = null
    this.closed = false
    this.abandoned = false
    this.opened = new Promise((resolve) => {
      this.ws = new WebSocket.Client(url, [], { extensions: [deflate] })
      this.ws.on('open', () => {
        const header = (this.ws.headers && this.ws.headers['sec-websocket-extensions']) || ''
        if (!/^permessage-deflate\b/.test(header)) problem('notNegotiated', `connection ${index}: response header ${JSON.stringify(header)}`)
        stats.opened += 1
        resolve()
      })
      this.ws.on('message', (event) => this.onEcho(event.data))
      this.ws.on('error', (event) => {
        problem('errors', `client ${index} error: ${event.message}`)
        resolve()
      })
      this.ws.on('close', (event) => {
        this.closed = true
        this.stop()
        if (!stopping) problem('errors', `client ${index} closed early: ${event.code} ${event.reason}`)
        resolve()
      })
    })
  }

  get outstanding () {
    return this.expected.length - this.head
  }

  start () {
    const schedule = () => {
      // Exponential gaps around the mean: bursts and lulls, as real clients.
      const gap = -Math.log(1 - this.rng()) * (1000 / options.rate)
      this.timer = setTimeout(() => {
        this.sendOne()
        schedule()
      }, Math.min(gap, 10000))
    }
    schedule()
  }

  stop () {
    clearTimeout(this.timer)
    this.timer = null
  }

  sendOne () {
    if (this.closed || this.abandoned) return
    if (this.outstanding >= options.window) {
      stats.throttled += 1
      return
    }
    const message = makeMessage(this.rng, this.index, this.seq++)
    const size = byteLength(message)
    if (size >= 64 << 10) stats.large += 1
    this.expected.push(message)
    stats.sent += 1
    stats.bytesSent += size
    this.ws.send(message)
  }

  onEcho (data) {
    if (this.abandoned) return
    if (this.outstanding === 0) {
      problem('unexpected', `connection ${this.index}: an echo with nothing outstanding`)
      return
    }
    if (sameMessage(this.expected[this.head], data)) {
      this.expected[this.head++] = undefined
      if (this.head > 1024 && this.head * 2 > this.expected.length) {
        this.expected = this.expected.slice(this.head)
        this.head = 0
      }
      stats.echoed += 1
      return
    }
    // A later message arriving early (reordered) or bytes that match nothing
    // outstanding (corrupted). Either way this connection's stream can no
    // longer be checked: count what it was waiting for as lost, and stop.
    // (A message the server never echoed looks like this too: the next one
    // comes back in its place.)
    const later = this.expected.slice(this.head + 1).some((m) => sameMessage(m, data))
    if (later) problem('reordered', `connection ${this.index}: a later message came back in place of seq ${this.seq - this.outstanding} (reordered or lost)`)
    else problem('corrupted', `connection ${this.index}: an echo of ${byteLength(data)} bytes matches no message sent`)
    stats.lost += this.outstanding - (later ? 1 : 0)
    this.abandon()
  }

  // Stops sending and checking on this connection; it stays open and closes
  // normally at the end.
  abandon () {
    this.stop()
    this.abandoned = true
    this.expected = []
    this.head = 0
  }
}

async function runClient () {
  const server = childProcess.fork(__filename, ['--role', 'server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const replies = []
  const waiting = []
  server.on('message', (message) => {
    if (waiting.length > 0) waiting.shift()(message)
    else replies.push(message)
  })
  const reply = () => new Promise((resolve) => {
    if (replies.length > 0) resolve(replies.shift())
    else waiting.push(resolve)
  })
  server.on('exit', (code, signal) => {
    if (!stopping || code !== 0) {
      console.error(`soak: the server process exited (${signal || code})`)
      process.exit(1)
    }
  })

  const { port } = await reply()
  const url = `ws://127.0.0.1:${port}/`
  console.log(`soak: ${options.connections} connections to ${url} for ${options.seconds} s, ` +
    `${options.rate} msg/s each, window ${options.window}, seed ${options.seed}; ` +
    `faye-websocket ${require('faye-websocket/package.json').version} on ${path.relative(ROOT, resolved)} ` +
    'with the native permessage-deflate; server in process ' + server.pid)

  // Open in batches, so the listen backlog is never the bottleneck.
  markBase()
  const clients = []
  const t0 = Date.now()
  for (let i = 0; i < options.connections; i += 50) {
    const batch = []
    for (let k = i; k < Math.min(i + 50, options.connections); k++) {
      const c = new Connection(k, url)
      clients.push(c)
      batch.push(c.opened)
    }
    await Promise.all(batch)
  }
  console.log(`soak: ${stats.opened} connections open in ${Date.now() - t0} ms`)

  const print = async (elapsed) => {
    server.send('report')
    const theirs = await reply()
    const inflight = clients.reduce((n, c) => n + c.outstanding, 0)
    const open = clients.filter((c) => !c.closed).length
    console.log(`[${elapsed.toFixed(0).padStart(4)} s] conns ${open}/${options.connections}` +
      `  sent ${stats.sent} echoed ${stats.echoed} in-flight ${inflight} large ${stats.large}` +
      ` throttled ${stats.throttled}  errors ${failures() + theirs.errors}`)
    const ours = snapshot()
    console.log(`         client  ${describeSnapshot(ours, open, baseRss)}`)
    console.log(`         server  ${describeSnapshot(theirs.snapshot, theirs.open, theirs.baseRss).replace('\n', `  echoed ${theirs.echoed}\n`)}`)
    return { client: ours, clientOpen: open, server: theirs }
  }

  const start = Date.now()
  const rssSamples = []
  server.send('flowing')
  snapshot()
  for (const c of clients) c.start()
  const sampler = setInterval(() => rssSamples.push(process.memoryUsage().rss), 1000)
  let printing = Promise.resolve()
  const printer = setInterval(() => {
    printing = printing.then(() => print((Date.now() - start) / 1000))
  }, options.interval * 1000)
  await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000))
  clearInterval(sampler)
  clearInterval(printer)
  await printing

  // Stop sending; wait for every echo still due.
  for (const c of clients) c.stop()
  await waitFor(() => clients.every((c) => c.closed || c.outstanding === 0), 30000)
  for (const c of clients) {
    if (!c.closed && c.outstanding > 0) {
      problem('lost', `connection ${c.index}: ${c.outstanding} echo(es) never came back`)
      stats.lost += c.outstanding - 1
    }
  }
  const end = await print((Date.now() - start) / 1000)

  // Close everything, normally, and wait for both ends.
  stopping = true
  server.send('stopping')
  for (const c of clients) if (!c.closed) c.ws.close()
  if (!(await waitFor(() => clients.every((c) => c.closed), 30000))) {
    problem('errors', `${clients.filter((c) => !c.closed).length} client connection(s) did not close`)
  }
  server.send('finish')
  const final = await reply()
  loopDelay.disable()

  const ours = memoryVerdict(rssSamples)
  const theirs = memoryVerdict(final.rssSamples)
  console.log(`soak: ${stats.sent} sent, ${stats.echoed} echoed and checked ` +
    `(${mb(stats.bytesSent)} MiB, ${stats.large} of 64 KiB or more), ${stats.throttled} throttled; ` +
    `the server accepted ${final.accepted} connections and echoed ${final.echoed} messages`)
  console.log(`soak: lost ${stats.lost}, reordered ${stats.reordered}, corrupted ${stats.corrupted}, ` +
    `unexpected ${stats.unexpected}, errors ${stats.errors} (server ${final.errors}), not negotiated ${stats.notNegotiated}`)
  console.log(`soak: client memory: ${ours.text}`)
  console.log(`soak: server memory: ${theirs.text}`)
  // RSS per connection at the end of the run (all echoes back, every
  // connection still open), on each end.
  console.log(`soak: client RSS per connection at the end: ${perConnection(end.client.rss, end.clientOpen, baseRss)}`)
  console.log(`soak: server RSS per connection at the end: ${perConnection(end.server.snapshot.rss, end.server.open, end.server.baseRss)}; ` +
    describeDeflate(end.server.snapshot.deflate))
  for (const text of problems.concat(final.problems)) console.log(`soak: problem: ${text}`)
  const failed = !ours.ok || !theirs.ok || failures() > 0 || final.errors > 0 ||
    stats.opened !== options.connections || final.echoed !== stats.sent
  console.log(failed ? 'soak: FAILED' : 'soak: ok')
  process.exitCode = failed ? 1 : 0
  // Everything is closed, so the process should exit now; if some handle still
  // held it, this ends it (unref'd, the timer itself holds nothing).
  setTimeout(() => {
    console.log('soak: something still held the event loop 5 s after the end')
    process.exit(1)
  }, 5000).unref()
}

if (options.role === 'server') runServer()
else {
  runClient().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
