'use strict'
// An echo server in the shape of a real one (issue 17): the server in its
// own process, ws 8 clients in another, on 127.0.0.1. N clients connect with
// permessage-deflate offered; each then sends a JSON event of about `size`
// bytes `rate` times a second, spread evenly over the second (client i
// starts at i/N of it), and the server echoes every message. So each
// message finds its session's state as a server with many connections
// would: cold, or resting, not hot as in a loop.
//
// Measured over `seconds` after a warm-up (every client has had an echo):
// the server's CPU time (process.cpuUsage: user and system, every thread)
// per echoed message, and the server's RSS growth per connection (RSS at
// the end minus RSS before the first connection, divided by N). Every echo
// is checked against what was sent.
//
// Servers: this package and websocket-extensions 0.2.0 + permessage-deflate
// 0.1.7 under faye-websocket 0.11.4 (the server child makes websocket-driver
// load the original for `original`), and ws 8's own server (threshold 0,
// so it compresses messages of every size, as the others do). Modes: the
// deflate at its defaults, the server without context takeover, no deflate.
//
//   node bench/echo.js [--connections=1000] [--seconds=30] [--rate=1]
//     [--size=150] [--impls=ours,original,ws] [--modes=default,none]
//     [--runs=1]        each configuration this many times, in turn; medians
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

// ---------------------------------------------------------------- server
function server (impl, mode) {
  const http = require('http')
  const baseRss = process.memoryUsage().rss
  let mark = null
  let echoed = 0
  const onMessage = (from, text, send) => {
    if (text === 'R') {
      mark = process.cpuUsage()
      echoed = 0
      send(from, 'ok')
    } else if (text === 'S') {
      const used = process.cpuUsage(mark)
      send(from, JSON.stringify({ cpuUs: used.user + used.system, echoed, rss: process.memoryUsage().rss, baseRss }))
    } else {
      echoed++
      send(from, text)
    }
  }
  const listening = (port) => process.stdout.write(port + '\n')

  if (impl === 'ws') {
    const { WebSocketServer } = require('ws')
    const perMessageDeflate = mode === 'none' ? false : { threshold: 0, serverNoContextTakeover: mode === 'nct' }
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate })
    wss.on('connection', (ws) => {
      ws.on('message', (data) => onMessage(ws, data.toString(), (to, text) => to.send(text)))
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
    const extra = impl !== 'original' ? JSON.parse(process.env.ECHO_OURS_OPTIONS || '{}') : {}
    extensions = [base.configure({ ...extra, ...(mode === 'nct' ? { noContextTakeover: true } : {}) })]
  }
  const httpServer = http.createServer()
  httpServer.on('upgrade', (req, socket, body) => {
    if (!WebSocket.isWebSocket(req)) return socket.destroy()
    const ws = new WebSocket(req, socket, body, [], { extensions })
    ws.on('message', (event) => onMessage(ws, event.data, (to, text) => to.send(text)))
  })
  httpServer.listen(0, '127.0.0.1', () => listening(httpServer.address().port))
}

// --------------------------------------------------------------- clients
async function clients (port, connections, seconds, rate, size, mode) {
  const WebSocket = require('ws')
  const corpus = require('./corpus')
  const url = 'ws://127.0.0.1:' + port
  const perMessageDeflate = mode !== 'none'
  const open = () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
  const socks = []
  for (let i = 0; i < connections; i += 100) {
    const batch = []
    for (let k = i; k < Math.min(connections, i + 100); k++) batch.push(open())
    socks.push(...await Promise.all(batch))
  }
  const control = await open()
  const answer = () => new Promise((resolve) => control.once('message', (data) => resolve(data.toString())))

  // Distinct messages: each client sends its own slice of the corpus.
  const perClient = Math.ceil((seconds + 2) * rate) + 1
  const texts = corpus.messages(size, connections * perClient, size).map(String)
  let wrong = 0
  let received = 0
  const pending = socks.map(() => [])
  socks.forEach((ws, i) => {
    ws.on('message', (data) => {
      received++
      if (data.toString() !== pending[i].shift()) wrong++
    })
  })
  const sent = new Array(connections).fill(0)
  const send = (i) => {
    const text = texts[i * perClient + (sent[i]++ % perClient)]
    pending[i].push(text)
    socks[i].send(text)
  }
  const drained = () => new Promise((resolve) => {
    const check = () => pending.every((p) => p.length === 0) ? resolve() : setTimeout(check, 5)
    check()
  })

  // Warm-up: every client sends once and has its echo.
  for (let i = 0; i < connections; i++) send(i)
  await drained()

  // The run: client i is due at i / (connections * rate) s into each period.
  control.send('R')
  await answer()
  const period = 1000 / rate
  const start = performance.now()
  const due = socks.map((_, i) => start + (i / connections) * period)
  const end = start + seconds * 1000
  let count = 0
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now()
      for (let i = 0; i < connections; i++) {
        if (due[i] <= now && due[i] < end) {
          send(i)
          count++
          due[i] += period
        }
      }
      if (now < end) setTimeout(tick, 2)
      else resolve()
    }
    tick()
  })
  await drained()
  control.send('S')
  const stats = JSON.parse(await answer())
  for (const ws of [...socks, control]) ws.terminate()
  return {
    cpuUsPerMessage: stats.cpuUs / stats.echoed,
    echoed: stats.echoed,
    sent: count,
    received,
    wrong,
    rssKiBPerConnection: (stats.rss - stats.baseRss) / 1024 / connections
  }
}

// ---------------------------------------------------------------- runner
function run (args) {
  const env = { ...process.env, ECHO_OURS_OPTIONS: option('ours-options', '{}'), BENCH_BASE: option('base', '') }
  return spawn(process.execPath, [__filename, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env })
}

async function measure (impl, mode, connections, seconds, rate, size) {
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
    const cli = run(['--clients', port, connections, seconds, rate, size, mode].map(String))
    let out = ''
    cli.stdout.on('data', (chunk) => { out += chunk })
    const code = await new Promise((resolve) => cli.on('exit', resolve))
    if (code !== 0) throw new Error('clients exited with ' + code)
    const result = JSON.parse(out)
    if (result.wrong !== 0 || result.echoed !== result.sent) {
      throw new Error(`${impl} ${mode}: ${result.wrong} wrong echoes, ${result.echoed} echoed of ${result.sent} sent`)
    }
    return result
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
  const connections = Number(option('connections', 1000))
  const seconds = Number(option('seconds', 30))
  const rate = Number(option('rate', 1))
  const size = Number(option('size', 150))
  const impls = list('impls', 'ours,original,ws')
  const modes = list('modes', 'default,none')
  const oursOptions = option('ours-options', '{}')
  console.log(`Echo: ${connections} connections, each sending a ${size} B JSON event ${rate}/s for ${seconds} s; ` +
    'server CPU µs per echoed message (user + system, all threads) / KiB of server RSS per connection; ' +
    'server and clients in separate processes on 127.0.0.1' + (oursOptions !== '{}' ? `; this package's deflate with ${oursOptions}` : ''))
  // --runs=N: every configuration N times, in turn (so that a change in
  // the machine's load falls on all of them), and the median of each.
  const runs = Number(option('runs', 1))
  const results = new Map()
  for (let run = 0; run < runs; run++) {
    for (const impl of impls) {
      for (const mode of modes) {
        const r = await measure(impl, mode, connections, seconds, rate, size)
        const key = impl + ' ' + mode
        if (!results.has(key)) results.set(key, [])
        results.get(key).push(r)
        if (runs > 1) console.error(`run ${run + 1}: ${key} ${r.cpuUsPerMessage.toFixed(1)} µs`)
      }
    }
  }
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]
  console.log(runs > 1 ? `\nMedians of ${runs} runs.` : '')
  console.log('\n| server | ' + modes.map((m) => MODES[m]).join(' | ') + ' |')
  console.log('| --- |' + modes.map(() => ' --- |').join(''))
  for (const impl of impls) {
    const cells = modes.map((mode) => {
      const rs = results.get(impl + ' ' + mode)
      const cpu = median(rs.map((r) => r.cpuUsPerMessage))
      const rss = median(rs.map((r) => r.rssKiBPerConnection))
      return `${cpu.toFixed(1)} µs / ${Math.round(rss)} KiB`
    })
    console.log(`| ${LABELS[impl]} | ${cells.join(' | ')} |`)
  }
}

if (require.main === module) {
  if (args[0] === '--server') server(args[1], args[2])
  else if (args[0] === '--clients') {
    const [port, connections, seconds, rate, size] = args.slice(1, 6).map(Number)
    clients(port, connections, seconds, rate, size, args[6]).then(
      (result) => { process.stdout.write(JSON.stringify(result)) },
      (error) => { console.error(error); process.exit(1) })
  } else {
    main().catch((error) => { console.error(error); process.exit(1) })
  }
}

// The --base checkout's ./deflate, as its package.json's exports map names
// it: a path, or conditions in checkouts from before lib/entry/.
function baseDeflate (dir) {
  const path = require('path')
  const target = require(path.resolve(dir, 'package.json')).exports['./deflate']
  return path.resolve(dir, typeof target === 'string' ? target : target.require.default)
}
