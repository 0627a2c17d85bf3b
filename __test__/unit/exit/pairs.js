'use strict'
// Issue 16: what the children of __test__/exit.spec.js share. Connection
// pairs in this process (a client and a server Extensions container with
// this package's deflate, wired to each other, no socket), the messages they
// exchange, and the states a child sets up before its process (or
// worker_thread) ends: `states[name]()` resolves to an object whose optional
// `fire()` starts something (a large message) synchronously, just before
// the child ends. Every state keeps what it made reachable (`kept`), so
// nothing is collected before the end unless the state says so.

const crypto = require('crypto')
const path = require('path')

const ROOT = path.join(__dirname, '..', '..', '..')
const Extensions = require(ROOT)
const deflate = require('websocket-extensions-rs/deflate')

const MiB = 1024 * 1024

/** Whatever a state made, kept reachable until the child ends. */
const kept = []

function frame (data, rsv1 = false) {
  return { opcode: 2, fin: true, rsv1, rsv2: false, rsv3: false, data }
}

// A small JSON-like message (about 300 bytes), distinct per `seed`.
function small (seed) {
  return Buffer.from(JSON.stringify({
    seq: seed,
    type: 'update',
    channel: '/room/' + (seed % 5),
    text: 'message text ' + seed + ' '.repeat(seed % 7) + 'lorem ipsum dolor sit amet '.repeat(8)
  }))
}

// `size` bytes of hex digits that do not repeat themselves: they compress
// about twofold, so `large(8 MiB)` compresses to about 4 MiB, and both
// directions go to the offload pool (over 64 KiB to compress, 16 KiB of
// compressed input to inflate).
function large (seed, size = 8 * MiB) {
  const out = Buffer.allocUnsafe(size)
  for (let offset = 0, k = 0; offset < size; k++) {
    offset += out.write(crypto.createHash('sha256').update(`${seed}:${k}`).digest('hex'), offset, 'latin1')
  }
  return out
}

function check (condition, what) {
  if (!condition) throw new Error(`exit child: precondition failed: ${what}; stats ${JSON.stringify(deflate.stats())}`)
}

// Runs one message through a container, resolving to what its callback got.
function pass (exts, method, message) {
  return new Promise((resolve, reject) => {
    exts[method](message, (error, out) => (error ? reject(error) : resolve(out)))
  })
}

// A negotiated pair of containers using `ext` (this package's deflate, or a
// configuration of it). up(data) / down(data) send a message client to
// server / server to client and check it arrives compressed and unchanged.
function pair (ext = deflate) {
  const client = new Extensions()
  client.add(ext)
  const server = new Extensions()
  server.add(ext)
  const response = server.generateResponse(client.generateOffer())
  check(/^permessage-deflate/.test(response || ''), `negotiated ${JSON.stringify(response)}`)
  client.activate(response)
  const send = async (from, to, data) => {
    const wire = await pass(from, 'processOutgoingMessage', frame(Buffer.from(data)))
    check(wire.rsv1 === true, 'the message was sent compressed')
    const got = await pass(to, 'processIncomingMessage', frame(wire.data, true))
    check(got.data.equals(data), 'the message arrived unchanged')
    return wire.data
  }
  const p = {
    client,
    server,
    up: (data) => send(client, server, data),
    down: (data) => send(server, client, data),
    closeClient: () => new Promise((resolve) => client.close(resolve))
  }
  kept.push(p)
  return p
}

// `count` pairs, each having exchanged `messages` messages each way.
async function pairs (count, messages, ext = deflate) {
  const made = []
  for (let i = 0; i < count; i++) {
    const p = pair(ext)
    for (let m = 0; m < messages; m++) {
      await p.up(small(i * 100 + m))
      await p.down(small(i * 100 + m + 50))
    }
    made.push(p)
  }
  return made
}

// Sends an 8 MiB message through `exts` (`method`) and checks it went to the
// offload pool: its callback has not run when the call returns. The result
// is left to whoever gets it. (deflate.stats().working is not checked: a
// worker may not have taken the message yet.)
function inFlight (exts, method, data) {
  let answered = false
  exts[method](frame(data, method === 'processIncomingMessage'), () => { answered = true })
  check(!answered, 'the large message is processed on a worker thread, not inline')
}

// An extension that never makes a session.
const OTHER = {
  name: 'x-other',
  type: 'permessage',
  rsv1: false,
  rsv2: false,
  rsv3: false,
  createClientSession: () => null,
  createServerSession: () => null
}

// A client and a server that negotiated this package's deflate, the server
// in one native call (its only extension), kept reachable.
function oneCall () {
  const client = new Extensions()
  client.add(deflate)
  const server = new Extensions()
  server.add(deflate)
  const response = server.generateResponse(client.generateOffer())
  check(response === 'permessage-deflate', 'negotiation')
  kept.push(client, server)
  return { client, server, response }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// The states a child can end in. Each resolves once set up.
const states = {
  // Issue 16's report: twenty pairs at defaults, five messages each way,
  // connections left open.
  async live20 () {
    await pairs(20, 5)
    check(deflate.stats().sessions === 40, '40 live sessions')
    return {}
  },

  // The smallest report: one pair, three messages each way.
  async live1 () {
    await pairs(1, 3)
    check(deflate.stats().liveStates >= 2, 'the pair keeps its zlib states')
    return {}
  },

  // Sessions resting: beyond the liveStates budget of 1, the least recently
  // used give their zlib states back and keep only their history.
  async resting () {
    await pairs(6, 3, deflate.configure({ liveStates: 1 }))
    check(deflate.stats().resting >= 8, 'sessions are resting')
    return {}
  },

  // Sessions rested by the idle timer (restAfter 10 ms): every session of
  // the thread ends up without a zlib state.
  async restAfter () {
    await pairs(3, 3, deflate.configure({ restAfter: 10 }))
    while (deflate.stats().liveStates > 0) await sleep(10)
    check(deflate.stats().resting >= 6, 'sessions are resting')
    return {}
  },

  // An 8 MiB message to compress on a worker thread of the offload pool
  // when the child ends (fire() sends it).
  async largeOut () {
    const [p] = await pairs(1, 3)
    const data = large(1)
    return { fire: () => inFlight(p.client, 'processOutgoingMessage', data) }
  },

  // An 8 MiB message (about 4 MiB compressed) to inflate on a worker thread
  // when the child ends.
  async largeIn () {
    const [p] = await pairs(1, 3)
    const data = large(2)
    const wire = await pass(p.client, 'processOutgoingMessage', frame(data))
    check(wire.rsv1 === true && wire.data.length > 64 * 1024, 'the large message was compressed')
    return { fire: () => inFlight(p.server, 'processIncomingMessage', wire.data) }
  },

  // Half-closed pairs: the client ends closed, the server ends left open.
  async halfClosed () {
    const made = await pairs(3, 3)
    // Each close callback runs once the client's session is closed.
    for (const p of made) await p.closeClient()
    return {}
  },

  // The one-call server handshake (a server with only this package's
  // deflate) holding its session natively, no message yet. Its first
  // negotiation makes no native state; anything that needs it before the
  // first message (here another extension added) makes it from the accepted
  // parameters (containerNewAccepted), and the container holds the session
  // until the first message (lib/extensions.js, _native).
  async held () {
    for (let i = 0; i < 3; i++) {
      const { client, server, response } = oneCall()
      check(server._container === null, 'no native state after the first negotiation')
      server.add(OTHER)
      check(server._container !== null, 'the native state, holding the session, made by the add')
      client.activate(response)
    }
    return {}
  },

  // The one-call server handshake's first negotiation, no message yet: the
  // server has only the accepted parameters, no native state.
  async deferred () {
    for (let i = 0; i < 3; i++) {
      const { client, response } = oneCall()
      client.activate(response)
    }
    return {}
  },

  // Containers never closed, and no longer referenced: their sessions wait
  // for the garbage collector (which has not run) when the child ends.
  async dropped () {
    await pairs(5, 3)
    kept.length = 0
    check(deflate.stats().sessions === 10, 'the dropped sessions are still there')
    return {}
  },

  // Every pair closed before the end: the control case.
  async closed () {
    const made = await pairs(3, 3)
    for (const p of made) {
      await p.closeClient()
      await new Promise((resolve) => p.server.close(resolve))
    }
    return {}
  },

  // A bit of everything at once: live, resting, half-closed, held and
  // dropped sessions, and an 8 MiB message to compress.
  async mixed () {
    await states.resting()
    const made = await pairs(3, 3)
    await made[0].closeClient()
    await states.held()
    for (let i = 0; i < 3; i++) await pair().up(small(i))
    kept.splice(-3, 3)
    const { fire } = await states.largeOut()
    return { fire }
  }
}

// How a child ends: `node child.js <state> <ending> [code]`.
function end (ending, code) {
  const message = 'issue 16: an error thrown while deflate sessions are open'
  switch (ending) {
    case 'exit':
      return process.exit(code)
    case 'immediate':
      return setImmediate(() => process.exit(code))
    case 'natural':
      return
    case 'throw':
      return setImmediate(() => { throw new Error(message) })
    case 'sigterm': {
      process.on('SIGTERM', () => process.exit(0))
      // Keeps the loop alive until the signal is handled (the test bounds it).
      setTimeout(() => {}, 60000)
      process.kill(process.pid, 'SIGTERM')
      return
    }
    default:
      throw new Error(`unknown ending ${ending}`)
  }
}

// Sets up `state` and ends as `ending` says; prints the thread's deflate
// figures on stdout first. A failure before the end exits with 2.
function run (state, ending, code) {
  if (!(state in states)) throw new Error(`unknown state ${state}`)
  states[state]().then(({ fire }) => {
    process.stdout.write(`${state}: ${JSON.stringify(deflate.stats())}\n`)
    if (fire) fire()
    end(ending, code)
  }).catch((error) => {
    process.stderr.write(`exit child failed before its end: ${error.stack}\n`)
    process.exit(2)
  })
}

module.exports = { Extensions, deflate, kept, frame, small, large, pair, pairs, pass, check, states, end, run }
