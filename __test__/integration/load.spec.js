'use strict'

// Load test (issue 9): a faye-websocket 0.11.4 echo server on 127.0.0.1, its
// websocket-extensions resolved to this package, taking a few hundred concurrent loopback
// clients at once: faye-websocket clients (with the same extensions as the server) and ws
// clients that offer no extension, the commonest case there is. Run without extensions and
// with the native permessage-deflate on both ends. Every client keeps a few messages in
// flight and sends the next one from inside its message handler; the server answers each
// message with two, sent from inside its message handler (the send that used to crash the
// server when nothing was negotiated). Checks: every reply arrives, in order, byte for byte;
// no uncaught exception and no error event on either end; every connection closes with
// 1000 on both ends. The server is stopped by the test. Under WSX_IMPL=original the same
// runs on websocket-extensions 0.2.0 + permessage-deflate 0.1.7.

const assert = require('assert/strict')
const http = require('http')
const path = require('path')
require('../support/impl') // under WSX_IMPL=original, sends the drivers to the original container
const WebSocket = require('faye-websocket')
const WS = require('ws')
const deflate = require('../support/deflate-impl')
const { random } = require('../support')

const FAYE_CLIENTS = Number(process.env.WSX_LOAD_FAYE || 200)
const WS_CLIENTS = Number(process.env.WSX_LOAD_WS || 100)
const MESSAGES = Number(process.env.WSX_LOAD_MESSAGES || 20) // per client
const IN_FLIGHT = 4 // messages a client sends at once when it opens

// The i-th message of a client: mostly small text and binary, now and then 70 KiB (the
// native deflate's worker-thread path).
const messageOf = (client, i) => {
  const r = random(client * 1000 + i + 1)
  const size = r.chance(0.03) ? 70000 : 1 + r.int(300)
  if (r.chance(0.5)) {
    let text = `${client}:${i}:`
    while (text.length < size) text += String.fromCharCode(32 + r.int(95))
    return text
  }
  return Buffer.from(Array.from({ length: size }, () => r.int(256)))
}

// The server's two answers to a message, both sent from its message handler.
const repliesTo = (data) => (typeof data === 'string'
  ? [data, `re:${data.slice(0, 40)}`]
  : [data, Buffer.concat([Buffer.from('re:'), data.subarray(0, 40)])])

const same = (a, b) => (typeof a === 'string' ? a === b : Buffer.isBuffer(b) && a.equals(b))
const show = (data) => (typeof data === 'string' ? `text ${JSON.stringify(data.slice(0, 30))} (${data.length})` : `binary (${data.length})`)

const startServer = (extensions, problems) => new Promise((resolve) => {
  const sockets = new Set()
  const closes = []
  const server = http.createServer((req, res) => res.end())
  server.on('upgrade', (req, socket, body) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    const ws = new WebSocket(req, socket, body, [], { extensions })
    ws.on('message', (event) => {
      for (const reply of repliesTo(event.data)) ws.send(reply)
    })
    ws.on('error', (event) => problems.push(`server error event: ${event.message}`))
    ws.on('close', (event) => closes.push(event.code))
  })
  server.listen(0, '127.0.0.1', () => {
    const stop = () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(resolve)
    })
    resolve({ port: server.address().port, closes, stop })
  })
})

// One client's run: connect, keep IN_FLIGHT messages going, check every reply, close.
// `open` makes the socket and returns { send, close, on(message|close|error) } over it.
// `deflated` says whether the connection must have negotiated permessage-deflate.
const runClient = (index, open, deflated, problems, sockets) => new Promise((resolve) => {
  const socket = open()
  sockets.push(socket)
  const expected = []
  let sent = 0
  let received = 0
  let failed = false
  const fail = (text) => {
    if (!failed) problems.push(`client ${index}: ${text}`)
    failed = true
  }
  const sendNext = () => {
    if (sent >= MESSAGES) return
    const data = messageOf(index, sent++)
    expected.push(...repliesTo(data))
    socket.send(data)
  }
  socket.on('open', () => {
    if (/permessage-deflate/.test(socket.negotiated()) !== deflated) fail(`negotiated "${socket.negotiated()}"`)
    for (let k = 0; k < IN_FLIGHT; k++) sendNext()
  })
  socket.on('message', (data) => {
    const want = expected[received++]
    if (want === undefined) return fail(`unexpected message ${show(data)}`)
    if (!same(want, data)) return fail(`message ${received - 1}: got ${show(data)}, expected ${show(want)}`)
    // Each message's second reply makes room for the next message, sent from in here.
    if (received % 2 === 0) sendNext()
    if (received === 2 * MESSAGES) socket.close()
  })
  socket.on('error', (message) => fail(`error event: ${message}`))
  socket.on('close', (code) => {
    if (received !== 2 * MESSAGES) fail(`closed (${code}) after ${received} of ${2 * MESSAGES} replies`)
    else if (code !== 1000) fail(`closed with ${code}`)
    resolve()
  })
})

const fayeClient = (url, extensions) => () => {
  const ws = new WebSocket.Client(url, [], { extensions })
  return {
    send: (data) => ws.send(data),
    close: () => ws.close(),
    // faye-websocket has no public way to drop a connection at once.
    terminate: () => ws._stream && ws._stream.destroy(),
    negotiated: () => ws.headers['sec-websocket-extensions'] || '',
    on: (name, fn) => ws.on(name, (event) => fn(name === 'message' ? event.data : name === 'close' ? event.code : event.message))
  }
}

const wsClient = (url) => () => {
  const ws = new WS(url, { perMessageDeflate: false })
  return {
    send: (data) => ws.send(data),
    close: () => ws.close(1000),
    terminate: () => ws.terminate(),
    negotiated: () => ws.extensions,
    on: (name, fn) => ws.on(name, name === 'message'
      ? (data, isBinary) => fn(isBinary ? data : data.toString())
      : name === 'error' ? (error) => fn(error.message) : fn)
  }
}

describe('load: a faye-websocket server under many concurrent loopback clients', function () {
  this.timeout(120000)
  // An uncaught exception (the crash of issue 9 was one, thrown from the server's socket
  // handler) fails the running case at once with its stack, and the server is stopped.
  let onUncaught = null
  let mochaListeners = []
  const uncaughtException = () => new Promise((resolve, reject) => {
    onUncaught = (error) => reject(new Error(`uncaught exception under load: ${error && error.stack}`))
  })

  before(() => {
    if (process.env.WSX_IMPL !== 'original') {
      const resolved = require.resolve('websocket-extensions', {
        paths: [path.dirname(require.resolve('websocket-driver'))]
      })
      assert.equal(resolved, path.join(__dirname, '..', '..', 'index.js'), 'npm overrides must point websocket-driver at this package')
    }
    mochaListeners = process.listeners('uncaughtException')
    process.removeAllListeners('uncaughtException')
    process.on('uncaughtException', (error) => onUncaught(error))
  })
  after(() => {
    process.removeAllListeners('uncaughtException')
    for (const listener of mochaListeners) process.on('uncaughtException', listener)
  })

  for (const [label, extensions] of [['without extensions', []], ['with permessage-deflate on both ends', [deflate]]]) {
    it(`${label}: ${FAYE_CLIENTS} faye and ${WS_CLIENTS} ws clients, ${MESSAGES} messages each, every reply in order, every close clean`, async () => {
      const problems = []
      const crashed = uncaughtException()
      const server = await startServer(extensions, problems)
      const sockets = []
      try {
        const url = `ws://127.0.0.1:${server.port}/`
        const clients = []
        for (let i = 0; i < FAYE_CLIENTS + WS_CLIENTS; i++) {
          const faye = i < FAYE_CLIENTS
          const open = faye ? fayeClient(url, extensions) : wsClient(url)
          clients.push(runClient(i, open, faye && extensions.length > 0, problems, sockets))
        }
        await Promise.race([Promise.all(clients), crashed])
        // The server sees each close once the client's closing frame has been answered.
        for (let i = 0; i < 200 && server.closes.length < clients.length; i++) {
          await Promise.race([new Promise((resolve) => setTimeout(resolve, 10)), crashed])
        }
        assert.deepEqual(problems.slice(0, 10), [])
        assert.equal(server.closes.length, clients.length, 'every connection closed on the server')
        assert.deepEqual(server.closes.filter((code) => code !== 1000), [])
      } finally {
        crashed.catch(() => {})
        for (const socket of sockets) socket.terminate()
        await server.stop()
      }
    })
  }
})
