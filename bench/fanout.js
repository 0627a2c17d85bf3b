'use strict'
// Fan-out in the shape of a server (issue 17): a server in its own process,
// ws 8 clients in another, on 127.0.0.1. N subscribers connect; a publisher
// sends messages of a given size, and the server sends each to every
// subscriber. Measured: the server's CPU time (process.cpuUsage: user and
// system, every thread) per delivered message, between the first publish
// and the last delivery. Each message is published once every subscriber
// has the one before, so the figure is the server's work per delivery, not
// its queueing.
//
// Servers: this package and websocket-extensions 0.2.0 + permessage-deflate
// 0.1.7 under faye-websocket 0.11.4 (the server child makes websocket-driver
// load the original for `original`), and ws 8's own server (threshold 0, so
// that it compresses messages of every size, as the others do). Modes: the
// deflate at its defaults; the server without context takeover
// (`noContextTakeover` / `serverNoContextTakeover`); no deflate.
//
//   node bench/fanout.js [--subscribers=500,5000] [--sizes=100,600,16384]
//     [--impls=ours,original,ws] [--modes=default,nct,none] [--messages=100]
//     [--runs=1]        each configuration this many times, in turn; medians
//     [--budget=MiB]   (fewer messages where subscribers x size is large:
//                       at most this much is delivered per configuration)
//     [--ours-options='{"liveStates":100000}']  options of this package's
//                       deflate, for every mode
//     [--base=DIR]      a checkout of this package built in DIR, as the
//                       implementation `base` (--impls=base,ours): before
//                       and after a change, side by side in one run

const { spawn } = require('child_process')

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const arg = args.find((a) => a.startsWith('--' + name + '='))
  return arg === undefined ? fallback : arg.slice(arg.indexOf('=') + 1)
}
const list = (name, fallback) => String(option(name, fallback)).split(',')

// The published messages: JSON chat and market events of about `size`
// bytes from the benchmark's corpus (no two alike, as bench/corpus.js
// explains), wrapped as faye's pub/sub server sends them
// (JSON.stringify([message])).
function payloads (size, count) {
  const corpus = require('./corpus')
  return corpus.messages(size, count, size).map((m) => '[' + m.toString() + ']')
}

// ---------------------------------------------------------------- server
function server (impl, mode) {
  const http = require('http')
  const sockets = new Set()
  let mark = null
  const onMessage = (from, data, send) => {
    const text = data.toString()
    const kind = text[0]
    if (kind === 'R') {
      mark = process.cpuUsage()
      send(from, 'ok')
    } else if (kind === 'S') {
      const used = process.cpuUsage(mark)
      send(from, JSON.stringify({ cpuUs: used.user + used.system, rss: process.memoryUsage().rss }))
    } else if (kind === 'P') {
      const body = text.slice(1)
      for (const socket of sockets) if (socket !== from) send(socket, body)
    }
  }
  const listening = (port) => process.stdout.write(port + '\n')

  if (impl === 'ws') {
    const { WebSocketServer } = require('ws')
    const perMessageDeflate = mode === 'none' ? false : { threshold: 0, serverNoContextTakeover: mode === 'nct' }
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate })
    wss.on('connection', (ws) => {
      sockets.add(ws)
      ws.on('message', (data) => onMessage(ws, data, (to, text) => to.send(text)))
      ws.on('close', () => sockets.delete(ws))
    })
    wss.on('listening', () => listening(wss.address().port))
    return
  }
  if (impl === 'original' || impl === 'base') {
    // websocket-driver requires 'websocket-extensions', which this
    // project's override makes this package: give it the original, or
    // the checkout of this package in --base (built there).
    const Module = require('module')
    const resolve = Module._resolveFilename
    const path = require('path')
    const target = impl === 'original' ? 'websocket-extensions-original' : path.resolve(process.env.BENCH_BASE)
    Module._resolveFilename = function (request, ...rest) {
      return resolve.call(this, request === 'websocket-extensions' ? target : request, ...rest)
    }
  }
  const WebSocket = require('faye-websocket')
  let extensions = []
  if (mode !== 'none') {
    const base = impl === 'ours'
      ? require('websocket-extensions-rs/deflate')
      : impl === 'base' ? require(baseDeflate(process.env.BENCH_BASE)) : require('permessage-deflate')
    // --ours-options='{"liveStates":100000}': options of this package's
    // deflate (and of --base's), on top of the mode's.
    const extra = impl !== 'original' ? JSON.parse(process.env.FANOUT_OURS_OPTIONS || '{}') : {}
    extensions = [base.configure({ ...extra, ...(mode === 'nct' ? { noContextTakeover: true } : {}) })]
  }
  const httpServer = http.createServer()
  httpServer.on('upgrade', (req, socket, body) => {
    if (!WebSocket.isWebSocket(req)) return socket.destroy()
    const ws = new WebSocket(req, socket, body, [], { extensions })
    sockets.add(ws)
    ws.on('message', (event) => onMessage(ws, event.data, (to, text) => to.send(text)))
    ws.on('close', () => sockets.delete(ws))
  })
  httpServer.listen(0, '127.0.0.1', () => listening(httpServer.address().port))
}

// --------------------------------------------------------------- clients
async function clients (port, subscribers, messages, size, mode) {
  const WebSocket = require('ws')
  const url = 'ws://127.0.0.1:' + port
  const perMessageDeflate = mode !== 'none'
  const open = (options) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options)
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
  const subs = []
  for (let i = 0; i < subscribers; i += 100) {
    const batch = []
    for (let k = i; k < Math.min(subscribers, i + 100); k++) batch.push(open({ perMessageDeflate }))
    subs.push(...await Promise.all(batch))
  }
  const publisher = await open({ perMessageDeflate: false })
  const answer = () => new Promise((resolve) => publisher.once('message', (data) => resolve(data.toString())))
  let waiting = null
  let left = 0
  for (const ws of subs) {
    ws.on('message', () => {
      if (--left === 0 && waiting) waiting()
    })
  }
  const publish = (text) => new Promise((resolve) => {
    left = subscribers
    waiting = resolve
    publisher.send('P' + text)
  })
  const texts = payloads(size, messages + 3)
  // Warm-up: a few messages, not counted.
  for (let i = 0; i < 3; i++) await publish(texts[messages + i])
  publisher.send('R')
  await answer()
  const start = process.hrtime.bigint()
  for (let i = 0; i < messages; i++) await publish(texts[i])
  const wallNs = Number(process.hrtime.bigint() - start)
  publisher.send('S')
  const stats = JSON.parse(await answer())
  for (const ws of [...subs, publisher]) ws.terminate()
  return { cpuUsPerDelivery: stats.cpuUs / (messages * subscribers), wallMs: wallNs / 1e6, serverRss: stats.rss }
}

// ---------------------------------------------------------------- runner
function run (args) {
  const env = { ...process.env, FANOUT_OURS_OPTIONS: option('ours-options', '{}'), BENCH_BASE: option('base', '') }
  return spawn(process.execPath, [__filename, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env })
}

async function measure (impl, mode, subscribers, size, messages) {
  const srv = run(['--server', impl, mode])
  const port = await new Promise((resolve, reject) => {
    let out = ''
    srv.stdout.on('data', (chunk) => {
      out += chunk
      if (out.includes('\n')) resolve(Number(out.trim()))
    })
    srv.on('exit', (code) => reject(new Error(impl + ' server exited with ' + code)))
  })
  try {
    const cli = run(['--clients', String(port), String(subscribers), String(messages), String(size), mode])
    let out = ''
    cli.stdout.on('data', (chunk) => { out += chunk })
    const code = await new Promise((resolve) => cli.on('exit', resolve))
    if (code !== 0) throw new Error('clients exited with ' + code)
    return JSON.parse(out)
  } finally {
    srv.kill()
  }
}

const LABELS = {
  ours: 'websocket-extensions-rs (faye-websocket)',
  original: 'websocket-extensions 0.2.0 + permessage-deflate 0.1.7 (faye-websocket)',
  ws: 'ws 8 server',
  base: 'websocket-extensions-rs at --base (faye-websocket)'
}
const MODES = { default: 'deflate, defaults', nct: 'deflate, server without context takeover', none: 'no deflate' }

async function main () {
  const subscribers = list('subscribers', '500').map(Number)
  const sizes = list('sizes', '100,600,16384').map(Number)
  const impls = list('impls', 'ours,original,ws')
  const modes = list('modes', 'default,nct,none')
  const most = Number(option('messages', 100))
  const budget = Number(option('budget', 256)) * 1048576
  const runs = Number(option('runs', 1))
  console.log('Fan-out: server CPU µs per delivered message (user + system, all threads), server and clients in separate processes on 127.0.0.1')
  for (const n of subscribers) {
    for (const size of sizes) {
      const messages = Math.max(3, Math.min(most, Math.floor(budget / (n * size))))
      console.log(`\n${n} subscribers, ${size} B messages, ${messages} published\n`)
      // --runs=N: every configuration N times, in turn (a change in the
      // machine's load falls on all of them), and the median of each.
      const results = new Map()
      for (let run = 0; run < runs; run++) {
        for (const impl of impls) {
          for (const mode of modes) {
            const r = await measure(impl, mode, n, size, messages)
            const key = impl + ' ' + mode
            if (!results.has(key)) results.set(key, [])
            results.get(key).push(r.cpuUsPerDelivery)
          }
        }
      }
      const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]
      if (runs > 1) console.log(`Medians of ${runs} runs.\n`)
      console.log('| server | ' + modes.map((m) => MODES[m]).join(' | ') + ' |')
      console.log('| --- |' + modes.map(() => ' --- |').join(''))
      for (const impl of impls) {
        const cells = modes.map((mode) => median(results.get(impl + ' ' + mode)).toFixed(1))
        console.log(`| ${LABELS[impl]} | ${cells.join(' | ')} |`)
      }
    }
  }
}

if (require.main === module) {
  if (args[0] === '--server') server(args[1], args[2])
  else if (args[0] === '--clients') {
    clients(Number(args[1]), Number(args[2]), Number(args[3]), Number(args[4]), args[5]).then(
      (result) => { process.stdout.write(JSON.stringify(result)) },
      (error) => { console.error(error); process.exit(1) })
  } else {
    main().catch((error) => { console.error(error); process.exit(1) })
  }
}

module.exports = { payloads }

// The --base checkout's ./deflate, as its package.json's exports map names
// it: a path, or conditions in checkouts from before lib/entry/.
function baseDeflate (dir) {
  const path = require('path')
  const target = require(path.resolve(dir, 'package.json')).exports['./deflate']
  return path.resolve(dir, typeof target === 'string' ? target : target.require.default)
}
