'use strict'
// A server container whose only extension is this package's deflate
// negotiates its first handshake in one native call (lib/extensions.js,
// _respondDeflate; core/src/container.rs). What it must do is what
// websocket-extensions 0.2.0 with permessage-deflate 0.1.7 do with the same
// options: the same response or error for every offer, the same RSV bits,
// and messages that the original's sessions decode, both ways.

const assert = require('assert/strict')
const Extensions = require('../..')
const deflate = require('websocket-extensions-rs/deflate')
const Original = require('websocket-extensions-original')
const permessageDeflate = require('permessage-deflate')

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

function negotiate (Container, ext, header, options) {
  const e = new Container(options)
  e.add(ext)
  let response, error
  try {
    response = e.generateResponse(header)
  } catch (err) {
    error = { name: err.name, message: err.message }
  }
  return { e, outcome: { response, error, rsv: rsv(e) } }
}

// The message `e` (a container) sends for `text`: at once for this
// package's containers and deflate (roundTrip), later for the original's
// sessions, which use Node's zlib (send).
function roundTrip (e, text) {
  let out
  e.processOutgoingMessage({ opcode: 1, rsv1: false, rsv2: false, rsv3: false, data: Buffer.from(text) }, (err, m) => { out = { err, m } })
  assert.equal(out.err, null)
  return out.m
}

function send (e, text) {
  return new Promise((resolve, reject) => {
    e.processOutgoingMessage({ opcode: 1, rsv1: false, rsv2: false, rsv3: false, data: Buffer.from(text) }, (err, m) => err ? reject(err) : resolve(m))
  })
}

// What `e` makes of an incoming `message`.
function receive (e, message) {
  return new Promise((resolve, reject) => {
    e.processIncomingMessage({ ...message, data: Buffer.from(message.data) }, (err, m) => err ? reject(err) : resolve(m))
  })
}

// The original's equivalent of this package's deflate with `config`.
const ours = (config) => Object.keys(config).length === 0 ? deflate : deflate.configure(config)
const theirs = (config) => Object.keys(config).length === 0 ? permessageDeflate : permessageDeflate.configure(config)

describe('server handshake in one native call', function () {
  for (const config of CONFIGS) {
    for (const header of OFFERS) {
      it(`${JSON.stringify(config)} ${JSON.stringify(header)}: answers as the original with permessage-deflate`, async function () {
        const a = negotiate(Extensions, ours(config), header)
        const b = negotiate(Original, theirs(config), header)
        assert.deepEqual(a.outcome, b.outcome)
        if (a.outcome.response) {
          // The original's client, given our response, decodes our message.
          const client = new Original()
          client.add(permessageDeflate)
          client.generateOffer()
          client.activate(a.outcome.response)
          const text = 'hello hello hello ' + header
          const wire = roundTrip(a.e, text)
          assert.equal(wire.rsv1, true)
          const got = await receive(client, wire)
          assert.equal(got.data.toString(), text)
          client.close()
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
  // parameter must reach it. The client is the original with
  // permessage-deflate; messages go each way, each repeating the last (so
  // context takeover shows), the first one incoming.
  for (const clientConfig of CONFIGS) {
    for (const config of CONFIGS) {
      it(`original client ${JSON.stringify(clientConfig)}, server ${JSON.stringify(config)}: the session made at the first message talks to the original's`, async function () {
        const client = new Original()
        client.add(theirs(clientConfig))
        const offer = client.generateOffer()
        const server = new Extensions()
        server.add(ours(config))
        const response = server.generateResponse(offer)
        const reference = new Original()
        reference.add(theirs(config))
        assert.equal(response, reference.generateResponse(offer))
        client.activate(response)
        const texts = ['hello, hello, hello, a message', 'hello, hello, hello, a message again', 'and hello, hello once more']
        for (const text of texts) {
          const wire = await send(client, text)
          assert.equal(wire.rsv1, true)
          const got = await receive(server, wire)
          assert.equal(got.data.toString(), text)
        }
        for (const text of texts) {
          const wire = roundTrip(server, text)
          assert.equal(wire.rsv1, true)
          const got = await receive(client, wire)
          assert.equal(got.data.toString(), text)
        }
        for (const e of [client, server, reference]) e.close()
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

  it('a second negotiation on the same container answers as the original does (the RSV1 bit stays taken)', function () {
    const outcomes = [[Extensions, deflate], [Original, permessageDeflate]].map(([Container, ext]) => {
      const e = new Container()
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

  it('closes before the first message: a close made in a close callback calls back after it (the original: inside it), a throwing callback throws as in the original', function () {
    const logs = [[Extensions, deflate], [Original, permessageDeflate]].map(([Container, ext]) => {
      const e = new Container()
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
    // The drain loop's order (docs/DEVIATIONS.md): the inner close calls
    // back after the running callback returns; the original recursed.
    assert.deepEqual(logs[0], ['first', 'first returns', 'second'])
    assert.deepEqual(logs[1], ['first', 'second', 'first returns'])
    for (const [Container, ext] of [[Extensions, deflate], [Original, permessageDeflate]]) {
      const e = new Container()
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
