'use strict'
/* eslint-env mocha */
// Issue 10: sessions that rest (give their zlib states back and keep their
// history) between messages, the liveStates budget, threshold and stats().
// Both ends are this package's sessions and permessage-deflate 0.1.7's
// (Node's zlib), so every message is also decoded independently.

const assert = require('assert/strict')
const crypto = require('crypto')
const deflate = require('websocket-extensions-rs/deflate')
const pmd = require('permessage-deflate')
const http = require('http')
const { once } = require('events')
const WebSocket = require('faye-websocket')
const WS = require('ws')
const { windowOptions } = require('../support/messages')

function run (session, dir, message) {
  return new Promise((resolve, reject) => {
    const method = dir === 'out' ? 'processOutgoingMessage' : 'processIncomingMessage'
    session[method](message, (error, out) => error ? reject(error) : resolve(out))
  })
}

function json (i, len) {
  const body = crypto.createHash('sha256').update(String(i % 5)).digest('hex').repeat(Math.ceil(len / 64))
  return Buffer.from(JSON.stringify({ seq: i, user: 'u' + (i % 7), body: body.slice(0, len) }))
}

// A client and a server session of `ext` talking to each other, and to the
// original over the same negotiation.
function pair (ext, options) {
  const client = ext.createClientSession({})
  const server = ext.createServerSession([client.generateOffer()], {})
  assert.ok(server)
  assert.ok(client.activate(server.generateResponse()))
  return { client, server }
}

describe('permessage-deflate sessions at rest (issue 10)', function () {
  this.timeout(60000)

  for (const bits of [8, 9, 10, 12, 15]) {
    for (const takeover of [true, false]) {
      it(`round trips across rests with liveStates 1, window bits ${bits}, context takeover ${takeover}, checked by permessage-deflate 0.1.7`, async function () {
        const options = windowOptions(bits, takeover)
        const ext = deflate.configure({ ...options, liveStates: 1 })
        const pairs = [0, 1, 2].map(() => pair(ext))
        // The original's server, offered what our client offers: it decodes
        // our client's messages with Node's zlib.
        const original = pmd.configure(options)
        const ours = ext.createClientSession({})
        const theirs = original.createServerSession([ours.generateOffer()])
        assert.ok(ours.activate(theirs.generateResponse()))
        for (let i = 0; i < 8; i++) {
          // Taken in turn, so that every message finds its session rested.
          for (const { client, server } of pairs) {
            for (const [from, to, len] of [[client, server, 600], [server, client, 1500]]) {
              const data = json(i, len)
              const wire = await run(from, 'out', { rsv1: false, opcode: 1, data: Buffer.from(data) })
              assert.equal(wire.rsv1, true)
              const back = await run(to, 'in', { rsv1: true, opcode: 1, data: wire.data })
              assert.deepEqual(back.data, data)
            }
          }
          const data = json(i, 900)
          const wire = await run(ours, 'out', { rsv1: false, opcode: 1, data: Buffer.from(data) })
          // Another session works in between: ours rests.
          const between = await run(pairs[0].client, 'out', { rsv1: false, opcode: 1, data: json(i, 100) })
          await run(pairs[0].server, 'in', { rsv1: true, opcode: 1, data: between.data })
          const back = await run(theirs, 'in', { rsv1: true, opcode: 1, data: wire.data })
          assert.deepEqual(back.data, data)
        }
        for (const { client, server } of pairs) { client.close(); server.close() }
        ours.close(); theirs.close()
      })
    }
  }

  it('with context takeover, a rested session sends what refers back to its history', async function () {
    const ext = deflate.configure({ liveStates: 0 })
    const { client, server } = pair(ext)
    const data = json(1, 1500)
    const first = await run(client, 'out', { rsv1: false, opcode: 1, data: Buffer.from(data) })
    await run(server, 'in', { rsv1: true, opcode: 1, data: first.data })
    const stats = deflate.stats()
    assert.ok(stats.historyBytes >= 2 * data.length, JSON.stringify(stats))
    const second = await run(client, 'out', { rsv1: false, opcode: 1, data: Buffer.from(data) })
    assert.ok(second.data.length < first.data.length / 4, `${second.data.length} vs ${first.data.length}`)
    assert.deepEqual((await run(server, 'in', { rsv1: true, opcode: 1, data: second.data })).data, data)
    client.close(); server.close()
  })

  it('restHistory bounds what a resting compressor keeps to prime with; the peer decodes every message', async function () {
    const data = json(2, 3000)
    for (const restHistory of [0, 1024, 32768]) {
      const ext = deflate.configure({ liveStates: 0, restHistory })
      const { client, server } = pair(ext)
      const before = deflate.stats().historyBytes
      for (let i = 0; i < 3; i++) {
        const wire = await run(client, 'out', { rsv1: false, opcode: 1, data: Buffer.from(data) })
        assert.deepEqual((await run(server, 'in', { rsv1: true, opcode: 1, data: wire.data })).data, data)
      }
      // The server's decompressor keeps its window, as it must; the
      // client's compressor at most restHistory.
      const held = deflate.stats().historyBytes - before
      assert.equal(held, 3 * data.length + Math.min(3 * data.length, restHistory), `restHistory ${restHistory}`)
      client.close(); server.close()
    }
    assert.throws(() => deflate.configure({ restHistory: 32769 }), { message: 'Invalid value for option restHistory: 32769 (expected an integer from 0 to 32768)' })
    assert.throws(() => deflate.configure({ restHistory: -1 }), { message: 'Invalid value for option restHistory: -1 (expected an integer from 0 to 32768)' })
  })

  it('liveStates bounds the live states of a thread, least recently used resting first', async function () {
    const ext = deflate.configure({ liveStates: 2 })
    const pairs = [0, 1, 2, 3].map(() => pair(ext))
    const before = deflate.stats()
    for (let i = 0; i < 3; i++) {
      for (const { client, server } of pairs) {
        const wire = await run(client, 'out', { rsv1: false, opcode: 1, data: json(i, 800) })
        await run(server, 'in', { rsv1: true, opcode: 1, data: wire.data })
      }
    }
    const stats = deflate.stats()
    // Each session has two directions: at most 2 sessions' worth are live.
    assert.ok(stats.liveStates <= 4, JSON.stringify(stats))
    assert.ok(stats.resting >= 4, JSON.stringify(stats))
    assert.ok(stats.compressIn - before.compressIn === 4 * 3 * json(0, 800).length || stats.compressIn > before.compressIn)
    assert.ok(stats.compressRatio > 1 && stats.inflateRatio > 1, JSON.stringify(stats))
    for (const { client, server } of pairs) { client.close(); server.close() }
    const closed = deflate.stats()
    assert.ok(closed.historyBytes < stats.historyBytes, JSON.stringify(closed))
  })

  it('stats() reports the offload pool\'s worker-start failures: none here, after a message a worker compressed', async function () {
    const { client, server } = pair(deflate)
    const data = Buffer.alloc(200 * 1024, 'offloaded ')
    const wire = await run(client, 'out', { rsv1: false, opcode: 1, data })
    assert.deepEqual((await run(server, 'in', { rsv1: true, opcode: 1, data: wire.data })).data, data)
    const stats = deflate.stats()
    assert.strictEqual(stats.workerStartFailures, 0, JSON.stringify(stats))
    assert.ok(stats.workerStartError === undefined || stats.workerStartError === null, JSON.stringify(stats))
    client.close(); server.close()
  })

  it('a session closed while resting refuses messages and frees its history', async function () {
    const ext = deflate.configure({ liveStates: 0 })
    const { client, server } = pair(ext)
    const wire = await run(client, 'out', { rsv1: false, opcode: 1, data: json(2, 1000) })
    await run(server, 'in', { rsv1: true, opcode: 1, data: wire.data })
    client.close()
    await assert.rejects(run(client, 'out', { rsv1: false, opcode: 1, data: json(2, 10) }))
    server.close()
  })

  it('threshold: smaller messages go uncompressed with rsv1 clear, larger ones compressed, and the stream goes on', async function () {
    const ext = deflate.configure({ threshold: 64 })
    const { client, server } = pair(ext)
    const small = Buffer.from('x'.repeat(63))
    const out = await run(client, 'out', { rsv1: false, opcode: 1, data: Buffer.from(small) })
    assert.equal(out.rsv1, false)
    assert.deepEqual(out.data, small)
    for (let i = 0; i < 2; i++) {
      const data = json(i, 200)
      const wire = await run(client, 'out', { rsv1: false, opcode: 1, data: Buffer.from(data) })
      assert.equal(wire.rsv1, true)
      assert.deepEqual((await run(server, 'in', { rsv1: true, opcode: 1, data: wire.data })).data, data)
    }
    assert.throws(() => deflate.configure({ threshold: -1 }), /threshold/)
    assert.throws(() => deflate.configure({ liveStates: 'many' }), /liveStates/)
    client.close(); server.close()
  })

  describe('over loopback against ws 8, every message after a rest (liveStates 0)', function () {
    const messages = [0, 1, 2, 3, 4, 5].map((i) => json(i, i % 2 ? 1500 : 600).toString())

    for (const [bits, takeover] of [[15, true], [9, true], [11, false]]) {
      it(`faye-websocket server with our deflate, ws clients (window bits ${bits}, context takeover ${takeover})`, async function () {
        const ext = deflate.configure({ liveStates: 0 })
        const server = http.createServer()
        const sockets = new Set()
        server.on('upgrade', (req, socket, body) => {
          sockets.add(socket)
          const ws = new WebSocket(req, socket, body, [], { extensions: [ext] })
          ws.on('message', (event) => ws.send(event.data))
        })
        server.listen(0, '127.0.0.1')
        await once(server, 'listening')
        try {
          const clients = [0, 1].map(() => new WS(`ws://127.0.0.1:${server.address().port}/`, {
            perMessageDeflate: { clientMaxWindowBits: bits, serverMaxWindowBits: bits, serverNoContextTakeover: !takeover, clientNoContextTakeover: !takeover, threshold: 0 }
          }))
          await Promise.all(clients.map((c) => once(c, 'open')))
          for (const c of clients) assert.match(c.extensions, /permessage-deflate/)
          // In turn, so that each server session rests between its messages.
          for (const text of messages) {
            for (const c of clients) {
              c.send(text)
              const [data] = await once(c, 'message')
              assert.equal(data.toString(), text)
            }
          }
          await Promise.all(clients.map((c) => { c.close(); return once(c, 'close') }))
        } finally {
          for (const socket of sockets) socket.destroy()
          await new Promise((resolve) => server.close(resolve))
        }
      })
    }

    it('faye-websocket client with our deflate against a ws server that echoes', async function () {
      const ext = deflate.configure({ liveStates: 0 })
      const wss = new WS.Server({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } })
      await once(wss, 'listening')
      wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })))
      try {
        const clients = [0, 1].map(() => new WebSocket.Client(`ws://127.0.0.1:${wss.address().port}/`, [], { extensions: [ext] }))
        await Promise.all(clients.map((c) => once(c, 'open')))
        for (const text of messages) {
          for (const c of clients) {
            c.send(text)
            const [event] = await once(c, 'message')
            assert.equal(event.data, text)
          }
        }
        await Promise.all(clients.map((c) => { c.close(); return once(c, 'close') }))
      } finally {
        await new Promise((resolve) => wss.close(resolve))
      }
    })
  })
})
