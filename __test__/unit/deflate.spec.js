'use strict'

// The native permessage-deflate (SPEC section 5, issue 3): the extension object, configure,
// negotiation through real containers (compared with the npm package permessage-deflate
// 0.1.7, whose rules it follows, except for the deviations core/src/deflate/negotiate.rs
// documents), messages through this package's container (where the codec runs directly)
// and through the original JavaScript container, maxLength, bad input, worker threads,
// idle sessions and closing. Peer interop over sockets (ws, Python) is interop.spec.js.

const assert = require('assert/strict')
const { execFile } = require('child_process')
const crypto = require('crypto')
const path = require('path')
const { Worker } = require('worker_threads')
const zlib = require('zlib')

const ROOT = path.resolve(__dirname, '..', '..')
// The file behind `websocket-extensions-rs/deflate`, for the children and workers below.
const DEFLATE = require.resolve('websocket-extensions-rs/deflate')
const Extensions = require('../..')
const deflate = require('websocket-extensions-rs/deflate')
const Original = require('websocket-extensions-original')
const pmd = require('permessage-deflate')
const { SIZES, randomText, compressibleText, compressibleBinary, WINDOW_BITS, ZLIB_WINDOW_BITS, windowOptions } = require('../support/messages')

const P = 'permessage-deflate'
const KiB = 1024
const MiB = 1024 * 1024

// ---------------------------------------------------------------------------------------
// Data.

// Every size, text and binary, random and compressible; made once.
const MESSAGES = []
for (const size of SIZES) {
  MESSAGES.push(
    { label: `text ${size} B random`, opcode: 1, data: randomText(size) },
    { label: `binary ${size} B random`, opcode: 2, data: crypto.randomBytes(size) },
    { label: `text ${size} B compressible`, opcode: 1, data: compressibleText(size) },
    { label: `binary ${size} B compressible`, opcode: 2, data: compressibleBinary(size) }
  )
}

// ---------------------------------------------------------------------------------------
// Helpers.

// Byte-for-byte comparison that reports lengths and the first difference, not a diff of
// megabytes.
const assertBytes = (actual, expected, label) => {
  assert.ok(Buffer.isBuffer(actual), `${label}: data is not a Buffer (${typeof actual})`)
  if (actual.equals(expected)) return
  let i = 0
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++
  assert.fail(
    `${label}: bytes differ: got ${actual.length} bytes, expected ${expected.length}; first difference at ${i}`
  )
}

const message = (opcode, data, rsv1 = false) => ({ opcode, rsv1, rsv2: false, rsv3: false, data })

// What the peer reads off the wire: a fresh object with a copy of the bytes.
const onWire = (m) => message(m.opcode, Buffer.from(m.data), m.rsv1)

// The offer a client container with only `ext` sends.
const offerOf = (ext, Container = Extensions) => {
  const client = new Container()
  client.add(ext)
  return client.generateOffer()
}

// The response a server container with only `ext` gives to `offer`.
const responseOf = (ext, offer, Container = Extensions) => {
  const server = new Container()
  server.add(ext)
  return server.generateResponse(offer)
}

// A negotiated client/server pair of containers.
const negotiate = (clientExt, serverExt, opts = {}) => {
  const { Client = Extensions, Server = Extensions, clientOptions, serverOptions } = opts
  const client = new Client(clientOptions)
  client.add(clientExt)
  const server = new Server(serverOptions)
  server.add(serverExt)
  const offer = client.generateOffer()
  const response = server.generateResponse(offer)
  client.activate(response)
  return { client, server, offer, response }
}

// Sends `m` one way through `exts`; resolves with what the callback got and whether it
// ran before processXMessage returned.
const send = (exts, direction, m) =>
  new Promise((resolve) => {
    let returned = false
    const method = direction === 'out' ? 'processOutgoingMessage' : 'processIncomingMessage'
    exts[method](m, (error, out) => resolve({ error, message: out, sync: !returned }))
    returned = true
  })

// One message from `sender` to `receiver`, with the checks every round trip makes.
const roundTrip = async (sender, receiver, opcode, data, label) => {
  const original = Buffer.from(data)
  const out = message(opcode, data)
  const sent = await send(sender, 'out', out)
  assert.equal(sent.error, null, `${label}: outgoing error ${sent.error && sent.error.message}`)
  assert.equal(sent.message, out, `${label}: outgoing message object replaced`)
  assert.equal(out.rsv1, true, `${label}: rsv1 not set`)
  assert.ok(Buffer.isBuffer(out.data), `${label}: compressed data is not a Buffer`)
  assert.ok(!out.data.equals(original), `${label}: data unchanged by compression`)
  assertBytes(data, original, `${label}: the caller's buffer was modified`)
  const wire = onWire(out)
  const received = await send(receiver, 'in', wire)
  assert.equal(received.error, null, `${label}: incoming error ${received.error && received.error.message}`)
  assert.equal(received.message, wire, `${label}: incoming message object replaced`)
  assertBytes(wire.data, original, label)
  return { sent, received, compressed: Buffer.from(sent.message.data) }
}

// The compressed form of `data` as the first message of a fresh default session.
const compressFresh = async (data) => {
  const { client } = negotiate(deflate, deflate)
  const sent = await send(client, 'out', message(2, data))
  assert.equal(sent.error, null)
  return sent.message.data
}

// A raw inflater that keeps its context across messages and refuses any match reaching
// beyond `bits` (plus at most 64 bytes): zlib checks distances against its window and the
// output buffer of the current call, which chunkSize 64 keeps small.
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff])
const strictInflater = (bits) => {
  const inflate = zlib.createInflateRaw({ windowBits: bits, chunkSize: 64 })
  let chunks = []
  let pending = null
  inflate.on('data', (chunk) => chunks.push(chunk))
  inflate.on('error', (error) => {
    if (pending) pending.reject(error)
    pending = null
  })
  return (data) =>
    new Promise((resolve, reject) => {
      chunks = []
      pending = { reject }
      inflate.write(Buffer.concat([data, TAIL]))
      inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (!pending) return
        pending = null
        resolve(Buffer.concat(chunks))
      })
    })
}

const runNode = (script, timeout) =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-e', script],
      { timeout, killSignal: 'SIGKILL', maxBuffer: 16 * MiB },
      (error, stdout, stderr) => resolve({ error, stdout, stderr })
    )
  })

const describeExit = ({ error, stdout, stderr }) =>
  error
    ? `exited abnormally: code ${error.code}, signal ${error.signal}, killed ${error.killed}\nstdout: ${stdout}\nstderr: ${stderr}`
    : 'exit 0'

// ---------------------------------------------------------------------------------------

describe('permessage-deflate (native)', function () {
  this.timeout(20000)

  describe('the extension object', () => {
    it('has the shape of permessage-deflate 0.1.7: name, type, rsv1..3, session factories, configure', () => {
      for (const ext of [deflate, deflate.configure({ level: 1 })]) {
        assert.equal(ext.name, 'permessage-deflate')
        assert.equal(ext.type, 'permessage')
        assert.equal(ext.rsv1, true)
        assert.equal(ext.rsv2, false)
        assert.equal(ext.rsv3, false)
        for (const fn of ['createClientSession', 'createServerSession', 'configure']) {
          assert.equal(typeof ext[fn], 'function', fn)
        }
        // The same fields as the npm package it replaces.
        for (const key of ['name', 'type', 'rsv1', 'rsv2', 'rsv3']) assert.equal(ext[key], pmd[key], key)
      }
      const client = deflate.createClientSession({})
      for (const fn of ['generateOffer', 'activate', 'processIncomingMessage', 'processOutgoingMessage', 'close']) {
        assert.equal(typeof client[fn], 'function', fn)
      }
      const server = deflate.createServerSession([{}], {})
      assert.ok(server, 'a server session for an empty offer')
      assert.equal(typeof server.generateResponse, 'function')
      assert.equal(deflate.createServerSession([{ foo: true }], {}), null)
    })
  })

  describe('configure(options)', () => {
    it('returns a new extension and leaves the receiver and its sessions as they were', () => {
      const base = deflate.configure({ maxWindowBits: 10 })
      assert.notEqual(base, deflate)
      const container = new Extensions()
      container.add(base)

      const options = { maxWindowBits: 12, noContextTakeover: true }
      const derived = base.configure(options)
      assert.notEqual(derived, base)
      assert.deepEqual(options, { maxWindowBits: 12, noContextTakeover: true }, 'options object modified')
      assert.throws(() => base.configure({ level: 10 }))

      // The receiver's container still offers what the receiver's options say.
      assert.equal(container.generateOffer(), `${P}; client_max_window_bits=10`)
      assert.equal(offerOf(base), `${P}; client_max_window_bits=10`)
      assert.equal(responseOf(base, `${P}; server_max_window_bits=12`), `${P}; server_max_window_bits=10`)
      assert.equal(offerOf(deflate), `${P}; client_max_window_bits`)
      // The new extension has its options on top of the receiver's.
      assert.equal(offerOf(derived), `${P}; client_no_context_takeover; client_max_window_bits=12`)
      assert.equal(
        offerOf(base.configure({ noContextTakeover: true })),
        `${P}; client_no_context_takeover; client_max_window_bits=10`
      )
      assert.equal(offerOf(deflate.configure()), `${P}; client_max_window_bits`)
    })

    it('throws Error("Unrecognized option: <key>") for an unknown key, as permessage-deflate does', () => {
      for (const options of [{ windowBits: 10 }, { level: 10, windowBits: 10 }, { level: 1, windowBits: 'x' }]) {
        assert.throws(
          () => deflate.configure(options),
          (error) => error instanceof Error && error.message === 'Unrecognized option: windowBits'
        )
        assert.throws(() => pmd.configure({ ...options }), { message: 'Unrecognized option: windowBits' })
      }
      assert.throws(() => deflate.configure({ maxLength: 10 }), { message: 'Unrecognized option: maxLength' })
    })

    it('throws a plain Error, with no napi properties, for a bad option', () => {
      for (const options of [{ windowBits: 10 }, { level: 99 }]) {
        assert.throws(
          () => deflate.configure(options),
          (error) => Object.getPrototypeOf(error) === Error.prototype && !('code' in error) &&
            Object.keys(error).length === 0
        )
      }
    })

    it('throws an Error naming the option for every out-of-range or wrongly typed value', () => {
      const table = {
        level: [10, -2, 1.5, '6', NaN, Infinity, null, true, {}],
        memLevel: [0, 10, 2.5, '8', -1, false],
        strategy: [9, 5, -1, 1.5, '1', null],
        maxWindowBits: [7, 16, 8.5, '10', 0, true, null, []],
        requestMaxWindowBits: [16, 7, 0, '15', 12.5, false],
        noContextTakeover: ['yes', 1, 0, null, {}],
        requestNoContextTakeover: ['no', 1, null]
      }
      for (const [key, values] of Object.entries(table)) {
        for (const value of values) {
          let thrown = null
          try {
            deflate.configure({ [key]: value })
          } catch (error) {
            thrown = error
          }
          assert.ok(thrown instanceof Error, `${key}: ${String(value)} was accepted`)
          assert.ok(
            thrown.message.includes(key),
            `${key}: ${String(value)}: message does not name the option: ${thrown.message}`
          )
        }
      }
    })

    it('accepts every valid value: level -1..9, memLevel 1..9, strategies 0..4, window bits 8..15, booleans, zlib', () => {
      for (let level = -1; level <= 9; level++) deflate.configure({ level })
      for (let memLevel = 1; memLevel <= 9; memLevel++) deflate.configure({ memLevel })
      for (let strategy = 0; strategy <= 4; strategy++) deflate.configure({ strategy })
      for (let bits = 8; bits <= 15; bits++) {
        deflate.configure({ maxWindowBits: bits })
        deflate.configure({ requestMaxWindowBits: bits })
      }
      for (const flag of [true, false]) {
        deflate.configure({ noContextTakeover: flag, requestNoContextTakeover: flag })
      }
      deflate.configure({ zlib: require('zlib') })
      deflate.configure({ zlib: {} })
      deflate.configure({ level: undefined })
      const all = deflate.configure({
        level: 9,
        memLevel: 9,
        strategy: 1,
        noContextTakeover: true,
        maxWindowBits: 8,
        requestNoContextTakeover: true,
        requestMaxWindowBits: 8,
        zlib: require('zlib')
      })
      assert.equal(
        offerOf(all),
        `${P}; client_no_context_takeover; client_max_window_bits=8; server_no_context_takeover; server_max_window_bits=8`
      )
    })
  })

  describe('negotiation through real containers', () => {
    it('the client offer is the one permessage-deflate 0.1.7 sends for the same options', () => {
      const table = [
        [{}, `${P}; client_max_window_bits`],
        [{ noContextTakeover: true }, `${P}; client_no_context_takeover; client_max_window_bits`],
        [{ maxWindowBits: 10 }, `${P}; client_max_window_bits=10`],
        [{ maxWindowBits: 8 }, `${P}; client_max_window_bits=8`],
        [{ requestNoContextTakeover: true }, `${P}; client_max_window_bits; server_no_context_takeover`],
        [{ requestMaxWindowBits: 12 }, `${P}; client_max_window_bits; server_max_window_bits=12`],
        [
          { noContextTakeover: true, maxWindowBits: 9, requestNoContextTakeover: true, requestMaxWindowBits: 11 },
          `${P}; client_no_context_takeover; client_max_window_bits=9; server_no_context_takeover; server_max_window_bits=11`
        ],
        [{ level: 1, memLevel: 9, strategy: 2 }, `${P}; client_max_window_bits`]
      ]
      for (const [options, expected] of table) {
        assert.equal(offerOf(deflate.configure({ ...options })), expected, JSON.stringify(options))
        assert.equal(offerOf(pmd.configure({ ...options })), expected, `pmd ${JSON.stringify(options)}`)
      }
    })

    it('the server answers offers as RFC 7692 section 7 and permessage-deflate 0.1.7 do', () => {
      // [server options, offer header, our response, permessage-deflate's if it differs]
      const table = [
        [{}, P, P],
        [{}, `${P}; client_max_window_bits`, P],
        [{}, `${P}; client_max_window_bits=10`, `${P}; client_max_window_bits=10`],
        [{}, `${P}; client_max_window_bits="9"`, `${P}; client_max_window_bits=9`],
        [{}, `${P}; server_no_context_takeover`, `${P}; server_no_context_takeover`],
        [{}, `${P}; client_no_context_takeover`, `${P}; client_no_context_takeover`],
        [
          {},
          `${P}; client_no_context_takeover; server_no_context_takeover`,
          `${P}; server_no_context_takeover; client_no_context_takeover`
        ],
        [{}, `${P}; server_max_window_bits=10`, `${P}; server_max_window_bits=10`],
        [{}, `${P}; server_max_window_bits=8`, `${P}; server_max_window_bits=8`],
        [{}, `${P}; server_max_window_bits="10"`, `${P}; server_max_window_bits=10`],
        // Deviation: an offered server_max_window_bits is always answered (7.1.2.1).
        [{}, `${P}; server_max_window_bits=15`, `${P}; server_max_window_bits=15`, P],
        [{ maxWindowBits: 12 }, `${P}; server_max_window_bits=15`, `${P}; server_max_window_bits=12`],
        [{ noContextTakeover: true }, P, `${P}; server_no_context_takeover`],
        [{ requestNoContextTakeover: true }, P, `${P}; client_no_context_takeover`],
        // maxWindowBits is announced only when the offer has server_max_window_bits.
        [{ maxWindowBits: 10 }, P, P],
        [{ maxWindowBits: 10 }, `${P}; server_max_window_bits=12`, `${P}; server_max_window_bits=10`],
        [{ maxWindowBits: 10 }, `${P}; server_max_window_bits=9`, `${P}; server_max_window_bits=9`],
        // requestMaxWindowBits needs the client's client_max_window_bits, with or without value.
        [{ requestMaxWindowBits: 11 }, P, P],
        [{ requestMaxWindowBits: 11 }, `${P}; client_max_window_bits`, `${P}; client_max_window_bits=11`],
        [{ requestMaxWindowBits: 11 }, `${P}; client_max_window_bits=9`, `${P}; client_max_window_bits=9`],
        [{ requestMaxWindowBits: 11 }, `${P}; client_max_window_bits=13`, `${P}; client_max_window_bits=11`],
        [
          { noContextTakeover: true, requestNoContextTakeover: true, maxWindowBits: 9, requestMaxWindowBits: 9 },
          `${P}; client_max_window_bits; server_max_window_bits=15`,
          `${P}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9`
        ],
        // Several offers: the first acceptable one wins.
        [{}, `${P}; foo, ${P}; server_no_context_takeover`, `${P}; server_no_context_takeover`],
        [{}, `${P}; server_max_window_bits=7, ${P}; client_max_window_bits=10`, `${P}; client_max_window_bits=10`],
        [{}, `${P}; server_max_window_bits=10, ${P}; server_max_window_bits=12`, `${P}; server_max_window_bits=10`],
        [
          {},
          `${P}; client_no_context_takeover; client_no_context_takeover, ${P}, ${P}; server_no_context_takeover`,
          P
        ],
        // Unknown, duplicated and invalid parameters: the offer is refused.
        [{}, `${P}; foo`, null],
        [{}, `${P}; foo=1`, null],
        [{}, `${P}; SERVER_NO_CONTEXT_TAKEOVER`, null],
        [{}, `${P}; server_no_context_takeover; server_no_context_takeover`, null],
        [{}, `${P}; client_no_context_takeover; client_no_context_takeover`, null],
        [{}, `${P}; server_max_window_bits=10; server_max_window_bits=11`, null],
        [{}, `${P}; client_max_window_bits; client_max_window_bits`, null],
        [{}, `${P}; client_max_window_bits; client_max_window_bits=10`, null],
        [{}, `${P}; server_no_context_takeover=1`, null],
        [{}, `${P}; server_no_context_takeover="true"`, null],
        [{}, `${P}; client_no_context_takeover=x`, null],
        [{}, `${P}; server_max_window_bits`, null],
        [{}, `${P}; server_max_window_bits=7`, null],
        [{}, `${P}; server_max_window_bits=16`, null],
        [{}, `${P}; server_max_window_bits=8.5`, null],
        [{}, `${P}; server_max_window_bits=010`, null],
        [{}, `${P}; server_max_window_bits=abc`, null],
        [{}, `${P}; client_max_window_bits=16`, null],
        [{}, `${P}; client_max_window_bits=7`, null],
        [{}, `${P}; client_max_window_bits=0`, null],
        [{}, `${P}; foo, ${P}; server_max_window_bits=16`, null]
      ]
      for (const [options, offer, expected, original = expected] of table) {
        const label = `${JSON.stringify(options)} ${offer}`
        assert.equal(responseOf(deflate.configure({ ...options }), offer), expected, label)
        assert.equal(responseOf(pmd.configure({ ...options }), offer), original, `pmd: ${label}`)
      }
    })

    it("the client refuses unacceptable responses with the container's 'Server sent unacceptable extension parameters' error", () => {
      // [client options, response header, accepted by us, accepted by permessage-deflate if it differs]
      const table = [
        [{}, P, true],
        [{}, `${P}; server_no_context_takeover`, true],
        [{}, `${P}; client_no_context_takeover`, true],
        [{}, `${P}; server_max_window_bits=10`, true],
        [{}, `${P}; server_max_window_bits=8`, true],
        [{}, `${P}; client_max_window_bits=10`, true],
        [{}, `${P}; client_max_window_bits=8`, true],
        [{}, `${P}; foo`, false],
        [{}, `${P}; SERVER_NO_CONTEXT_TAKEOVER`, false],
        [{}, `${P}; client_max_window_bits`, false], // bare: offers only
        [{}, `${P}; server_max_window_bits`, false],
        [{}, `${P}; server_max_window_bits=16`, false],
        [{}, `${P}; server_max_window_bits=7`, false],
        [{}, `${P}; client_max_window_bits=16`, false],
        [{}, `${P}; server_no_context_takeover=1`, false],
        [{}, `${P}; server_no_context_takeover; server_no_context_takeover`, false],
        [{}, `${P}; client_max_window_bits=10; client_max_window_bits=11`, false],
        [{ maxWindowBits: 10 }, `${P}; client_max_window_bits=11`, false],
        [{ maxWindowBits: 10 }, `${P}; client_max_window_bits=10`, true],
        [{ maxWindowBits: 10 }, `${P}; client_max_window_bits=9`, true],
        [{ maxWindowBits: 10 }, P, true],
        [{ requestNoContextTakeover: true }, P, false],
        [{ requestNoContextTakeover: true }, `${P}; client_no_context_takeover`, false],
        [{ requestNoContextTakeover: true }, `${P}; server_no_context_takeover`, true],
        [{ requestMaxWindowBits: 10 }, P, false],
        [{ requestMaxWindowBits: 10 }, `${P}; server_max_window_bits=11`, false],
        [{ requestMaxWindowBits: 10 }, `${P}; server_max_window_bits=10`, true],
        [{ requestMaxWindowBits: 10 }, `${P}; server_max_window_bits=9`, true],
        // Deviation: no answer to a request for 15 means 15.
        [{ requestMaxWindowBits: 15 }, P, true, false],
        [{ requestMaxWindowBits: 15 }, `${P}; server_max_window_bits=15`, true],
        [{ noContextTakeover: true }, P, true],
        [{ noContextTakeover: true }, `${P}; client_no_context_takeover`, true]
      ]
      const activate = (ext, header) => {
        const client = new Extensions()
        client.add(ext)
        client.generateOffer()
        try {
          client.activate(header)
          return null
        } catch (error) {
          return error
        }
      }
      for (const [options, header, accepted, original = accepted] of table) {
        const label = `${JSON.stringify(options)} ${header}`
        const error = activate(deflate.configure({ ...options }), header)
        if (accepted) {
          assert.equal(error, null, `${label}: refused: ${error && error.message}`)
        } else {
          assert.ok(error instanceof Error, `${label}: accepted`)
          assert.equal(error.message, `Server sent unacceptable extension parameters: ${header}`, label)
        }
        const pmdError = activate(pmd.configure({ ...options }), header)
        assert.equal(pmdError === null, original, `pmd: ${label}`)
      }
    })
  })

  describe('messages through this package\'s container', () => {
    const configs = [
      { label: 'context takeover (defaults)', client: {}, server: {}, response: P },
      {
        label: 'noContextTakeover on both sides',
        client: { noContextTakeover: true },
        server: { noContextTakeover: true },
        response: `${P}; server_no_context_takeover; client_no_context_takeover`
      },
      {
        label: 'requestNoContextTakeover on both sides',
        client: { requestNoContextTakeover: true },
        server: { requestNoContextTakeover: true },
        response: `${P}; server_no_context_takeover; client_no_context_takeover`
      }
    ]
    for (const bits of ZLIB_WINDOW_BITS) {
      configs.push({
        label: `window bits ${bits} both ways`,
        client: windowOptions(bits),
        server: {},
        response: bits < 15
          ? `${P}; server_max_window_bits=${bits}; client_max_window_bits=${bits}`
          : `${P}; server_max_window_bits=15`
      })
    }

    for (const config of configs) {
      it(`outgoing sets rsv1 and changes data, incoming restores the bytes, both ways, every size: ${config.label}`, async () => {
        const { client, server, response } = negotiate(
          deflate.configure(config.client),
          deflate.configure(config.server)
        )
        assert.equal(response, config.response)
        for (const m of MESSAGES) {
          await roundTrip(client, server, m.opcode, Buffer.from(m.data), `client→server ${m.label}`)
          await roundTrip(server, client, m.opcode, Buffer.from(m.data), `server→client ${m.label}`)
        }
      })
    }

    it('every result is a Buffer of its own: later messages, and writes to one result, change no other (results around the 4 KiB the codec hands over through its slab)', async () => {
      const { client, server } = negotiate(deflate, deflate)
      const results = []
      // Random bytes compress to a few bytes more than themselves: outgoing and
      // incoming results from 4,070 to 4,110 bytes, small ones between.
      for (let size = 4070; size <= 4110; size++) {
        for (const data of [crypto.randomBytes(size), compressibleText(size % 200)]) {
          const out = message(2, data)
          const sent = await send(client, 'out', out)
          assert.equal(sent.error, null)
          results.push({ data: out.data, copy: Buffer.from(out.data), label: `compressed ${size} B` })
          const received = await send(server, 'in', onWire(out))
          assert.equal(received.error, null)
          assertBytes(received.message.data, data, `${size} B`)
          results.push({ data: received.message.data, copy: Buffer.from(data), label: `inflated ${size} B` })
        }
      }
      for (const r of results) assertBytes(r.data, r.copy, `${r.label}, after every later message`)
      results.forEach((r, i) => r.data.fill(i % 251))
      results.forEach((r, i) => assert.ok(r.data.every((b) => b === i % 251), `${r.label}: shares bytes with another result`))
    })

    it('window sizes are honoured: a strict inflater with the negotiated window decodes what we send (9..15)', async () => {
      // Repeats lie 300 B to 40 KiB back, within and across messages. For 8 bits the
      // checker holds 9 (Node's zlib turns a raw 8-bit window into 9), which is also what
      // permessage-deflate 0.1.7 inflates an 8-bit peer with; the core's Rust tests check
      // the 256-byte limit itself.
      const block = crypto.randomBytes(40 * KiB)
      const data = Buffer.concat([
        block.subarray(0, 300), block.subarray(0, 300),
        block.subarray(0, 5000), block.subarray(0, 5000),
        block, block
      ])
      // The checker itself rejects a stream that reaches beyond its window.
      const wide = zlib.deflateRawSync(data, { windowBits: 15, flush: zlib.constants.Z_SYNC_FLUSH })
      await assert.rejects(strictInflater(9)(wide.subarray(0, wide.length - 4)), /too far back/)

      for (const bits of WINDOW_BITS) {
        const both = windowOptions(bits)
        for (const [label, clientOptions, serverOptions] of [
          [`client options, ${bits} bits`, both, {}],
          [`server options, ${bits} bits`, {}, both]
        ]) {
          const { client, server } = negotiate(deflate.configure({ ...clientOptions }), deflate.configure({ ...serverOptions }))
          const checkers = { up: strictInflater(bits), down: strictInflater(bits) }
          for (let n = 0; n < 3; n++) {
            for (const [dir, from, to] of [['up', client, server], ['down', server, client]]) {
              const payload = n === 2 ? compressibleBinary(70 * KiB) : data
              const { compressed } = await roundTrip(from, to, 2, Buffer.from(payload), `${label} ${dir} ${n}`)
              let checked
              try {
                checked = await checkers[dir](compressed)
              } catch (error) {
                assert.fail(`${label} ${dir} message ${n}: a ${bits}-bit inflater fails: ${error.message}`)
              }
              assertBytes(checked, payload, `${label} ${dir} ${n}, strict inflater`)
            }
          }
        }
      }
      // And permessage-deflate 0.1.7 (Node's zlib) on the other side, both roles.
      for (const bits of ZLIB_WINDOW_BITS) {
        const options = windowOptions(bits)
        const pairs = [
          negotiate(deflate.configure({ ...options }), pmd.configure({})),
          negotiate(pmd.configure({ ...options }), deflate.configure({}))
        ]
        for (const [i, { client, server }] of pairs.entries()) {
          for (let n = 0; n < 2; n++) {
            const label = `bits ${bits}, ${i === 0 ? 'our client' : 'our server'} with permessage-deflate, message ${n}`
            await roundTrip(client, server, 2, Buffer.from(data), `client→server ${label}`)
            await roundTrip(server, client, 2, Buffer.from(data), `server→client ${label}`)
          }
        }
      }
    })

    it('context takeover is kept, or dropped when negotiated, in each direction', async () => {
      const data = crypto.randomBytes(2000)
      const sizes = async (clientOptions, serverOptions) => {
        const { client, server } = negotiate(deflate.configure(clientOptions), deflate.configure(serverOptions))
        const result = { up: [], down: [] }
        for (let n = 0; n < 3; n++) {
          result.up.push((await roundTrip(client, server, 2, Buffer.from(data), `up ${n}`)).compressed)
          result.down.push((await roundTrip(server, client, 2, Buffer.from(data), `down ${n}`)).compressed)
        }
        return result
      }
      const takeover = await sizes({}, {})
      for (const dir of ['up', 'down']) {
        // The repeat refers to the previous message: far smaller.
        assert.ok(takeover[dir][1].length < 200, `${dir}: repeat took ${takeover[dir][1].length} bytes`)
        assert.ok(takeover[dir][0].length > 2000)
      }
      for (const [clientOptions, serverOptions, none] of [
        [{ noContextTakeover: true }, {}, ['up']],
        [{}, { noContextTakeover: true }, ['down']],
        [{ requestNoContextTakeover: true }, {}, ['down']],
        [{}, { requestNoContextTakeover: true }, ['up']]
      ]) {
        const result = await sizes(clientOptions, serverOptions)
        const label = JSON.stringify([clientOptions, serverOptions])
        for (const dir of ['up', 'down']) {
          if (none.includes(dir)) {
            // Each message on its own: the same bytes each time.
            assertBytes(result[dir][1], result[dir][0], `${label} ${dir}`)
            assertBytes(result[dir][2], result[dir][0], `${label} ${dir}`)
          } else {
            assert.ok(result[dir][1].length < 200, `${label} ${dir}: context lost`)
          }
        }
      }
    })

    it('incoming messages without rsv1 pass through untouched', async () => {
      const { client, server } = negotiate(deflate, deflate)
      for (const exts of [client, server]) {
        for (const data of [Buffer.from('plain text'), Buffer.alloc(0), crypto.randomBytes(200 * KiB), 'a string', undefined]) {
          const m = message(1, data)
          const result = await send(exts, 'in', m)
          assert.equal(result.error, null)
          assert.equal(result.message, m)
          assert.equal(m.data, data, 'data replaced')
          assert.equal(m.rsv1, false)
          assert.equal(result.sync, true)
        }
      }
    })

    it('with sessions that answer synchronously (small messages) the callback has run before processXMessage returns', async () => {
      const { client, server } = negotiate(deflate, deflate)
      for (const size of [0, 1, 125, 126, 4 * KiB]) {
        for (const [from, to] of [[client, server], [server, client]]) {
          const { sent, received } = await roundTrip(from, to, 1, compressibleText(size), `${size} B`)
          assert.equal(sent.sync, true, `${size} B outgoing`)
          assert.equal(received.sync, true, `${size} B incoming`)
        }
      }
    })

    it('large messages (>= 64 KiB) complete later, with the right bytes', async () => {
      const { client, server } = negotiate(deflate, deflate)
      for (const size of [64 * KiB, MiB]) {
        for (const [from, to] of [[client, server], [server, client]]) {
          const { sent, received } = await roundTrip(from, to, 2, crypto.randomBytes(size), `${size} B`)
          assert.equal(sent.sync, false, `${size} B outgoing answered synchronously`)
          assert.equal(received.sync, false, `${size} B incoming answered synchronously`)
        }
      }
    })

    it('order is kept across a mix of large and small messages sent back to back, both ways', async () => {
      const { client, server } = negotiate(deflate, deflate)
      const inputs = Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0 ? crypto.randomBytes(200 * KiB) : Buffer.from(String(i).padStart(10, '#'))
      )
      const burst = (exts, direction, messages) =>
        new Promise((resolve, reject) => {
          const results = []
          const method = direction === 'out' ? 'processOutgoingMessage' : 'processIncomingMessage'
          messages.forEach((m, i) => {
            exts[method](m, (error, out) => {
              if (error) return reject(error)
              results.push({ i, out })
              if (results.length === messages.length) resolve(results)
            })
            if (i === 0) assert.equal(results.length, 0, 'the first (large) message answered synchronously')
          })
        })
      for (const [from, to, label] of [[client, server, 'client→server'], [server, client, 'server→client']]) {
        const outgoing = inputs.map((data) => message(2, Buffer.from(data)))
        const sent = await burst(from, 'out', outgoing)
        sent.forEach(({ i, out }, k) => {
          assert.equal(i, k, `${label}: outgoing message ${i} delivered at ${k}`)
          assert.equal(out, outgoing[k])
          assert.equal(out.rsv1, true)
        })
        const wires = outgoing.map(onWire)
        const received = await burst(to, 'in', wires)
        received.forEach(({ i, out }, k) => {
          assert.equal(i, k, `${label}: incoming message ${i} delivered at ${k}`)
          assert.equal(out, wires[k])
          assertBytes(out.data, inputs[k], `${label} message ${k}`)
        })
      }
    })
  })

  describe('maxLength', () => {
    const LIMIT = MiB

    const receive = async (data, { clientSide = false } = {}) => {
      const { client, server } = negotiate(deflate, deflate, {
        [clientSide ? 'clientOptions' : 'serverOptions']: { maxLength: LIMIT }
      })
      const compressed = await compressFresh(data)
      return send(clientSide ? client : server, 'in', message(2, Buffer.from(compressed), true))
    }

    const assertTooLarge = (result, label) => {
      assert.ok(result.error instanceof Error, `${label}: no error`)
      assert.equal(result.error.type, 'too_large', `${label}: type ${result.error.type}`)
      assert.ok(result.error.message.startsWith('permessage-deflate: '), `${label}: ${result.error.message}`)
      assert.equal(result.message, null)
    }

    it('a compressed 8 MiB zero message fails with type "too_large" and a "permessage-deflate: " message', async () => {
      assertTooLarge(await receive(Buffer.alloc(8 * MiB)), 'server receiving')
      assertTooLarge(await receive(Buffer.alloc(8 * MiB), { clientSide: true }), 'client receiving')
      // Through a worker thread: 2 MiB of random bytes stay 2 MiB compressed.
      assertTooLarge(await receive(crypto.randomBytes(2 * MiB)), 'random 2 MiB')
    })

    it('a message that decompresses to exactly maxLength passes and one byte more fails', async () => {
      for (const [label, make] of [['zeros', (n) => Buffer.alloc(n)], ['random', (n) => crypto.randomBytes(n)]]) {
        const exact = make(LIMIT)
        const ok = await receive(exact)
        assert.equal(ok.error, null, `${label} exactly maxLength: ${ok.error && ok.error.message}`)
        assertBytes(ok.message.data, exact, `${label} exactly maxLength`)
        assertTooLarge(await receive(make(LIMIT + 1)), `${label} maxLength + 1`)
      }
    })
  })

  describe('RFC 7692 final blocks and the negotiated window (issue 9)', () => {
    // RFC 7692 7.2.3.4: "Hello" in a DEFLATE block with BFINAL set, then the header byte of
    // an empty stored block that the receiver's appended 00 00 ff ff completes.
    const RFC_HELLO = Buffer.from('f348cdc9c90700' + '00', 'hex')

    // A pair where the client asks for `bits` and (no) context takeover both ways, so that
    // each side inflates the other's messages with that window and mode.
    const pairWith = (bits, takeover) =>
      negotiate(deflate.configure(windowOptions(bits, takeover)), deflate)

    // A plain zlib peer: one raw DEFLATE stream with a 15-bit window, each message sync
    // flushed with its trailer removed, as ws and permessage-deflate 0.1.7 send them.
    const zlibPeer = () => {
      const stream = zlib.createDeflateRaw({ windowBits: 15 })
      return (data) =>
        new Promise((resolve) => {
          const chunks = []
          const onData = (chunk) => chunks.push(chunk)
          stream.on('data', onData)
          stream.write(data)
          stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            stream.off('data', onData)
            const all = Buffer.concat(chunks)
            assert.ok(all.subarray(-4).equals(TAIL))
            resolve(all.subarray(0, -4))
          })
        })
    }

    const receive = async (exts, data) => {
      const { error, message: out } = await send(exts, 'in', message(2, Buffer.from(data), true))
      return error ? `error: ${error.message}` : out.data.toString('latin1')
    }

    it('the RFC example decodes, and the same payload again and ordinary messages after it', async () => {
      for (const takeover of [true, false]) {
        for (const role of ['client', 'server']) {
          const label = `${role} receiving, context takeover ${takeover}`
          const receiver = pairWith(15, takeover)[role]
          const got = []
          got.push(await receive(receiver, RFC_HELLO), await receive(receiver, RFC_HELLO))
          // After a final block the peer starts a new stream; with context takeover its
          // second message refers to its first.
          const peer = zlibPeer()
          const ordinary = 'an ordinary message, '.repeat(4)
          const first = await peer(ordinary)
          const second = takeover ? await peer(ordinary) : first
          if (takeover) assert.ok(second.length < first.length / 2, `${label}: refers back`)
          got.push(await receive(receiver, first), await receive(receiver, second))
          got.push(await receive(receiver, RFC_HELLO), await receive(receiver, await zlibPeer()('after')))
          assert.deepEqual(got, ['Hello', 'Hello', ordinary, ordinary, 'Hello', 'after'], label)
        }
      }
    })

    it('other bytes after a final block are an error', async () => {
      const tail = Buffer.concat([RFC_HELLO, Buffer.from([0x01])])
      assert.equal(
        await receive(pairWith(15, true).server, tail),
        'error: permessage-deflate: invalid compressed message: data follows the end of the compressed stream'
      )
    })

    it('a match past the negotiated window fails with an error naming it (every size, both roles, both modes)', async () => {
      for (const bits of WINDOW_BITS) {
        const window = 1 << Math.max(bits, 9) // a peer held to 8 bits is inflated with 9
        for (const takeover of [true, false]) {
          for (const role of ['client', 'server']) {
            for (const reach of [window, window + 1]) {
              if (reach > 32768) continue
              const label = `${bits} bits, ${role} receiving, takeover ${takeover}, ${reach} back`
              // Random bytes twice: the only match lies `reach` bytes back.
              const block = crypto.randomBytes(reach)
              const wire = await zlibPeer()(Buffer.concat([block, block]))
              const got = await receive(pairWith(bits, takeover)[role], wire)
              if (reach <= window) {
                assert.equal(got, Buffer.concat([block, block]).toString('latin1'), label)
              } else {
                assert.equal(
                  got,
                  `error: permessage-deflate: invalid compressed message: distance too far back for a ${window}-byte window`,
                  label
                )
              }
            }
          }
        }
      }
    })

    it('what the original (permessage-deflate 0.1.7) refuses across messages, we refuse too', async () => {
      // The issue's case: a client that asked for server_max_window_bits=9 and got it; the
      // server's second message reaches 600 or 20,000 bytes back into its first.
      for (const reach of [600, 20000]) {
        for (const [name, ext, Client, Server] of [
          ['ours', deflate, Extensions, Extensions],
          ['original', pmd, Original, Original]
        ]) {
          const { client } = negotiate(ext.configure({ requestMaxWindowBits: 9 }), ext, { Client, Server })
          const peer = zlibPeer()
          const block = crypto.randomBytes(reach)
          const first = await receive(client, await peer(block))
          assert.equal(first, block.toString('latin1'), `${name} ${reach}: the first message`)
          const second = await receive(client, await peer(block))
          assert.match(second, /^error: permessage-deflate: .*too far back/, `${name} ${reach}`)
        }
      }
    })
  })

  describe('bad input', () => {
    it('corrupt input (random bytes with rsv1, truncated data) fails through the callback with a clear message', async () => {
      const compressible = compressibleText(10 * KiB)
      const random = crypto.randomBytes(4 * KiB)
      const cases = [
        ['random 100 B', crypto.randomBytes(100)],
        ['random 100 KiB', crypto.randomBytes(100 * KiB)],
        ['0xff x 64', Buffer.alloc(64, 0xff)],
        ['compressible, first half', (await compressFresh(compressible)).subarray(0, 300)],
        ['random, first half', (await compressFresh(random)).subarray(0, 2 * KiB)]
      ]
      for (const [label, data] of cases) {
        const { client, server } = negotiate(deflate, deflate)
        let result
        assert.doesNotThrow(() => {
          result = send(server, 'in', message(2, Buffer.from(data), true))
        }, label)
        result = await result
        assert.ok(result.error instanceof Error, `${label}: no error, got ${result.message && result.message.data.length} bytes`)
        assert.equal(result.message, null)
        assert.match(result.error.message, /^permessage-deflate: .*(invalid|corrupt|truncat|incomplete)/i, label)
        // The other direction keeps working.
        await roundTrip(server, client, 1, Buffer.from('still here'), `${label}: after the error`)
      }
      // And the process is fine.
      const { client, server } = negotiate(deflate, deflate)
      await roundTrip(client, server, 2, crypto.randomBytes(MiB), 'a new pair')
    })

    it('message.data missing or not a Buffer fails through the callback with a TypeError, no crash', async () => {
      for (const data of [undefined, null, 'a string', [1, 2, 3], 42, { length: 3 }]) {
        const { client, server } = negotiate(deflate, deflate)
        const label = `data ${JSON.stringify(data)}`
        const out = message(1, data)
        let result
        assert.doesNotThrow(() => { result = send(client, 'out', out) }, label)
        result = await result
        assert.ok(result.error instanceof TypeError, `${label} outgoing: ${result.error}`)
        assert.equal(result.message, null)
        const inc = message(1, data, true)
        assert.doesNotThrow(() => { result = send(server, 'in', inc) }, label)
        result = await result
        assert.ok(result.error instanceof TypeError, `${label} incoming: ${result.error}`)
        assert.equal(result.message, null)
      }
      const noData = { opcode: 2, rsv1: false }
      const { client } = negotiate(deflate, deflate)
      const result = await send(client, 'out', noData)
      assert.ok(result.error instanceof TypeError)
    })

    it('errors reach the caller with the extension name prefixed once, like every other extension error', async () => {
      const cases = []
      {
        const { server } = negotiate(deflate, deflate)
        cases.push(['corrupt', await send(server, 'in', message(2, crypto.randomBytes(100), true))])
      }
      {
        const { server } = negotiate(deflate, deflate, { serverOptions: { maxLength: 10 } })
        cases.push(['too large', await send(server, 'in', message(2, await compressFresh(Buffer.alloc(100)), true))])
      }
      for (const Container of [Extensions, Original]) {
        const { client } = negotiate(deflate, deflate, { Client: Container, Server: Container })
        const name = Container === Extensions ? 'ours' : 'original'
        cases.push([`not a Buffer (${name} container)`, await send(client, 'out', message(1, 'text'))])
      }
      const wrong = []
      for (const [label, { error }] of cases) {
        assert.ok(error instanceof Error, label)
        if (!/^permessage-deflate: (?!permessage-deflate: )/.test(error.message)) wrong.push(`${label}: '${error.message}'`)
      }
      assert.deepEqual(wrong, [])
    })
  })

  describe('in the original JavaScript container', () => {
    it('negotiates and round-trips messages both ways, including a large one', async () => {
      const combos = [
        ['original ↔ original', Original, Original],
        ['original client, our server', Original, Extensions],
        ['our client, original server', Extensions, Original]
      ]
      for (const [label, Client, Server] of combos) {
        const { client, server, offer, response } = negotiate(
          deflate.configure({ requestMaxWindowBits: 12 }),
          deflate,
          { Client, Server }
        )
        assert.equal(offer, `${P}; client_max_window_bits; server_max_window_bits=12`, label)
        assert.equal(response, `${P}; server_max_window_bits=12`, label)
        for (const data of [Buffer.from('hello'), compressibleText(5000), crypto.randomBytes(MiB), compressibleText(MiB), Buffer.from('bye')]) {
          await roundTrip(client, server, 1, Buffer.from(data), `${label} client→server ${data.length} B`)
          await roundTrip(server, client, 2, Buffer.from(data), `${label} server→client ${data.length} B`)
        }
        // Order through the original's own queue, large then small.
        const big = crypto.randomBytes(300 * KiB)
        const order = []
        await new Promise((resolve) => {
          client.processOutgoingMessage(message(2, Buffer.from(big)), (e, m) => order.push(['big', e, m]))
          client.processOutgoingMessage(message(2, Buffer.from('small')), (e, m) => {
            order.push(['small', e, m])
            resolve()
          })
        })
        assert.deepEqual(order.map((o) => [o[0], o[1]]), [['big', null], ['small', null]], label)
        for (const [name, , m] of order) {
          const r = await send(server, 'in', onWire(m))
          assertBytes(r.message.data, name === 'big' ? big : Buffer.from('small'), `${label} ${name}`)
        }
        // maxLength reaches the sessions through the original's factories too.
        const limited = negotiate(deflate, deflate, { Client, Server, serverOptions: { maxLength: 1000 } })
        const tooLarge = await send(limited.server, 'in', message(2, await compressFresh(Buffer.alloc(1001)), true))
        assert.equal(tooLarge.error && tooLarge.error.type, 'too_large', label)
        await new Promise((resolve) => client.close(resolve))
        await new Promise((resolve) => server.close(resolve))
      }
    })
  })

  describe('process and threads', () => {
    it('idle sessions never keep the process alive', async function () {
      this.timeout(25000)
      const script = `
        const crypto = require('crypto');
        const Extensions = require(${JSON.stringify(ROOT)});
        const deflate = require(${JSON.stringify(DEFLATE)});
        const client = new Extensions(); client.add(deflate);
        const server = new Extensions(); server.add(deflate);
        client.activate(server.generateResponse(client.generateOffer()));
        const trip = (from, to, data, done) => {
          from.processOutgoingMessage({ opcode: 2, rsv1: false, data: Buffer.from(data) }, (error, m) => {
            if (error) throw error;
            to.processIncomingMessage({ opcode: 2, rsv1: true, data: Buffer.from(m.data) }, (error, m) => {
              if (error) throw error;
              done(m.data.equals(data));
            });
          });
        };
        const small = Buffer.from('small message');
        const large = crypto.randomBytes(2 * 1024 * 1024);
        trip(client, server, small, (a) => trip(client, server, large, (b) =>
          trip(server, client, small, (c) => trip(server, client, large, (d) =>
            console.log(JSON.stringify([a, b, c, d]))))));
        // and then nothing: no close, no exit
      `
      const result = await runNode(script, 15000)
      assert.equal(result.error, null, describeExit(result))
      assert.equal(result.stdout.trim(), '[true,true,true,true]')
    })

    const workerCode = `
      const { parentPort, workerData } = require('worker_threads');
      const Extensions = require(workerData.root);
      const deflate = require(workerData.deflate);
      const client = new Extensions(); client.add(deflate);
      const server = new Extensions(); server.add(deflate);
      client.activate(server.generateResponse(client.generateOffer()));
      const input = Buffer.from(workerData.input);
      const trip = (from, to, done) => {
        let sync = true;
        from.processOutgoingMessage({ opcode: 2, rsv1: false, data: Buffer.from(input) }, (error, m) => {
          if (error) throw error;
          to.processIncomingMessage({ opcode: 2, rsv1: true, data: Buffer.from(m.data) }, (error, m) => {
            if (error) throw error;
            done({ data: m.data, outgoingSync: sync });
          });
        });
        sync = false;
      };
      trip(client, server, (up) => trip(server, client, (down) => parentPort.postMessage({ up, down })));
    `

    const runWorker = (input) =>
      new Promise((resolve, reject) => {
        const worker = new Worker(workerCode, { eval: true, workerData: { root: ROOT, deflate: DEFLATE, input } })
        let result = null
        worker.on('message', (m) => { result = m })
        worker.on('error', reject)
        worker.on('exit', (code) => {
          if (code !== 0) return reject(new Error(`worker exited with code ${code}`))
          if (result === null) return reject(new Error('worker exited without a result'))
          resolve(result)
        })
      })

    const checkWorkerResult = (result, input, label) => {
      for (const dir of ['up', 'down']) {
        assertBytes(Buffer.from(result[dir].data), input, `${label} ${dir}`)
        assert.equal(result[dir].outgoingSync, false, `${label} ${dir}: a large message answered synchronously`)
      }
    }

    it('a worker thread loads the package and round-trips a large message (and exits by itself)', async () => {
      const input = crypto.randomBytes(2 * MiB)
      checkWorkerResult(await runWorker(input), input, 'worker')
    })

    it('two workers at once', async () => {
      const inputs = [crypto.randomBytes(2 * MiB), compressibleText(3 * MiB)]
      const results = await Promise.all(inputs.map(runWorker))
      results.forEach((result, i) => checkWorkerResult(result, inputs[i], `worker ${i}`))
      // The main thread is unaffected.
      const { client, server } = negotiate(deflate, deflate)
      await roundTrip(client, server, 2, crypto.randomBytes(MiB), 'main thread')
    })

    it('a worker terminated while a large message is in flight does not crash the main process', async function () {
      this.timeout(25000)
      // In a child process, so that a crash is reported rather than taking mocha down.
      const script = `
        const { Worker } = require('worker_threads');
const zlib = require('zlib');
        const crypto = require('crypto');
        const root = ${JSON.stringify(ROOT)};
        const deflatePath = ${JSON.stringify(DEFLATE)};
        const Extensions = require(root);
        const deflate = require(deflatePath);
        const code = ${JSON.stringify(`
          const { parentPort, workerData } = require('worker_threads');
          const crypto = require('crypto');
          const Extensions = require(workerData.root);
          const deflate = require(workerData.deflate);
          const client = new Extensions(); client.add(deflate);
          const server = new Extensions(); server.add(deflate);
          client.activate(server.generateResponse(client.generateOffer()));
          let done = 0;
          client.processOutgoingMessage({ opcode: 2, rsv1: false, data: crypto.randomBytes(8 * 1024 * 1024) }, () => { done++; });
          server.processIncomingMessage({ opcode: 2, rsv1: true, data: Buffer.from(workerData.compressed) }, () => { done++; });
          parentPort.postMessage({ inflight: 2 - done });
        `)};
        const pair = () => {
          const client = new Extensions(); client.add(deflate);
          const server = new Extensions(); server.add(deflate);
          client.activate(server.generateResponse(client.generateOffer()));
          return { client, server };
        };
        const trip = (data) => new Promise((resolve, reject) => {
          const { client, server } = pair();
          client.processOutgoingMessage({ opcode: 2, rsv1: false, data: Buffer.from(data) }, (error, m) => {
            if (error) return reject(error);
            server.processIncomingMessage({ opcode: 2, rsv1: true, data: Buffer.from(m.data) }, (error, m) => {
              if (error) return reject(error);
              resolve(m.data.equals(data));
            });
          });
        });
        const compressedFresh = (data) => new Promise((resolve) => {
          pair().client.processOutgoingMessage({ opcode: 2, rsv1: false, data }, (e, m) => resolve(m.data));
        });
        const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
        (async () => {
          const compressed = await compressedFresh(crypto.randomBytes(8 * 1024 * 1024));
          const inflight = [];
          for (const delay of [0, 0, 20, 100]) {
            const worker = new Worker(code, { eval: true, workerData: { root, deflate: deflatePath, compressed } });
            const [m] = await require('events').once(worker, 'message');
            inflight.push(m.inflight);
            if (delay) await sleep(delay);
            await worker.terminate();
          }
          const results = [];
          results.push(await trip(crypto.randomBytes(1024 * 1024)));
          await sleep(1500); // the terminated workers' jobs finish meanwhile
          results.push(await trip(crypto.randomBytes(1024 * 1024)));
          results.push(await trip(Buffer.from('small')));
          console.log(JSON.stringify({ inflight, results }));
        })();
      `
      const result = await runNode(script, 20000)
      assert.equal(result.error, null, describeExit(result))
      const out = JSON.parse(result.stdout.trim())
      assert.deepEqual(out.inflight, [2, 2, 2, 2], 'the workers had both messages in flight when terminated')
      assert.deepEqual(out.results, [true, true, true])
    })
  })

  describe('closing', () => {
    it('close() with a large message in flight waits for it: message callback before close callback', async () => {
      const { client, server } = negotiate(deflate, deflate)
      const data = crypto.randomBytes(MiB)

      const events = []
      const out = message(2, Buffer.from(data))
      client.processOutgoingMessage(out, (error, m) => events.push(['message', error, m]))
      const closed = new Promise((resolve) => client.close(() => { events.push(['close']); resolve() }))
      assert.deepEqual(events, [], 'a callback ran before the large message was done')
      await closed
      assert.deepEqual(events.map((e) => e[0]), ['message', 'close'])
      assert.equal(events[0][1], null)
      assert.equal(events[0][2], out)
      assert.equal(out.rsv1, true)

      // The incoming side likewise; and what was sent decodes.
      const incoming = []
      const wire = onWire(out)
      server.processIncomingMessage(wire, (error, m) => incoming.push(['message', error, m]))
      const serverClosed = new Promise((resolve) => server.close(() => { incoming.push(['close']); resolve() }))
      assert.deepEqual(incoming, [])
      await serverClosed
      assert.deepEqual(incoming.map((e) => e[0]), ['message', 'close'])
      assert.equal(incoming[0][1], null)
      assertBytes(wire.data, data, 'the message in flight at close')

      // Nothing in flight: the callback runs before close returns.
      const idle = negotiate(deflate, deflate)
      await roundTrip(idle.client, idle.server, 1, Buffer.from('x'), 'before close')
      let ran = false
      idle.client.close(() => { ran = true })
      assert.equal(ran, true)
    })
  })
})
