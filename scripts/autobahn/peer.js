#!/usr/bin/env node
// The testee of `npm run autobahn` (scripts/autobahn.js), in a process of its
// own so that each implementation loads its own modules:
//
//   node scripts/autobahn/peer.js server IMPL
//     an echo server on 127.0.0.1 (a free port); prints one JSON line
//     {"port": ..., "stack": "..."} when it listens, then echoes until killed.
//   node scripts/autobahn/peer.js client IMPL URL AGENT
//     an echo client for `wstest -m fuzzingserver` at URL: asks for the number
//     of cases, runs each one, asks for the reports, exits 0.
//
// IMPL is one of
//   ours      faye-websocket 0.11.4 + websocket-driver 0.8.0, whose
//             `websocket-extensions` is this package (package.json overrides),
//             with this package's native permessage-deflate;
//   original  the same drivers with websocket-extensions 0.2.0 in its place
//             (a resolver hook maps the name) and permessage-deflate 0.1.7;
//   ws        ws 8 with perMessageDeflate (its defaults).
'use strict'

const crypto = require('crypto')
const fs = require('fs')
const http = require('http')
const path = require('path')
const Module = require('module')

const ROOT = path.join(__dirname, '..', '..')

// The file websocket-driver gets for `require('websocket-extensions')`.
function driversContainer () {
  const faye = path.dirname(require.resolve('faye-websocket'))
  const driver = path.dirname(require.resolve('websocket-driver', { paths: [faye] }))
  return require.resolve('websocket-extensions', { paths: [driver] })
}

// Which build of the addon this run tests: the file loaded, its time and hash.
function addon () {
  const file = Object.keys(require.cache).find((name) => name.endsWith('.node'))
  if (!file) return 'not loaded'
  const hash = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 12)
  const built = fs.statSync(file).mtime.toISOString().slice(0, 16).replace('T', ' ')
  return `${path.relative(ROOT, file)} built ${built} UTC, sha256 ${hash}`
}

// Many cases make the peer fail the connection on purpose; what it said goes
// to stderr, which scripts/autobahn.js keeps in peer.log beside the report.
function logError (message) {
  console.error('connection error: ' + message)
}

function fayeStack (impl) {
  let deflate, expected
  if (impl === 'ours') {
    deflate = require('websocket-extensions-rs/deflate')
    expected = require.resolve(ROOT)
  } else {
    expected = require.resolve('websocket-extensions-original')
    const resolve = Module._resolveFilename
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'websocket-extensions') return expected
      return resolve.call(this, request, ...rest)
    }
    deflate = require('permessage-deflate')
  }
  const container = driversContainer()
  if (container !== expected) {
    throw new Error(`websocket-driver's websocket-extensions is ${container}, not ${expected}`)
  }
  const WebSocket = require('faye-websocket')
  const version = (name) => require(name + '/package.json').version
  const stack = `faye-websocket ${version('faye-websocket')}, websocket-driver ${version('websocket-driver')}, ` +
    `websocket-extensions: ${path.relative(ROOT, container)}, deflate: ` +
    (impl === 'ours' ? 'deflate.js (native), addon ' + addon() : `permessage-deflate ${version('permessage-deflate')}`)
  return {
    stack,
    serve (server) {
      server.on('upgrade', (request, socket, body) => {
        if (!WebSocket.isWebSocket(request)) return socket.destroy()
        const ws = new WebSocket(request, socket, body, [], { extensions: [deflate] })
        ws.on('message', (event) => ws.send(event.data))
        ws.on('error', (error) => logError(error.message))
      })
    },
    connect (url, onMessage, onClose) {
      const ws = new WebSocket.Client(url, [], { extensions: [deflate] })
      ws.on('message', (event) => onMessage(ws, event.data))
      ws.on('error', (error) => logError(error.message))
      ws.on('close', () => onClose())
    }
  }
}

function wsStack () {
  const { WebSocket, WebSocketServer } = require('ws')
  return {
    stack: `ws ${require('ws/package.json').version}, perMessageDeflate: true (its defaults)`,
    serve (server) {
      const wss = new WebSocketServer({ server, perMessageDeflate: true })
      wss.on('connection', (ws) => {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
        ws.on('error', (error) => logError(error.message))
      })
    },
    connect (url, onMessage, onClose) {
      const ws = new WebSocket(url, { perMessageDeflate: true })
      ws.on('message', (data, isBinary) => onMessage(ws, isBinary ? data : data.toString()))
      ws.on('error', (error) => logError(error.message))
      ws.on('close', () => onClose())
    }
  }
}

function stackOf (impl) {
  if (impl === 'ours' || impl === 'original') return fayeStack(impl)
  if (impl === 'ws') return wsStack()
  throw new Error('unknown implementation: ' + impl)
}

function serve (impl) {
  const stack = stackOf(impl)
  const server = http.createServer((request, response) => response.end('autobahn echo\n'))
  stack.serve(server)
  server.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: server.address().port, stack: stack.stack }))
  })
  const stop = () => server.close(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  // The parent going away (even killed) closes our stdin: stop with it.
  process.stdin.on('end', stop)
  process.stdin.resume()
}

function once (stack, url, onMessage) {
  return new Promise((resolve) => stack.connect(url, onMessage, resolve))
}

async function client (impl, base, agent) {
  const stack = stackOf(impl)
  console.log(JSON.stringify({ stack: stack.stack }))
  let count = null
  await once(stack, base + '/getCaseCount', (ws, data) => { count = Number(data) })
  if (!Number.isInteger(count)) throw new Error('no case count from ' + base)
  const echo = (ws, data) => ws.send(data)
  for (let i = 1; i <= count; i++) {
    await once(stack, `${base}/runCase?case=${i}&agent=${encodeURIComponent(agent)}`, echo)
  }
  await once(stack, `${base}/updateReports?agent=${encodeURIComponent(agent)}`, () => {})
}

const [role, impl, url, agent] = process.argv.slice(2)
if (role === 'server') {
  serve(impl)
} else if (role === 'client') {
  client(impl, url, agent).then(() => process.exit(0), (error) => {
    console.error(error.stack || error)
    process.exit(1)
  })
} else {
  console.error('usage: peer.js server IMPL | peer.js client IMPL URL AGENT')
  process.exit(2)
}
