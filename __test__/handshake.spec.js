'use strict'
// A server container whose only extension is this package's deflate
// negotiates in one native call (lib/extensions.js, _respondDeflate). A copy
// of the extension object is not recognised as this package's, so the same
// container negotiates it step by step (plan, reserve, createServerSession,
// response). Both must answer every offer alike and leave the container in
// the same state: the response, the RSV bits, and messages that round-trip.

const assert = require('assert/strict')
const Extensions = require('..')
const deflate = require('../deflate')

const OFFERS = [
  undefined,
  '',
  'permessage-deflate',
  'permessage-deflate; client_max_window_bits',
  'permessage-deflate; client_max_window_bits=10; server_max_window_bits=9',
  'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  'permessage-deflate; server_max_window_bits=7, permessage-deflate',
  'permessage-deflate; unknown_param',
  'permessage-deflate; server_max_window_bits=16',
  'permessage-deflate; server_max_window_bits',
  'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
  'x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=8',
  'other; a=1',
  'permessage-deflate; "bad',
  'permessage-deflate,,'
]

const CONFIGS = [
  {},
  { maxWindowBits: 10 },
  { noContextTakeover: true },
  { requestMaxWindowBits: 9, requestNoContextTakeover: true }
]

const BITS = [[false, false, false], [true, false, false], [false, true, false], [false, false, true]]
const rsv = (e) => [1, 2].map((opcode) => BITS.map(([rsv1, rsv2, rsv3]) => e.validFrameRsv({ opcode, rsv1, rsv2, rsv3 })))

function negotiate (ext, header, options) {
  const e = new Extensions(options)
  e.add(ext)
  let response, error
  try {
    response = e.generateResponse(header)
  } catch (err) {
    error = { name: err.name, message: err.message }
  }
  return { e, outcome: { response, error, rsv: rsv(e) } }
}

function roundTrip (e, text) {
  let out
  e.processOutgoingMessage({ opcode: 1, rsv1: false, rsv2: false, rsv3: false, data: Buffer.from(text) }, (err, m) => { out = { err, m } })
  assert.equal(out.err, null)
  return out.m
}

describe('server handshake in one native call', function () {
  for (const config of CONFIGS) {
    const fast = Object.keys(config).length === 0 ? deflate : deflate.configure(config)
    const steps = Object.assign({}, fast)
    for (const header of OFFERS) {
      it(`${JSON.stringify(config)} ${JSON.stringify(header)}: same outcome as the steps`, function () {
        const a = negotiate(fast, header)
        const b = negotiate(steps, header)
        assert.deepEqual(a.outcome, b.outcome)
        if (a.outcome.response) {
          const text = 'hello hello hello ' + header
          const ma = roundTrip(a.e, text)
          const mb = roundTrip(b.e, text)
          assert.equal(ma.rsv1, true)
          assert.deepEqual(ma.data, mb.data)
        }
        let closed = 0
        a.e.close(() => closed++)
        b.e.close(() => closed++)
        assert.equal(closed, 2)
      })
    }
  }

  // The one-call negotiation keeps only the accepted parameters, packed in a
  // number, and makes the session from them at the first message: every
  // parameter must reach it. Messages each way, each repeating the last (so
  // context takeover shows in the bytes), the first one incoming.
  for (const clientConfig of CONFIGS) {
    for (const config of CONFIGS) {
      it(`client ${JSON.stringify(clientConfig)}, server ${JSON.stringify(config)}: the session made at the first message compresses and inflates as the steps' does`, function () {
        const fast = Object.keys(config).length === 0 ? deflate : deflate.configure(config)
        const client = new Extensions()
        client.add(Object.keys(clientConfig).length === 0 ? deflate : deflate.configure(clientConfig))
        const offer = client.generateOffer()
        const servers = [fast, Object.assign({}, fast)].map((ext) => {
          const e = new Extensions()
          e.add(ext)
          return { e, response: e.generateResponse(offer) }
        })
        assert.equal(servers[0].response, servers[1].response)
        client.activate(servers[0].response)
        const texts = ['hello, hello, hello, a message', 'hello, hello, hello, a message again', 'and hello, hello once more']
        for (const text of texts) {
          const wire = roundTrip(client, text)
          assert.equal(wire.rsv1, true)
          for (const { e } of servers) {
            let got
            e.processIncomingMessage({ ...wire, data: Buffer.from(wire.data) }, (err, m) => { got = { err, m } })
            assert.equal(got.err, null)
            assert.equal(got.m.data.toString(), text)
          }
        }
        for (const text of texts) {
          const [a, b] = servers.map(({ e }) => roundTrip(e, text))
          assert.equal(a.rsv1, true)
          assert.deepEqual(a.data, b.data)
          let got
          client.processIncomingMessage(a, (err, m) => { got = { err, m } })
          assert.equal(got.err, null)
          assert.equal(got.m.data.toString(), text)
        }
        for (const e of [client, servers[0].e, servers[1].e]) e.close()
      })
    }
  }

  it('maxLength reaches the session made in one call', function () {
    const server = new Extensions({ maxLength: 8 })
    server.add(deflate)
    const client = new Extensions()
    client.add(deflate)
    client.activate(server.generateResponse(client.generateOffer()))
    const big = roundTrip(client, 'this message is longer than eight bytes')
    let result
    server.processIncomingMessage(big, (err, m) => { result = { err, m } })
    assert.ok(result.err instanceof Error)
    assert.equal(result.err.type, 'too_large')
  })

  it('a second negotiation on the same container answers as the steps do (the RSV1 bit stays taken)', function () {
    const steps = Object.assign({}, deflate)
    const outcomes = [deflate, steps].map((ext) => {
      const e = new Extensions()
      e.add(ext)
      const first = e.generateResponse('permessage-deflate')
      const second = e.generateResponse('permessage-deflate; client_max_window_bits')
      const out = { first, second, rsv: rsv(e) }
      let closed = 0
      e.close(() => closed++)
      assert.equal(closed, 1)
      return out
    })
    assert.deepEqual(outcomes[0], outcomes[1])
    assert.equal(outcomes[0].first, 'permessage-deflate')
  })

  it('a connection closed before its first message leaves no deflate session behind', function () {
    const before = deflate.stats().sessions
    for (let i = 0; i < 10; i++) {
      const e = new Extensions()
      e.add(deflate)
      assert.equal(e.generateResponse('permessage-deflate'), 'permessage-deflate')
      let closed = false
      e.close(() => { closed = true })
      assert.equal(closed, true)
      // Closed: messages are dropped, not run through a session.
      e.processOutgoingMessage({ opcode: 1, rsv1: false, rsv2: false, rsv3: false, data: Buffer.from('late') }, () => assert.fail('delivered after close'))
    }
    assert.equal(deflate.stats().sessions, before)
    const e = new Extensions()
    e.add(deflate)
    e.generateResponse('permessage-deflate')
    assert.equal(roundTrip(e, 'first message').rsv1, true)
    assert.equal(deflate.stats().sessions, before + 1)
    e.close()
  })

  it('closes before the first message as the steps do: a close made in a close callback runs after it, a throwing callback throws', function () {
    const steps = Object.assign({}, deflate)
    const logs = [deflate, steps].map((ext) => {
      const e = new Extensions()
      e.add(ext)
      e.generateResponse('permessage-deflate')
      const log = []
      e.close(() => {
        log.push('first')
        e.close(() => log.push('second'))
        log.push('first returns')
      })
      return log
    })
    assert.deepEqual(logs[0], ['first', 'first returns', 'second'])
    assert.deepEqual(logs[0], logs[1])
    for (const ext of [deflate, steps]) {
      const e = new Extensions()
      e.add(ext)
      e.generateResponse('permessage-deflate')
      assert.throws(() => e.close(() => { throw new Error('boom') }), /boom/)
    }
  })

  it('a replaced createServerSession is called, not bypassed', function () {
    const ext = deflate.configure({})
    let called = 0
    const create = ext.createServerSession
    ext.createServerSession = function (offers, options) {
      called++
      return create.call(this, offers, options)
    }
    const e = new Extensions()
    e.add(ext)
    assert.equal(e.generateResponse('permessage-deflate'), 'permessage-deflate')
    assert.equal(called, 1)
  })
})
