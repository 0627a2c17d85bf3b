'use strict'
// Issue 17, compress once for a broadcast: a message a server sends as a
// stream of its own (no server context takeover) compresses to the same
// bytes for every connection with the same parameters, so the thread keeps
// the last results and the next connection gets a copy
// (core/src/deflate/shared.rs, where a differential proptest compares with
// sessions that never share). Here, through the containers: every
// subscriber decodes the message, the compression ran once, and no two
// subscribers share a buffer.

const assert = require('assert/strict')
const { pair, frame, pass, kept, deflate } = require('./exit/pairs')

const describeNative = process.env.WSX_IMPL === 'original' ? describe.skip : describe

const message = (n) => Buffer.from(JSON.stringify([{ channel: '/chat/room', data: { n, text: 'hello everyone, '.repeat(20) } }]))

// Writing into one subscriber's bytes changes no other's, and every other
// subscriber's client decodes its bytes to the payload.
async function unsharedAndDecoded (subscribers, wires, payload) {
  const copy = Buffer.from(wires[1].data)
  wires[0].data.fill(0)
  assert.deepEqual(wires[1].data, copy)
  for (let i = 1; i < subscribers.length; i++) {
    const got = await pass(subscribers[i].client, 'processIncomingMessage', frame(wires[i].data, true))
    assert.ok(got.data.equals(payload))
  }
}

describeNative('broadcast: compress once for many connections', function () {
  afterEach(function () {
    kept.length = 0
  })

  it('500 subscribers without server context takeover: compressed once, every one decodes it, none shares a buffer', async function () {
    const ext = deflate.configure({ noContextTakeover: true })
    const subscribers = []
    for (let i = 0; i < 500; i++) subscribers.push(pair(ext))
    const before = deflate.stats()
    const payload = message(1)
    const wires = []
    for (const s of subscribers) wires.push(await pass(s.server, 'processOutgoingMessage', frame(Buffer.from(payload))))
    const after = deflate.stats()
    assert.equal(after.sharedMisses - before.sharedMisses, 1)
    assert.equal(after.sharedHits - before.sharedHits, 499)
    for (const w of wires) assert.equal(w.rsv1, true)
    await unsharedAndDecoded(subscribers, wires, payload)
  })

  it('with context takeover only the first message of each connection is shared; later ones are compressed per connection and still decode', async function () {
    const subscribers = []
    for (let i = 0; i < 20; i++) subscribers.push(pair(deflate))
    for (const n of [2, 3, 4]) {
      const before = deflate.stats()
      const payload = message(n)
      for (const s of subscribers) {
        const wire = await pass(s.server, 'processOutgoingMessage', frame(Buffer.from(payload)))
        const got = await pass(s.client, 'processIncomingMessage', frame(wire.data, true))
        assert.ok(got.data.equals(payload))
      }
      const after = deflate.stats()
      const shared = after.sharedHits - before.sharedHits
      assert.equal(shared, n === 2 ? 19 : 0)
    }
  })

  it('a large message (compressed on the worker threads) to 40 subscribers: compressed once across the workers, every one decodes it', async function () {
    const ext = deflate.configure({ noContextTakeover: true })
    const subscribers = []
    for (let i = 0; i < 40; i++) subscribers.push(pair(ext))
    // About 150 KiB, above the size that goes to a worker, and unlike any
    // other test's payload (the workers' cache is the process's).
    const payload = Buffer.from(JSON.stringify(Array.from({ length: 3000 }, (_, n) => ({ n, at: Date.now(), text: 'large broadcast ' + n }))))
    assert.ok(payload.length > 100 * 1024, String(payload.length))
    const before = deflate.stats()
    // All queued at once, as a server's loop over its connections does.
    const wires = await Promise.all(subscribers.map((s) => pass(s.server, 'processOutgoingMessage', frame(Buffer.from(payload)))))
    const after = deflate.stats()
    assert.equal(after.workerSharedMisses - before.workerSharedMisses, 1)
    assert.equal(after.workerSharedHits - before.workerSharedHits, 39)
    assert.equal(after.sharedMisses - before.sharedMisses, 0)
    await unsharedAndDecoded(subscribers, wires, payload)
  })

  it('different parameters never share', async function () {
    const a = pair(deflate.configure({ noContextTakeover: true, level: 1 }))
    const b = pair(deflate.configure({ noContextTakeover: true, level: 9 }))
    const payload = message(5)
    const before = deflate.stats()
    for (const p of [a, b]) {
      const wire = await pass(p.server, 'processOutgoingMessage', frame(Buffer.from(payload)))
      const got = await pass(p.client, 'processIncomingMessage', frame(wire.data, true))
      assert.ok(got.data.equals(payload))
    }
    assert.equal(deflate.stats().sharedHits - before.sharedHits, 0)
  })
})
