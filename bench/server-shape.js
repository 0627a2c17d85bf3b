'use strict'
// What the server-shaped benchmarks (bench/echo.js, bench/fanout.js) share:
// their command-line options, the servers under test, and the runner that
// starts a server in a child process of its own, then the clients in
// another.
//
// Servers: this package (`ours`) and websocket-extensions 0.2.0 +
// permessage-deflate 0.1.7 (`original`) under faye-websocket 0.11.4, a
// built checkout of this package given by --base (`base`), and ws 8's own
// server (`ws`, threshold 0, so that it compresses messages of every size,
// as the others do). Modes: the deflate at its defaults (`default`), the
// server without context takeover (`nct`), no deflate (`none`).

const { spawn } = require('child_process')
const path = require('path')

const LABELS = {
  ours: 'websocket-extensions-rs (faye-websocket)',
  original: 'websocket-extensions 0.2.0 + permessage-deflate 0.1.7 (faye-websocket)',
  ws: 'ws 8 server',
  base: 'websocket-extensions-rs at --base (faye-websocket)'
}
const MODES = { default: 'deflate, defaults', nct: 'deflate, server without context takeover', none: 'no deflate' }

// `--name=value` options of `args`.
function options (args) {
  const option = (name, fallback) => {
    const arg = args.find((a) => a.startsWith('--' + name + '='))
    return arg === undefined ? fallback : arg.slice(arg.indexOf('=') + 1)
  }
  const list = (name, fallback) => String(option(name, fallback)).split(',')
  return { option, list }
}

// The --base checkout's ./deflate, as its package.json's exports map names
// it: a path, or conditions in checkouts from before lib/entry/.
function baseDeflate (dir) {
  const target = require(path.resolve(dir, 'package.json')).exports['./deflate']
  return path.resolve(dir, typeof target === 'string' ? target : target.require.default)
}

// Serves `impl` in `mode` on 127.0.0.1 and writes the port to stdout.
// `onConnection(socket, send)` is called for each connection with a
// function that sends text on any of them; it returns the handler of that
// connection's messages (text) and, optionally, of its close.
function serve (impl, mode, onConnection) {
  const listening = (port) => process.stdout.write(port + '\n')
  if (impl === 'ws') {
    const { WebSocketServer } = require('ws')
    const perMessageDeflate = mode === 'none' ? false : { threshold: 0, serverNoContextTakeover: mode === 'nct' }
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate })
    wss.on('connection', (ws) => {
      const { message, close } = onConnection(ws, (to, text) => to.send(text))
      ws.on('message', (data) => message(data.toString()))
      if (close) ws.on('close', close)
    })
    wss.on('listening', () => listening(wss.address().port))
    return
  }
  if (impl === 'original' || impl === 'base') {
    // websocket-driver requires 'websocket-extensions', which this
    // project's override makes this package: give it the original, or the
    // checkout of this package in --base (built there).
    const Module = require('module')
    const resolve = Module._resolveFilename
    const target = impl === 'original' ? 'websocket-extensions-original' : path.resolve(process.env.BENCH_BASE)
    Module._resolveFilename = function (request, ...rest) {
      return resolve.call(this, request === 'websocket-extensions' ? target : request, ...rest)
    }
  }
  const WebSocket = require('faye-websocket')
  let extensions = []
  if (mode !== 'none') {
    const deflate = impl === 'ours'
      ? require('websocket-extensions-rs/deflate')
      : impl === 'base' ? require(baseDeflate(process.env.BENCH_BASE)) : require('permessage-deflate')
    // --ours-options='{"liveStates":100000}': options of this package's
    // deflate (and of --base's), on top of the mode's.
    const extra = impl !== 'original' ? JSON.parse(process.env.BENCH_OURS_OPTIONS || '{}') : {}
    extensions = [deflate.configure({ ...extra, ...(mode === 'nct' ? { noContextTakeover: true } : {}) })]
  }
  const httpServer = require('http').createServer()
  httpServer.on('upgrade', (req, socket, body) => {
    if (!WebSocket.isWebSocket(req)) return socket.destroy()
    const ws = new WebSocket(req, socket, body, [], { extensions })
    const { message, close } = onConnection(ws, (to, text) => to.send(text))
    ws.on('message', (event) => message(String(event.data)))
    if (close) ws.on('close', close)
  })
  httpServer.listen(0, '127.0.0.1', () => listening(httpServer.address().port))
}

// Runs `file` (the benchmark) as a server of `impl` in `mode`, then as
// clients with `clientArgs` after the port; returns what the clients wrote
// (JSON). The server child gets --ours-options and --base through the
// environment.
async function measure (file, option, impl, mode, clientArgs) {
  const env = { ...process.env, BENCH_OURS_OPTIONS: option('ours-options', '{}'), BENCH_BASE: option('base', '') }
  const run = (args) => spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env })
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
    const cli = run(['--clients', String(port), ...clientArgs.map(String)])
    let out = ''
    cli.stdout.on('data', (chunk) => { out += chunk })
    const code = await new Promise((resolve) => cli.on('exit', resolve))
    if (code !== 0) throw new Error('clients exited with ' + code)
    return JSON.parse(out)
  } finally {
    srv.kill()
  }
}

// Opens a ws 8 client to the server on `port`.
function connect (port, options) {
  const WebSocket = require('ws')
  return new Promise((resolve, reject) => {
    const ws = new WebSocket('ws://127.0.0.1:' + port, options)
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

module.exports = { LABELS, MODES, options, serve, measure, connect, median }
