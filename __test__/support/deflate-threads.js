'use strict'
// The worker_thread side of deflate-idle.spec.js and deflate-threads.spec.js:
// runs the scenario workerData names and posts back { result } or { error }.
// deflate.stats() is per thread, so in a worker only the scenario's own
// sessions count.

const crypto = require('crypto')
const { parentPort, workerData } = require('worker_threads')
const deflate = require('websocket-extensions-rs/deflate')

function run (session, dir, data) {
  return new Promise((resolve, reject) => {
    const method = dir === 'out' ? 'processOutgoingMessage' : 'processIncomingMessage'
    session[method]({ rsv1: dir !== 'out', opcode: 1, data }, (error, out) => error ? reject(error) : resolve(out))
  })
}

function pair (ext) {
  const client = ext.createClientSession({})
  const server = ext.createServerSession([client.generateOffer()], {})
  if (!server || !client.activate(server.generateResponse())) throw new Error('no session')
  return { client, server }
}

function json (i, len) {
  const body = crypto.createHash('sha256').update(String(i % 3)).digest('hex').repeat(Math.ceil(len / 64))
  return Buffer.from(JSON.stringify({ seq: i, user: 'u' + (i % 7), body: body.slice(0, len) }))
}

// JSON whose body does not repeat itself: it compresses only where it
// repeats an earlier message.
function distinct (i, len) {
  let body = ''
  for (let k = 0; body.length < len; k++) body += crypto.createHash('sha256').update(`${i}:${k}`).digest('hex')
  return Buffer.from(JSON.stringify({ seq: i, body: body.slice(0, len) }))
}

// Client to server and back, checked byte for byte; the compressed sizes.
async function roundTrip ({ client, server }, data) {
  const up = await run(client, 'out', Buffer.from(data))
  const back = await run(server, 'in', up.data)
  if (!back.data.equals(data)) throw new Error('client to server: bytes differ')
  const down = await run(server, 'out', Buffer.from(data))
  const there = await run(client, 'in', down.data)
  if (!there.data.equals(data)) throw new Error('server to client: bytes differ')
  return [up.data.length, down.data.length]
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Pairs a scenario needs alive until it ends.
const kept = []

async function until (check) {
  while (!check()) await sleep(5)
}

const scenarios = {
  async idleRest () {
    const ext = deflate.configure({ restAfter: 30 })
    const pairs = [pair(ext), pair(ext)]
    const first = []
    for (let i = 0; i < 3; i++) {
      for (const p of pairs) first.push(await roundTrip(p, distinct(i, 1500)))
    }
    const live = deflate.stats()
    await until(() => deflate.stats().liveStates === 0)
    const rested = deflate.stats()
    // The first message of a rested session repeats an earlier one: it is
    // sent as a back-reference into the primed history.
    const woken = await roundTrip(pairs[0], distinct(0, 1500))
    return { live, rested, first: first[0], woken, after: deflate.stats() }
  },

  async steady () {
    const { performance } = require('perf_hooks')
    const restAfter = 400
    const ext = deflate.configure({ restAfter })
    const p = pair(ext)
    await roundTrip(p, json(0, 800))
    await roundTrip(p, json(1, 800))
    let last = performance.now()
    let checked = 0
    let rested = 0
    for (let i = 2; i < 40; i++) {
      await sleep(10)
      // Only a gap shorter than restAfter counts: a stalled machine may
      // leave a longer one, after which resting is right.
      const gap = performance.now() - last
      const stats = deflate.stats()
      if (gap < restAfter / 2) {
        checked++
        if (stats.liveStates !== 4) rested++
      }
      await roundTrip(p, json(i, 800))
      last = performance.now()
    }
    return { checked, rested }
  },

  async timers () {
    // lib/deflate.js calls the timers module's setTimeout when it arms.
    const timers = require('timers')
    const original = timers.setTimeout
    let set = 0
    let unrefd = 0
    timers.setTimeout = function (...args) {
      set++
      const timer = original.apply(this, args)
      const unref = timer.unref
      timer.unref = function () { unrefd++; return unref.call(this) }
      return timer
    }
    const counts = {}
    for (const [name, options] of [['off', { restAfter: 0 }], ['default', {}]]) {
      set = 0
      unrefd = 0
      const ext = deflate.configure(options)
      const pairs = [pair(ext), pair(ext), pair(ext)]
      for (let i = 0; i < 4; i++) {
        for (const p of pairs) await roundTrip(p, json(i, 300))
      }
      counts[name] = { set, unrefd, stats: deflate.stats() }
      for (const { client, server } of pairs) { client.close(); server.close() }
    }
    timers.setTimeout = original
    return counts
  },

  async longRestAfter () {
    const ext = deflate.configure({ restAfter: 600000 })
    const pairs = [pair(ext), pair(ext)]
    for (let i = 0; i < 3; i++) {
      for (const p of pairs) await roundTrip(p, json(i, 500))
    }
    return deflate.stats()
  },

  async restWhileWorking () {
    // liveStates 0 asks every session to rest after every message, and
    // restAfter 1 sweeps all the time: the large one must go on working.
    const ext = deflate.configure({ liveStates: 0, restAfter: 1 })
    const large = pair(ext)
    const small = pair(ext)
    await roundTrip(large, json(0, 2000))
    // 4 MiB that compresses about twofold: a worker thread compresses and
    // inflates it.
    const data = Buffer.concat(Array.from({ length: 1024 }, (_, i) => distinct(i % 700, 4000)))
    const sent = run(large.client, 'out', Buffer.from(data))
    const progress = { done: false }
    sent.then(() => { progress.done = true }, () => { progress.done = true })
    // The result comes back through the event loop, so the first small
    // round trips, which run on microtasks, ask the large session to rest
    // while its message is certainly in flight.
    let smallTrips = 0
    do {
      await roundTrip(small, json(smallTrips++, 300))
      if (smallTrips % 4 === 0) await sleep(1)
    } while (!progress.done)
    const wire = await sent
    const back = await run(large.server, 'in', wire.data)
    if (!back.data.equals(data)) throw new Error('the large message differs')
    await until(() => deflate.stats().liveStates === 0 && deflate.stats().working === 0)
    // Its stream goes on after the rest: the last of the large message is
    // history, and this message repeats it.
    const after = await roundTrip(large, distinct(1023 % 700, 4000))
    return { smallTrips, wire: wire.data.length, after, stats: deflate.stats() }
  },

  // A thread whose environment ends with sessions of every kind: resting,
  // live with a restAfter timer set, and one with a large message on an
  // offload worker. Posts { ready } with its figures, then, as `mode` says,
  // waits to be terminated, exits with process.exit, or waits for its
  // message and ends on its own.
  async envEnd ({ mode }) {
    const resting = deflate.configure({ liveStates: 0 })
    // Kept referenced to the end: a pair collected meanwhile would take its
    // sessions with it and the count below would not be the scenario's.
    kept.push(pair(resting), pair(resting))
    for (let i = 0; i < 2; i++) await roundTrip(kept[kept.length - 2 + i], json(i, 1000))
    const live = deflate.configure({ restAfter: 60000 })
    const pairs = [pair(live), pair(live), pair(live)]
    for (let i = 0; i < 3; i++) {
      for (const p of pairs) await roundTrip(p, json(i, 1000))
    }
    const large = pair(live)
    await roundTrip(large, json(0, 1000))
    const data = Buffer.concat(Array.from({ length: 2048 }, (_, i) => json(i, 2000)))
    const sent = run(large.client, 'out', data)
    parentPort.postMessage({ ready: deflate.stats() })
    if (mode === 'exit') {
      setImmediate(() => process.exit(0))
      return sent
    }
    if (mode === 'natural') {
      const wire = await sent
      const back = await run(large.server, 'in', wire.data)
      if (!back.data.equals(data)) throw new Error('the large message differs')
      return deflate.stats()
    }
    return sent
  }
}

scenarios[workerData.scenario](workerData).then(
  (result) => parentPort.postMessage({ result }),
  (error) => parentPort.postMessage({ error: error.stack || String(error) })
)
