'use strict'
/* eslint-env mocha */
// Issue 10: sessions that rest between messages, against an independent
// peer over loopback: Python's websockets (__test__/peers/echo_peer.py), as
// client of our faye-websocket server and as server for our faye-websocket
// client, at several window sizes and without context takeover. Our side
// rests after every message (liveStates 0), or when idle (restAfter, with a
// pause longer than it between messages); it sends each message after the
// previous echo and checks every echo byte for byte. Large messages go
// through the offload workers on our side.

const assert = require('assert/strict')
const crypto = require('crypto')
const fs = require('fs')
const http = require('http')
const path = require('path')
const { once } = require('events')
const { spawn, spawnSync } = require('child_process')
const WebSocket = require('faye-websocket')
const deflate = require('websocket-extensions-rs/deflate')

const ECHO_PEER = path.join(__dirname, 'peers', 'echo_peer.py')

// WSX_PYTHON, else the repository's .venv (made by .ci/run), else python3.
function python () {
  if (process.env.WSX_PYTHON) return process.env.WSX_PYTHON
  const venv = path.join(__dirname, '..', '..', '.venv', 'bin', 'python')
  return fs.existsSync(venv) ? venv : 'python3'
}

function record (i, size) {
  const parts = []
  let length = 0
  for (let n = 0; length < size; n++) {
    const line = `{"id":${i * 1000 + n},"user":"user-${(i + n) % 13}","text":"ünïcödé ${n % 5}","ok":${n % 2 === 0}}\n`
    parts.push(line)
    length += Buffer.byteLength(line)
  }
  return Buffer.from(parts.join('')).subarray(0, size).toString('latin1')
}

// Text that repeats earlier messages (back-references into the history a
// rested session primes from), a large compressible text (offloaded both
// ways), random binary, and an empty message.
const MESSAGES = []
for (let round = 0; round < 2; round++) {
  for (const [i, size] of [[0, 120], [1, 600], [2, 1500], [3, 8000], [0, 120]]) MESSAGES.push(record(i, size))
  MESSAGES.push(crypto.randomBytes(700))
}
MESSAGES.push(record(4, 200 * 1024), crypto.randomBytes(100 * 1024), '', record(1, 600))

// The Python peer's flags and our options for the same parameters.
const CONFIGS = [
  { name: "websockets' defaults", flags: [], ours: {} },
  { name: 'window bits 9 both ways', flags: ['--max-window-bits', '9'], ours: { maxWindowBits: 9, requestMaxWindowBits: 9 } },
  { name: 'window bits 12 both ways', flags: ['--max-window-bits', '12'], ours: { maxWindowBits: 12, requestMaxWindowBits: 12 } },
  { name: 'no context takeover', flags: ['--no-context-takeover'], ours: { noContextTakeover: true, requestNoContextTakeover: true } }
]

const REST_AFTER = 20
const MODES = [
  { name: 'resting after every message (liveStates 0)', options: { liveStates: 0 }, pause: 0 },
  { name: `resting when idle (restAfter ${REST_AFTER} ms, pauses of ${4 * REST_AFTER} ms)`, options: { restAfter: REST_AFTER }, pause: 4 * REST_AFTER }
]

let stoppers = []

function spawnPeer (args) {
  const child = spawn(python(), [ECHO_PEER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  child.stderrText = ''
  child.stderr.setEncoding('utf8').on('data', (text) => { child.stderrText += text })
  child.on('error', (error) => { child.stderrText += error.message })
  child.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)))
  stoppers.push(async () => {
    child.stdin.end()
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await child.exited
  })
  return child
}

// Sends each message after the previous echo; resolves with the echoes.
async function echoes (socket, pause, peer) {
  const received = []
  for (const message of MESSAGES) {
    if (pause) await new Promise((resolve) => setTimeout(resolve, pause))
    const echo = new Promise((resolve, reject) => {
      socket.once('message', (event) => resolve(event.data))
      socket.once('close', (event) => reject(new Error(`closed ${event.code} ${event.reason}: ${peer.stderrText}`)))
    })
    socket.send(message)
    received.push(await echo)
    socket.removeAllListeners('close')
  }
  return received
}

function assertEchoes (received) {
  assert.equal(received.length, MESSAGES.length)
  MESSAGES.forEach((message, i) => {
    if (typeof message === 'string') assert.equal(received[i], message, `message ${i}`)
    else assert.ok(Buffer.from(received[i]).equals(message), `message ${i}: binary differs`)
  })
}

function closeCleanly (socket) {
  return new Promise((resolve) => {
    socket.on('close', (event) => resolve(event.code))
    socket.close(1000, 'done')
  })
}

const BYTES = MESSAGES.reduce((n, m) => n + Buffer.byteLength(m), 0)

describe("permessage-deflate sessions at rest against Python's websockets over loopback (issue 10)", function () {
  this.timeout(60000)
  afterEach(async () => {
    const pending = stoppers.reverse()
    stoppers = []
    for (const stop of pending) await stop()
  })

  before(function () {
    const probe = spawnSync(python(), ['-c', 'import websockets'], { encoding: 'utf8' })
    if (probe.status === 0) return
    const why = `Python's websockets is not importable with ${python()}: python3 -m venv .venv && .venv/bin/pip install websockets`
    if (process.env.CI) throw new Error(why)
    console.log(`  skipping: ${why}`)
    this.skip()
  })

  for (const mode of MODES) {
    for (const config of CONFIGS) {
      it(`Python client, our server, ${mode.name}: ${config.name}`, async function () {
        const ext = deflate.configure({ ...config.ours, ...mode.options })
        const server = http.createServer()
        const sockets = new Set()
        const accepted = new Promise((resolve) => {
          server.on('upgrade', (req, socket, body) => {
            sockets.add(socket)
            const ws = new WebSocket(req, socket, body, [], { extensions: [ext], maxLength: 1 << 24 })
            ws.on('open', () => resolve(ws))
          })
        })
        server.listen(0, '127.0.0.1')
        await once(server, 'listening')
        stoppers.push(async () => {
          for (const socket of sockets) socket.destroy()
          await new Promise((resolve) => server.close(resolve))
        })
        const peer = spawnPeer(['client', `ws://127.0.0.1:${server.address().port}/`, ...config.flags])
        const ws = await Promise.race([accepted, peer.exited.then((code) => { throw new Error(`the Python client exited (${code}): ${peer.stderrText}`) })])
        const before = deflate.stats()
        const received = await echoes(ws, mode.pause, peer)
        const after = deflate.stats()
        assert.equal(await closeCleanly(ws), 1000)
        assert.equal(await peer.exited, 0, peer.stderrText)
        assertEchoes(received)
        // Every message went through our compressor and decompressor.
        assert.ok(after.compressIn - before.compressIn >= BYTES, JSON.stringify({ before, after }))
        assert.ok(after.inflateOut - before.inflateOut >= BYTES, JSON.stringify({ before, after }))
      })

      it(`our client, Python server, ${mode.name}: ${config.name}`, async function () {
        const peer = spawnPeer(['server', ...config.flags])
        let stdout = ''
        peer.stdout.setEncoding('utf8')
        const port = await new Promise((resolve, reject) => {
          peer.stdout.on('data', (text) => {
            stdout += text
            if (stdout.includes('\n')) resolve(Number(stdout.trim()))
          })
          peer.exited.then((code) => reject(new Error(`the Python server exited (${code}): ${peer.stderrText}`)))
        })
        const ext = deflate.configure({ ...config.ours, ...mode.options })
        const ws = new WebSocket.Client(`ws://127.0.0.1:${port}/`, [], { extensions: [ext], maxLength: 1 << 24 })
        stoppers.push(() => ws._stream && ws._stream.destroy())
        await new Promise((resolve, reject) => {
          ws.on('open', resolve)
          ws.on('close', (event) => reject(new Error(`closed before opening: ${event.code}`)))
        })
        ws.removeAllListeners('close')
        const before = deflate.stats()
        const received = await echoes(ws, mode.pause, peer)
        const after = deflate.stats()
        assert.equal(await closeCleanly(ws), 1000)
        assertEchoes(received)
        assert.ok(after.compressIn - before.compressIn >= BYTES, JSON.stringify({ before, after }))
        assert.ok(after.inflateOut - before.inflateOut >= BYTES, JSON.stringify({ before, after }))
      })
    }
  }
})
