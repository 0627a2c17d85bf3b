'use strict'

// A real downstream user (issue 18): sockjs-node serves its websocket
// endpoints through faye-websocket, and passes `faye_server_options` on to
// it, so a sockjs server with `extensions: [deflate]` compresses with this
// package's native permessage-deflate, while the package's override makes
// the driver's websocket-extensions this package too. The clients: ws 8
// with its own (zlib) permessage-deflate, on sockjs's raw websocket endpoint
// and on the framed one; and sockjs-client 1.6.1 in Node, whose websocket
// transport is faye-websocket's client with the `transportOptions` given,
// so this package's deflate is on both ends.

const assert = require('assert/strict')
const http = require('http')
const path = require('path')
const sockjs = require('sockjs')
const SockJS = require('sockjs-client')
const WebSocket = require('ws')
const { ROOT, event, extensionsSeenThrough } = require('./downstream/events')

const deflate = require('websocket-extensions-rs/deflate')

// 100 B, 16 KiB and messages of 100 KiB and more, which the server
// compresses on a worker thread (64 KiB and up), interleaved so that a
// worker's message sits between inline ones.
const SIZES = [100, 16384, 102400, 100, 150000, 16384, 4096, 120000, 100]
const messages = () => SIZES.map((size, i) => event(size, i + 1))

const settled = async (condition) => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10))
}

describe('sockjs-node through this package\'s deflate', function () {
  let server
  let url
  const serverConnections = new Set()
  const clients = new Set()
  const sockjsClients = new Set()

  before(async function () {
    const echo = sockjs.createServer({
      prefix: '/echo',
      log: () => {},
      faye_server_options: { extensions: [deflate] }
    })
    echo.on('connection', (connection) => {
      serverConnections.add(connection)
      connection.on('data', (data) => connection.write(data))
      connection.on('close', () => serverConnections.delete(connection))
    })
    server = http.createServer()
    echo.installHandlers(server)
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `ws://127.0.0.1:${server.address().port}/echo`
  })

  after(async function () {
    await Promise.all([...clients].map(closeClient))
    for (const sock of sockjsClients) if (sock.readyState !== SockJS.CLOSED) sock.close()
    // Until sockjs has seen every connection close (its session timers stop then).
    await settled(() => serverConnections.size === 0)
    await new Promise((resolve) => server.close(resolve))
  })

  // A ws client whose every message, from the first, goes to `inbox`;
  // `until(n)` waits for n of them.
  const open = async (endpoint) => {
    const ws = new WebSocket(url + endpoint, { perMessageDeflate: true })
    clients.add(ws)
    const inbox = []
    let waiting = null
    ws.on('message', (data, isBinary) => {
      inbox.push({ text: data.toString(), isBinary })
      if (waiting && inbox.length >= waiting.n) waiting.resolve()
    })
    const until = (n) => new Promise((resolve) => {
      waiting = { n, resolve }
      if (inbox.length >= n) resolve()
    })
    let response = null
    ws.once('upgrade', (res) => { response = res })
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    return { ws, response, inbox, until }
  }

  const closeClient = async (ws) => {
    if (ws.readyState !== WebSocket.CLOSED) {
      await new Promise((resolve) => {
        ws.once('close', resolve)
        ws.close()
      })
    }
    clients.delete(ws)
  }

  it('serves through faye-websocket 0.11.4, whose websocket-driver loads this package as websocket-extensions', function () {
    const sockjsDir = path.dirname(require.resolve('sockjs/package.json'))
    const faye = require(require.resolve('faye-websocket/package.json', { paths: [sockjsDir] }))
    assert.equal(faye.version, '0.11.4')
    // The file `require('websocket-extensions-rs')` loads: this checkout's entry point.
    assert.equal(extensionsSeenThrough(ROOT, ['sockjs', 'faye-websocket', 'websocket-driver']), require.resolve('websocket-extensions-rs'))
  })

  it('raw websocket endpoint: permessage-deflate is negotiated and messages of 100 B to 150 KB echo in order, compressed and inflated by this package', async function () {
    const before = deflate.stats()
    const { ws, response, inbox, until } = await open('/websocket')
    assert.match(response.headers['sec-websocket-extensions'], /^permessage-deflate(;|$)/)
    assert.equal(ws.extensions, 'permessage-deflate')

    const sent = messages()
    for (const text of sent) ws.send(text)
    await until(sent.length)
    assert.deepEqual(inbox, sent.map((text) => ({ text, isBinary: false })))

    const during = deflate.stats()
    const bytes = sent.reduce((sum, text) => sum + Buffer.byteLength(text), 0)
    // One server session of ours (the client's is ws's own zlib); it
    // inflated every message the client compressed and compressed every echo.
    assert.equal(during.sessions - before.sessions, 1)
    assert.equal(during.inflateOut - before.inflateOut, bytes)
    assert.equal(during.compressIn - before.compressIn, bytes)
    const compressed = during.compressOut - before.compressOut
    assert.ok(compressed > 0 && compressed < bytes / 2, `${compressed} bytes compressed from ${bytes}`)

    await closeClient(ws)
    await settled(() => serverConnections.size === 0)
    assert.equal(deflate.stats().sessions, before.sessions, 'the connection\'s session is freed when it closes')
  })

  it('framed endpoint (sockjs-client\'s protocol): the open frame and every a[...] echo arrive in order through this package\'s deflate', async function () {
    const before = deflate.stats()
    const { ws, response, inbox, until } = await open('/000/downstream-session/websocket')
    assert.match(response.headers['sec-websocket-extensions'], /^permessage-deflate(;|$)/)
    assert.equal(ws.extensions, 'permessage-deflate')

    // The open frame comes first; the client sends only after it.
    await until(1)
    assert.deepEqual(inbox[0], { text: 'o', isBinary: false })
    const sent = messages()
    for (const text of sent) ws.send(JSON.stringify([text]))
    // Echoes come in `a[...]` frames of one or more messages each.
    const received = []
    for (let next = 1; received.length < sent.length; next++) {
      await until(next + 1)
      const { text, isBinary } = inbox[next]
      assert.equal(isBinary, false)
      assert.equal(text[0], 'a', `a frame of sockjs's protocol: ${text.slice(0, 40)}`)
      received.push(...JSON.parse(text.slice(1)))
    }
    assert.deepEqual(received, sent)

    const during = deflate.stats()
    const bytes = sent.reduce((sum, text) => sum + Buffer.byteLength(text), 0)
    assert.equal(during.sessions - before.sessions, 1)
    // The framing adds the JSON array and its escapes both ways.
    assert.ok(during.inflateOut - before.inflateOut > bytes)
    assert.ok(during.compressIn - before.compressIn > bytes)
    assert.ok(during.compressOut - before.compressOut < bytes / 2)

    await closeClient(ws)
    await settled(() => serverConnections.size === 0)
    assert.equal(deflate.stats().sessions, before.sessions)
  })

  it('sockjs-client in Node, websocket transport with this package\'s deflate: both ends are our sessions and every message echoes in order', async function () {
    const before = deflate.stats()
    const sock = new SockJS(url.replace('ws:', 'http:'), null, {
      transports: ['websocket'],
      transportOptions: { websocket: { extensions: [deflate] } }
    })
    sockjsClients.add(sock)
    const received = []
    let done = null
    sock.onmessage = (message) => {
      received.push(message.data)
      if (done && received.length === done.n) done.resolve()
    }
    await new Promise((resolve, reject) => {
      sock.onopen = resolve
      sock.onclose = (event) => reject(new Error(`closed before opening: ${event.code} ${event.reason}`))
    })
    assert.equal(sock.transport, 'websocket')

    const sent = messages()
    const echoed = new Promise((resolve) => { done = { n: sent.length, resolve } })
    for (const text of sent) sock.send(text)
    await echoed
    assert.deepEqual(received, sent)

    const during = deflate.stats()
    const bytes = sent.reduce((sum, text) => sum + Buffer.byteLength(text), 0)
    // The client's session and the server's: each side compressed what it
    // sent and inflated what it received (with sockjs's framing around it).
    assert.equal(during.sessions - before.sessions, 2)
    assert.ok(during.compressIn - before.compressIn > 2 * bytes)
    assert.ok(during.inflateOut - before.inflateOut > 2 * bytes)
    assert.ok(during.compressOut - before.compressOut < bytes)

    await new Promise((resolve) => {
      sock.onclose = resolve
      sock.close()
    })
    await settled(() => serverConnections.size === 0)
    await settled(() => deflate.stats().sessions === before.sessions)
  })
})
