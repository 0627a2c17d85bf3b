'use strict'
// Many sessions taking turns (issue 10): the shape of a real server, where
// each message finds its session's state cold.
//
// - rotation: N connected pairs; round trip i (the client compresses a
//   100-byte JSON message, the server decompresses it) goes to pair i mod N.
// - echo: N ws 8 PerMessageDeflate clients against a server end (our
//   container, the original's, or ws's PerMessageDeflate); the client
//   compresses, the server inflates and deflates the same message back, the
//   client inflates it. The server's part is timed on its own: from each of
//   its two calls (processIncomingMessage, processOutgoingMessage; for ws,
//   decompress and compress) to that call's callback, so a peer's hand-off to
//   libuv's thread pool and back counts, as it does in a server.
// - wake-up: N pairs of this package after some history each way; then one
//   message each way per pair, with every session resting before it
//   (liveStates 0) or with every session live (liveStates large). The
//   compressing and the inflating call are timed apart.
//
// Every loop is serial: the next message goes in once the previous one has
// come out, as in bench/roundtrip.js.

const { containerPairWith, frame, PerMessageDeflate, wsExtension, CONTAINERS, DEFLATE } = require('./impls')

const now = process.hrtime.bigint

// Calls step(i, done) for i = 0 .. n-1, one after another; step may call
// done synchronously. Resolves once the last one is done.
function serial (n, step) {
  return new Promise((resolve, reject) => {
    let i = 0
    let running = false
    let again = false
    const done = (error) => {
      if (error) return reject(error)
      next()
    }
    // A loop rather than recursion, for steps that finish synchronously.
    function next () {
      if (running) {
        again = true
        return
      }
      running = true
      do {
        again = false
        if (i === n) {
          running = false
          return resolve()
        }
        step(i++, done)
      } while (again)
      running = false
    }
    next()
  })
}

const closeAll = (pairs) => Promise.all(pairs.map((pair) => new Promise((resolve) => pair.close(resolve))))

// Round trips across `count` pairs made by makePair() (impls.PAIRS[x]): one
// untimed message through each pair first (from `warm`), then `messages`
// in turn. Resolves to { usPerTrip, cpuUsPerTrip } (CPU of all threads).
async function rotation (makePair, count, warm, messages) {
  const pairs = []
  for (let i = 0; i < count; i++) pairs.push(makePair())
  const trip = (list) => (i, done) => {
    const sent = list[i]
    pairs[i % count].send(sent, (error, data) => {
      if (error) return done(error)
      if (data.length !== sent.length) return done(new Error('message ' + i + ' came back changed'))
      done()
    })
  }
  await serial(count, trip(warm))
  const cpu = process.cpuUsage()
  const start = now()
  await serial(messages.length, trip(messages))
  const ns = Number(now() - start)
  const { user, system } = process.cpuUsage(cpu)
  await closeAll(pairs)
  return { usPerTrip: ns / 1e3 / messages.length, cpuUsPerTrip: (user + system) / messages.length }
}

// A server end for a ws client: `incoming(wire, done(error, data))` and
// `outgoing(data, done(error, wire, compressed))`.
function echoServer (impl, offer) {
  if (impl === 'ws') {
    const server = new PerMessageDeflate({ isServer: true })
    server.accept(wsExtension.parse(offer)[PerMessageDeflate.extensionName])
    return {
      response: wsExtension.format({ [PerMessageDeflate.extensionName]: server.params }),
      incoming: (wire, done) => server.decompress(wire, true, done),
      outgoing: (data, done) => server.compress(data, true, (error, wire) => done(error, wire, true)),
      close: () => server.cleanup()
    }
  }
  const server = new CONTAINERS[impl]()
  server.add(DEFLATE[impl])
  return {
    response: server.generateResponse(offer),
    incoming: (wire, done) => server.processIncomingMessage(frame(wire, true), (error, m) => done(error, m && m.data)),
    outgoing: (data, done) => server.processOutgoingMessage(frame(data, false), (error, m) => done(error, m && m.data, m && m.rsv1)),
    close: () => server.close(() => {})
  }
}

// Echoes of `messages` (message i on connection i mod count) from ws
// clients through `impl`'s server ends. Resolves to { serverUs, totalUs }
// per echo: the server's two calls, and the whole echo.
async function echo (impl, count, messages) {
  const conns = []
  for (let i = 0; i < count; i++) {
    const client = new PerMessageDeflate({})
    const offer = wsExtension.format({ [PerMessageDeflate.extensionName]: client.offer() })
    const server = echoServer(impl, offer)
    client.accept(wsExtension.parse(server.response)[PerMessageDeflate.extensionName])
    conns.push({ client, server })
  }
  let serverNs = 0
  const step = (list) => (i, done) => {
    const sent = list[i]
    const { client, server } = conns[i % count]
    client.compress(sent, true, (error, wire) => {
      if (error) return done(error)
      const t0 = now()
      server.incoming(wire, (error, data) => {
        const t1 = now()
        if (error) return done(error)
        server.outgoing(data, (error, reply, compressed) => {
          serverNs += Number(now() - t1) + Number(t1 - t0)
          if (error) return done(error)
          const check = (error, back) => {
            if (error) return done(error)
            if (back.length !== sent.length) return done(new Error(impl + ': echo ' + i + ' came back changed'))
            done()
          }
          if (compressed) client.decompress(reply, true, check)
          else check(null, reply)
        })
      })
    })
  }
  // One untimed echo per connection, from the first `count` messages.
  await serial(count, step(messages))
  serverNs = 0
  const start = now()
  await serial(messages.length, step(messages))
  const totalNs = Number(now() - start)
  for (const { client, server } of conns) {
    client.cleanup()
    server.close()
  }
  return { serverUs: serverNs / 1e3 / messages.length, totalUs: totalNs / 1e3 / messages.length }
}

// `count` pairs of this package with `deflate`; each sends `history` up
// and down (untimed), then one message of `messages` each way per pair,
// timed. Resolves to µs per message: { compressUs, inflateUs, totalUs,
// cpuUs } (cpuUs: CPU time of the whole timed pass, all threads).
async function wakeup (Extensions, deflate, count, history, messages) {
  const pairs = []
  for (let i = 0; i < count; i++) pairs.push(containerPairWith(Extensions, deflate))
  const pass = (from, to, data, timed, done) => {
    const t0 = now()
    from.processOutgoingMessage(frame(data, false), (error, out) => {
      const t1 = now()
      if (error) return done(error)
      to.processIncomingMessage(frame(out.data, out.rsv1), (error, message) => {
        const t2 = now()
        if (error) return done(error)
        if (message.data.length !== data.length) return done(new Error('a message came back changed'))
        if (timed) {
          timed.compress += Number(t1 - t0)
          timed.inflate += Number(t2 - t1)
        }
        done()
      })
    })
  }
  const per = history.length
  await serial(count * per * 2, (k, done) => {
    const pair = pairs[Math.floor(k / (per * 2))]
    const m = history[(k >> 1) % per]
    if (k % 2 === 0) pass(pair.client, pair.server, m, null, done)
    else pass(pair.server, pair.client, m, null, done)
  })
  const timed = { compress: 0, inflate: 0 }
  const cpu = process.cpuUsage()
  // Up through every pair, then down through every pair: by the time a
  // session's turn comes, every other pair has worked since it last did.
  await serial(count * 2, (k, done) => {
    const up = k < count
    const pair = pairs[k % count]
    const m = messages[k]
    if (up) pass(pair.client, pair.server, m, timed, done)
    else pass(pair.server, pair.client, m, timed, done)
  })
  const { user, system } = process.cpuUsage(cpu)
  await closeAll(pairs)
  const n = count * 2
  return { compressUs: timed.compress / 1e3 / n, inflateUs: timed.inflate / 1e3 / n, totalUs: (timed.compress + timed.inflate) / 1e3 / n, cpuUs: (user + system) / n }
}

module.exports = { rotation, echo, wakeup, serial }
