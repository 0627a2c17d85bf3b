'use strict'

// A real downstream user (issue 18): the Faye pub/sub server and its Node
// clients, whose websockets are faye-websocket 0.11.4 with this package's
// native permessage-deflate on both ends (`bayeux.addWebsocketExtension`,
// `client.addWebsocketExtension`), while the package's override makes the
// driver's websocket-extensions this package too. One client publishes,
// twenty receive.
//
// Faye's Node client always sends its Bayeux handshake by HTTP POST: the
// handshake may only use the mandatory connection types (long-polling,
// callback-polling, in-process), so `client.disable('long-polling')` leaves
// it with none. Every later message (connect, subscribe, publish, delivery,
// disconnect) goes over the websocket, and the specs check that it did.

const assert = require('assert/strict')
const http = require('http')
const path = require('path')
const v8 = require('v8')
const vm = require('vm')
const faye = require('faye')
const WebSocket = require('ws')
const { ROOT, event, extensionsSeenThrough } = require('./downstream/events')

const deflate = require('websocket-extensions-rs/deflate')

const SUBSCRIBERS = 20
// Messages under 64 KiB are compressed on this thread; 100 KiB and more on
// the offload pool's workers, interleaved so that order must be kept across them.
const SIZES = [100, 16384, 102400, 600, 150000, 4096, 100]
const SMALL = [100, 600, 4096, 16384, 100]

// Sessions that earlier specs left to the garbage collector are counted by
// stats() until it runs: collected in the middle of a spec, they would make
// its counts short. Collected here first, their finalizers run meanwhile.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
const sessionsNow = async () => {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return deflate.stats().sessions
}

const settled = async (condition) => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10))
}

// A Faye server on 127.0.0.1 whose websockets use `serverDeflate`, and that
// logs how each incoming Bayeux message arrived.
const startFaye = async (serverDeflate) => {
  const server = http.createServer()
  const bayeux = new faye.NodeAdapter({ mount: '/faye' })
  bayeux.addWebsocketExtension(serverDeflate)
  const log = []
  bayeux.addExtension({
    incoming (message, request, callback) {
      const via = request.headers.upgrade === 'websocket' ? 'websocket' : request.method
      log.push({ channel: message.channel, via, connectionType: message.connectionType })
      callback(message)
    }
  })
  bayeux.attach(server)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}/faye`
  const clients = []

  // A Faye client with this package's deflate on its websocket. When its
  // websocket closes after disconnect(), Faye schedules a retry of the
  // /meta/connect still pending, `retry` seconds later (5 by default), which
  // finds no transport and does nothing; a short retry lets mocha end sooner.
  const client = () => {
    const c = new faye.Client(url, { retry: 0.1 })
    c.addWebsocketExtension(deflate)
    clients.push(c)
    return c
  }

  let stopped = null
  const stop = () => {
    stopped = stopped || (async () => {
      await Promise.all(clients.map((c) => c.disconnect()))
      bayeux.close()
      await new Promise((resolve) => server.close(resolve))
    })()
    return stopped
  }

  return { url, log, client, stop }
}

// SUBSCRIBERS clients subscribed to /chat and one more to publish, all
// connected over their websockets. `round(sizes)` publishes one event of
// each size, without waiting between them, and waits until every
// subscriber has every one; it returns them and deflate.stats() before and
// after.
const subscribed = async (fayeServer) => {
  const inboxes = []
  await Promise.all(Array.from({ length: SUBSCRIBERS }, () => {
    const inbox = []
    inboxes.push(inbox)
    return fayeServer.client().subscribe('/chat', (message) => inbox.push(message))
  }))
  const publisher = fayeServer.client()
  await new Promise((resolve) => publisher.connect(resolve))
  // The publisher's handshake and connect, over the websocket, have run.
  await settled(() => fayeServer.log.filter((m) => m.channel === '/meta/connect').length > SUBSCRIBERS)

  let seq = 0
  const round = async (sizes) => {
    const before = deflate.stats()
    const sent = sizes.map((size) => ({ seq, text: event(size, ++seq) }))
    const start = inboxes[0].length
    await Promise.all(sent.map((data) => publisher.publish('/chat', data)))
    await settled(() => inboxes.every((inbox) => inbox.length >= start + sent.length))
    const after = deflate.stats()
    return { received: inboxes.map((inbox) => inbox.slice(start)), sent, before, after }
  }
  return { round }
}

describe('Faye pub/sub through this package\'s deflate', function () {
  it('faye serves and connects through faye-websocket 0.11.4, whose websocket-driver loads this package as websocket-extensions', function () {
    const fayeDir = path.dirname(require.resolve('faye/package.json'))
    const fayeWebsocket = require(require.resolve('faye-websocket/package.json', { paths: [fayeDir] }))
    assert.equal(fayeWebsocket.version, '0.11.4')
    // The file `require('websocket-extensions-rs')` loads: this checkout's entry point.
    assert.equal(extensionsSeenThrough(ROOT, ['faye', 'faye-websocket', 'websocket-driver']), require.resolve('websocket-extensions-rs'))
  })

  describe('at the defaults (context takeover)', function () {
    let fayeServer
    let baseline

    before(async function () {
      baseline = await sessionsNow()
      fayeServer = await startFaye(deflate)
    })

    after(async function () {
      await fayeServer.stop()
    })

    it('one client publishes 100 B to 150 KB events, 20 subscribers each receive every one, in order, over websockets compressed by this package', async function () {
      const { round } = await subscribed(fayeServer)
      const { received, sent, before, after } = await round(SIZES)
      for (const inbox of received) assert.deepEqual(inbox, sent)

      // Only the handshakes went by HTTP; everything else came over the websocket.
      const { log } = fayeServer
      assert.equal(log.filter((m) => m.via === 'POST').length, SUBSCRIBERS + 1)
      assert.ok(log.filter((m) => m.via === 'POST').every((m) => m.channel === '/meta/handshake'))
      assert.ok(log.filter((m) => m.channel !== '/meta/handshake').every((m) => m.via === 'websocket'))
      assert.ok(log.filter((m) => m.channel === '/meta/connect').every((m) => m.connectionType === 'websocket'))
      assert.equal(log.filter((m) => m.channel === '/chat').length, sent.length)

      // Both ends of every websocket are ours: a server and a client session each.
      assert.equal(after.sessions - baseline, 2 * (SUBSCRIBERS + 1))
      // The server compressed every delivery and every subscriber inflated it.
      const bytes = sent.reduce((sum, data) => sum + Buffer.byteLength(data.text), 0)
      assert.ok(after.compressIn - before.compressIn > SUBSCRIBERS * bytes)
      assert.ok(after.inflateOut - before.inflateOut > SUBSCRIBERS * bytes)
      assert.ok(after.compressOut - before.compressOut < (after.compressIn - before.compressIn) / 2)
      // With context takeover each connection's stream refers back to its
      // own earlier messages: no compression is shared.
      assert.equal(after.sharedHits - before.sharedHits, 0)
    })

    it('the clients disconnect and every session is freed', async function () {
      await fayeServer.stop()
      await settled(() => deflate.stats().sessions === baseline)
    })
  })

  describe('server without context takeover (broadcast sharing)', function () {
    const serverDeflate = deflate.configure({ noContextTakeover: true })
    let fayeServer
    let baseline

    before(async function () {
      baseline = await sessionsNow()
      fayeServer = await startFaye(serverDeflate)
    })

    after(async function () {
      await fayeServer.stop()
    })

    it('the server answers with server_no_context_takeover', async function () {
      const ws = new WebSocket(fayeServer.url.replace('http:', 'ws:'), { perMessageDeflate: true })
      const response = await new Promise((resolve, reject) => {
        ws.once('upgrade', resolve)
        ws.once('error', reject)
      })
      await new Promise((resolve) => {
        ws.once('close', resolve)
        ws.close()
      })
      assert.equal(response.headers['sec-websocket-extensions'], 'permessage-deflate; server_no_context_takeover')
    })

    it('every subscriber receives every event in order; an event compressed on this thread is compressed once for all 20 (sharedHits)', async function () {
      const { round } = await subscribed(fayeServer)
      const mixed = await round(SIZES)
      for (const inbox of mixed.received) assert.deepEqual(inbox, mixed.sent)
      assert.equal(mixed.after.sessions - baseline, 2 * (SUBSCRIBERS + 1))

      // Faye sends each subscriber the same bytes ({ channel, data, id }),
      // so the first subscriber's compression serves the other 19. Only
      // events under 64 KiB this time: a larger one is compressed on a worker
      // thread, and so may be a small one queued behind it on the same
      // connection, and stats() counts this thread's cache only.
      const small = await round(SMALL)
      for (const inbox of small.received) assert.deepEqual(inbox, small.sent)
      const hits = small.after.sharedHits - small.before.sharedHits
      assert.ok(hits >= SMALL.length * (SUBSCRIBERS - 1), `${hits} shared compressions for ${SMALL.length} events to ${SUBSCRIBERS} subscribers`)
    })

    it('the clients disconnect and every session is freed', async function () {
      await fayeServer.stop()
      await settled(() => deflate.stats().sessions === baseline)
    })
  })
})
