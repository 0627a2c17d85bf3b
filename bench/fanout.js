'use strict'
// Fan-out in the shape of a server (issue 17): a server in its own process,
// ws 8 clients in another, on 127.0.0.1. N subscribers connect; a publisher
// sends messages of a given size, and the server sends each to every
// subscriber. Measured: the server's CPU time (process.cpuUsage: user and
// system, every thread) per delivered message, between the first publish
// and the last delivery. Each message is published once every subscriber
// has the one before, so the figure is the server's work per delivery, not
// its queueing. The server then waits, between two messages, for as long as
// the clients take to read one, which is longer when they inflate every
// message; --interval=ms publishes one message every `ms` instead, whatever
// the clients do, as publishers that do not wait for subscribers do, so
// that the server waits as long between messages in every mode.
//
// Servers and modes: bench/server-shape.js.
//
//   node bench/fanout.js [--subscribers=500,5000] [--sizes=100,600,16384]
//     [--impls=ours,original,ws] [--modes=default,nct,none] [--messages=100]
//     [--runs=1]        each configuration this many times, in turn; medians
//     [--interval=0]    milliseconds between two publishes (0: each once
//                       every subscriber has the one before)
//     [--budget=MiB]   (fewer messages where subscribers x size is large:
//                       at most this much is delivered per configuration)
//     [--ours-options='{"liveStates":100000}']  options of this package's
//                       deflate, for every mode
//     [--base=DIR]      a checkout of this package built in DIR, as the
//                       implementation `base` (--impls=base,ours): before
//                       and after a change, side by side in one run

const { LABELS, MODES, options, serve, measure, connect, median } = require('./server-shape')

const args = process.argv.slice(2)
const { option, list } = options(args)

// The published messages: JSON chat and market events of about `size`
// bytes from the benchmark's corpus (no two alike, as bench/corpus.js
// explains), wrapped as faye's pub/sub server sends them
// (JSON.stringify([message])).
function payloads (size, count) {
  const corpus = require('./corpus')
  return corpus.messages(size, count, size).map((m) => '[' + m.toString() + ']')
}

// ---------------------------------------------------------------- server
function server (impl, mode) {
  const sockets = new Set()
  let mark = null
  serve(impl, mode, (from, send) => {
    sockets.add(from)
    return {
      message (text) {
        const kind = text[0]
        if (kind === 'R') {
          mark = process.cpuUsage()
          send(from, 'ok')
        } else if (kind === 'S') {
          const used = process.cpuUsage(mark)
          send(from, JSON.stringify({ cpuUs: used.user + used.system, rss: process.memoryUsage().rss }))
        } else if (kind === 'P') {
          const body = text.slice(1)
          for (const socket of sockets) if (socket !== from) send(socket, body)
        }
      },
      close () {
        sockets.delete(from)
      }
    }
  })
}

// --------------------------------------------------------------- clients
async function clients (port, subscribers, messages, size, mode, interval) {
  const perMessageDeflate = mode !== 'none'
  const open = (options) => connect(port, options)
  const subs = []
  for (let i = 0; i < subscribers; i += 100) {
    const batch = []
    for (let k = i; k < Math.min(subscribers, i + 100); k++) batch.push(open({ perMessageDeflate }))
    subs.push(...await Promise.all(batch))
  }
  const publisher = await open({ perMessageDeflate: false })
  const answer = () => new Promise((resolve) => publisher.once('message', (data) => resolve(data.toString())))
  let waiting = null
  let left = 0
  for (const ws of subs) {
    ws.on('message', () => {
      if (--left === 0 && waiting) waiting()
    })
  }
  const publish = (text) => new Promise((resolve) => {
    left = subscribers
    waiting = resolve
    publisher.send('P' + text)
  })
  // --interval: every message on a timer; done once all are delivered.
  const publishPaced = (list) => new Promise((resolve) => {
    left = subscribers * list.length
    waiting = resolve
    list.forEach((text, i) => setTimeout(() => publisher.send('P' + text), i * interval))
  })
  const texts = payloads(size, messages + 3)
  // Warm-up: a few messages, not counted.
  for (let i = 0; i < 3; i++) await publish(texts[messages + i])
  publisher.send('R')
  await answer()
  const start = process.hrtime.bigint()
  if (interval > 0) await publishPaced(texts.slice(0, messages))
  else for (let i = 0; i < messages; i++) await publish(texts[i])
  const wallNs = Number(process.hrtime.bigint() - start)
  publisher.send('S')
  const stats = JSON.parse(await answer())
  for (const ws of [...subs, publisher]) ws.terminate()
  return { cpuUsPerDelivery: stats.cpuUs / (messages * subscribers), wallMs: wallNs / 1e6, serverRss: stats.rss }
}

async function main () {
  const subscribers = list('subscribers', '500').map(Number)
  const sizes = list('sizes', '100,600,16384').map(Number)
  const impls = list('impls', 'ours,original,ws')
  const modes = list('modes', 'default,nct,none')
  const most = Number(option('messages', 100))
  const budget = Number(option('budget', 256)) * 1048576
  const runs = Number(option('runs', 1))
  const interval = Number(option('interval', 0))
  console.log('Fan-out: server CPU µs per delivered message (user + system, all threads), server and clients in separate processes on 127.0.0.1; ' +
    (interval > 0 ? 'one publish every ' + interval + ' ms' : 'each message published once every subscriber has the one before'))
  for (const n of subscribers) {
    for (const size of sizes) {
      const messages = Math.max(3, Math.min(most, Math.floor(budget / (n * size))))
      console.log(`\n${n} subscribers, ${size} B messages, ${messages} published\n`)
      // --runs=N: every configuration N times, in turn (a change in the
      // machine's load falls on all of them), and the median of each.
      const results = new Map()
      for (let run = 0; run < runs; run++) {
        for (const impl of impls) {
          for (const mode of modes) {
            const r = await measure(__filename, option, impl, mode, [n, messages, size, mode, interval])
            const key = impl + ' ' + mode
            if (!results.has(key)) results.set(key, [])
            results.get(key).push(r.cpuUsPerDelivery)
          }
        }
      }
      if (runs > 1) console.log(`Medians of ${runs} runs.\n`)
      console.log('| server | ' + modes.map((m) => MODES[m]).join(' | ') + ' |')
      console.log('| --- |' + modes.map(() => ' --- |').join(''))
      for (const impl of impls) {
        const cells = modes.map((mode) => median(results.get(impl + ' ' + mode)).toFixed(1))
        console.log(`| ${LABELS[impl]} | ${cells.join(' | ')} |`)
      }
    }
  }
}

if (require.main === module) {
  if (args[0] === '--server') server(args[1], args[2])
  else if (args[0] === '--clients') {
    clients(Number(args[1]), Number(args[2]), Number(args[3]), Number(args[4]), args[5], Number(args[6] || 0)).then(
      (result) => { process.stdout.write(JSON.stringify(result)) },
      (error) => { console.error(error); process.exit(1) })
  } else {
    main().catch((error) => { console.error(error); process.exit(1) })
  }
}

module.exports = { payloads }
