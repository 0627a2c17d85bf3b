'use strict'
// The deflate round trip: on a fresh connected pair, the client compresses
// each message and the server decompresses it, one message after another, as
// one connection does. The next message goes in once the previous one has
// come out, so every implementation does the same serial work (and the Rust
// codec bench, which runs the same loop, is a fair limit).

const { PAIRS } = require('./impls')

const now = process.hrtime.bigint

// Resolves to { ns, cpuUs, wireBytes } once every message has come back
// out; cpuUs is the CPU time of the whole process, all threads, so that the
// zlib work the peers do on libuv's thread pool counts too. With
// `verify`, each output is compared with its input byte for byte (done in
// the warm-up round, outside the timed rounds); otherwise only its length.
function roundTrip (impl, messages, verify) {
  const pair = PAIRS[impl]()
  return new Promise((resolve, reject) => {
    let next = 0
    let wireBytes = 0
    let running = false
    let again = false
    let start = 0n
    let cpu = null

    function received (error, data, wireLength) {
      const sent = messages[next - 1]
      if (error) return reject(error)
      if (data.length !== sent.length || (verify && !data.equals(sent))) {
        return reject(new Error(impl + ': message ' + (next - 1) + ' came back changed'))
      }
      wireBytes += wireLength
      send()
    }

    // A loop rather than recursion: an implementation that answers
    // synchronously calls `received` from inside `pair.send`.
    function send () {
      if (running) {
        again = true
        return
      }
      running = true
      do {
        again = false
        if (next === messages.length) {
          running = false
          const ns = Number(now() - start)
          const { user, system } = process.cpuUsage(cpu)
          pair.close(() => resolve({ ns, cpuUs: user + system, wireBytes }))
          return
        }
        pair.send(messages[next++], received)
      } while (again)
      running = false
    }

    cpu = process.cpuUsage()
    start = now()
    send()
  })
}

module.exports = { roundTrip }
