'use strict'
// The cases of __test__/release.spec.js. Each runs in a worker_thread of its
// own (worker.js), whose native tables hold nothing else: the counts it
// checks (deflate.stats(): this thread's containers and sessions) are the
// case's alone, whatever other specs left for the collector in the main
// thread.

const assert = require('assert/strict')
const Original = require('websocket-extensions-original')
const { Extensions, deflate, pair, small, large, frame, pass } = require('../exit/pairs')

const counts = () => {
  const { containers, sessions } = deflate.stats()
  return { containers, sessions }
}

const close = (exts) => new Promise((resolve) => exts.close(resolve))

module.exports = {
  'a pair that exchanged messages frees both containers and both sessions when both ends close': async () => {
    const before = counts()
    const p = pair()
    await p.up(small(1))
    await p.down(small(2))
    // Both ends have native state and a session in the table once they have
    // worked.
    assert.deepEqual(counts(), { containers: before.containers + 2, sessions: before.sessions + 2 })
    await close(p.client)
    assert.deepEqual(counts(), { containers: before.containers + 1, sessions: before.sessions + 1 })
    await close(p.server)
    assert.deepEqual(counts(), before)
    const stats = deflate.stats()
    assert.equal(stats.liveStates, 0)
    assert.equal(stats.historyBytes, 0)
  },

  'a message sent after the close is dropped, and a second close still calls back': async () => {
    const before = counts()
    const p = pair()
    await p.up(small(3))
    await close(p.client)
    let called = false
    p.client.processOutgoingMessage(frame(small(4)), () => { called = true })
    assert.equal(called, false)
    await close(p.client)
    await close(p.server)
    assert.deepEqual(counts(), before)
  },

  'a close while an 8 MiB message is on a worker thread waits for it, then frees': async () => {
    const before = counts()
    const p = pair()
    const data = large(5)
    const sent = pass(p.client, 'processOutgoingMessage', frame(data))
    const closed = close(p.client)
    // Nothing is freed while the message is in flight: the client's
    // container and session stay. (The server negotiated in one call and
    // has no native state until its first message.)
    assert.deepEqual(counts(), { containers: before.containers + 1, sessions: before.sessions + 1 })
    const wire = await sent
    await closed
    assert.equal(wire.rsv1, true)
    const got = await pass(p.server, 'processIncomingMessage', frame(wire.data, true))
    assert.ok(got.data.equals(data))
    await close(p.server)
    assert.deepEqual(counts(), before)
  },

  'a server that negotiated in one call and closed before any message keeps nothing': async () => {
    const before = counts()
    const client = new Extensions()
    client.add(deflate)
    const server = new Extensions()
    server.add(deflate)
    const response = server.generateResponse(client.generateOffer())
    assert.match(response, /^permessage-deflate/)
    client.activate(response)
    server.add({ name: 'x-late', type: 'permessage', rsv1: false, rsv2: false, rsv3: false, createClientSession: () => null, createServerSession: () => null })
    // The add made the server's native state, with the session held for the
    // first message (in no session table); the client has its own.
    assert.deepEqual(counts(), { containers: before.containers + 2, sessions: before.sessions + 1 })
    await close(server)
    await close(client)
    assert.deepEqual(counts(), before)
  },

  'numbers freed at close are reused, and a closed session never reaches the new owner of its number': async () => {
    const before = counts()
    const old = pair()
    await old.up(small(6))
    const session = old.client._pipeline._cells[0].session
    await close(old.client)
    await close(old.server)
    const fresh = pair()
    await fresh.up(small(7))
    // The closed session's own methods report it closed; the new pair works.
    const error = await new Promise((resolve) => session.processOutgoingMessage(frame(small(8)), (e) => resolve(e)))
    assert.match(error.message, /not active/)
    assert.throws(() => session.generateOffer(), /closed/)
    await fresh.down(small(9))
    await close(fresh.client)
    await close(fresh.server)
    assert.deepEqual(counts(), before)
  },

  'sessions used by the original container are freed when it closes them': async () => {
    const before = counts()
    const client = new Original()
    client.add(deflate)
    const server = new Original()
    server.add(deflate)
    client.activate(server.generateResponse(client.generateOffer()))
    assert.equal(counts().sessions, before.sessions + 2)
    const wire = await pass(client, 'processOutgoingMessage', frame(small(10)))
    const got = await pass(server, 'processIncomingMessage', frame(wire.data, true))
    assert.ok(got.data.equals(small(10)))
    await close(client)
    await close(server)
    assert.deepEqual(counts(), before)
  }
}
