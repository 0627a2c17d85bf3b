'use strict'
// An echo server in the shape of a real one (issue 17): the server in its
// own process, ws 8 clients in another, on 127.0.0.1. N clients connect with
// permessage-deflate offered; each then sends a JSON event of about `size`
// bytes `rate` times a second, spread evenly over the second (client i
// starts at i/N of it), and the server echoes every message. So each
// message finds its session's state as a server with many connections
// would: cold, or resting, not hot as in a loop.
//
// Measured over `seconds` after a warm-up (every client has had an echo):
// the server's CPU time (process.cpuUsage: user and system, every thread)
// per echoed message, and the server's RSS growth per connection (RSS at
// the end minus RSS before the first connection, divided by N). Every echo
// is checked against what was sent.
//
// Servers and modes: bench/server-shape.js.
//
//   node bench/echo.js [--connections=1000] [--seconds=30] [--rate=1]
//     [--size=150] [--impls=ours,original,ws] [--modes=default,none]
//     [--runs=1]        each configuration this many times, in turn; medians
//     [--warmup=1]      messages each client sends (and has echoed) before
//                       the measured run: 60 gives every session 9 KB of
//                       history, as a connection a minute old has
//     [--ours-options='{"liveStates":100000}']  options of this package's
//                       deflate, for every mode
//     [--base=DIR]      a checkout of this package built in DIR, as the
//                       implementation `base` (--impls=base,ours): before
//                       and after a change, side by side in one run

const { LABELS, MODES, options, serve, measure, connect, median } = require('./server-shape')

const args = process.argv.slice(2)
const { option, list } = options(args)

// ---------------------------------------------------------------- server
function server (impl, mode) {
  const baseRss = process.memoryUsage().rss
  let mark = null
  let echoed = 0
  serve(impl, mode, (from, send) => ({
    message (text) {
      if (text === 'R') {
        mark = process.cpuUsage()
        echoed = 0
        send(from, 'ok')
      } else if (text === 'S') {
        const used = process.cpuUsage(mark)
        send(from, JSON.stringify({ cpuUs: used.user + used.system, echoed, rss: process.memoryUsage().rss, baseRss }))
      } else {
        echoed++
        send(from, text)
      }
    }
  }))
}

// --------------------------------------------------------------- clients
async function clients (port, connections, seconds, rate, size, mode, warmup) {
  const corpus = require('./corpus')
  const open = () => connect(port, { perMessageDeflate: mode !== 'none' })
  const socks = []
  for (let i = 0; i < connections; i += 100) {
    const batch = []
    for (let k = i; k < Math.min(connections, i + 100); k++) batch.push(open())
    socks.push(...await Promise.all(batch))
  }
  const control = await open()
  const answer = () => new Promise((resolve) => control.once('message', (data) => resolve(data.toString())))

  // Distinct messages: each client sends its own slice of the corpus.
  const perClient = Math.ceil((seconds + 2) * rate) + warmup
  const texts = corpus.messages(size, connections * perClient, size).map(String)
  let wrong = 0
  let received = 0
  const pending = socks.map(() => [])
  socks.forEach((ws, i) => {
    ws.on('message', (data) => {
      received++
      if (data.toString() !== pending[i].shift()) wrong++
    })
  })
  const sent = new Array(connections).fill(0)
  const send = (i) => {
    const text = texts[i * perClient + (sent[i]++ % perClient)]
    pending[i].push(text)
    socks[i].send(text)
  }
  const drained = () => new Promise((resolve) => {
    const check = () => pending.every((p) => p.length === 0) ? resolve() : setTimeout(check, 5)
    check()
  })

  // Warm-up: every client sends `warmup` times and has its echoes.
  for (let round = 0; round < warmup; round++) {
    for (let i = 0; i < connections; i++) send(i)
    await drained()
  }

  // The run: client i is due at i / (connections * rate) s into each period.
  control.send('R')
  await answer()
  const period = 1000 / rate
  const start = performance.now()
  const due = socks.map((_, i) => start + (i / connections) * period)
  const end = start + seconds * 1000
  let count = 0
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now()
      for (let i = 0; i < connections; i++) {
        if (due[i] <= now && due[i] < end) {
          send(i)
          count++
          due[i] += period
        }
      }
      if (now < end) setTimeout(tick, 2)
      else resolve()
    }
    tick()
  })
  await drained()
  control.send('S')
  const stats = JSON.parse(await answer())
  for (const ws of [...socks, control]) ws.terminate()
  return {
    cpuUsPerMessage: stats.cpuUs / stats.echoed,
    echoed: stats.echoed,
    sent: count,
    received,
    wrong,
    rssKiBPerConnection: (stats.rss - stats.baseRss) / 1024 / connections
  }
}

async function main () {
  const connections = Number(option('connections', 1000))
  const seconds = Number(option('seconds', 30))
  const rate = Number(option('rate', 1))
  const size = Number(option('size', 150))
  const impls = list('impls', 'ours,original,ws')
  const modes = list('modes', 'default,none')
  const oursOptions = option('ours-options', '{}')
  const warmup = Number(option('warmup', 1))
  console.log(`Echo: ${connections} connections, each sending a ${size} B JSON event ${rate}/s for ${seconds} s; ` +
    'server CPU µs per echoed message (user + system, all threads) / KiB of server RSS per connection; ' +
    'server and clients in separate processes on 127.0.0.1' +
    (warmup !== 1 ? `; each client sent ${warmup} messages before the run` : '') + (oursOptions !== '{}' ? `; this package's deflate with ${oursOptions}` : ''))
  // --runs=N: every configuration N times, in turn (so that a change in
  // the machine's load falls on all of them), and the median of each.
  const runs = Number(option('runs', 1))
  const results = new Map()
  for (let run = 0; run < runs; run++) {
    for (const impl of impls) {
      for (const mode of modes) {
        const r = await measure(__filename, option, impl, mode, [connections, seconds, rate, size, mode, warmup])
        if (r.wrong !== 0 || r.echoed !== r.sent) {
          throw new Error(`${impl} ${mode}: ${r.wrong} wrong echoes, ${r.echoed} echoed of ${r.sent} sent`)
        }
        const key = impl + ' ' + mode
        if (!results.has(key)) results.set(key, [])
        results.get(key).push(r)
        if (runs > 1) console.error(`run ${run + 1}: ${key} ${r.cpuUsPerMessage.toFixed(1)} µs`)
      }
    }
  }
  console.log(runs > 1 ? `\nMedians of ${runs} runs.` : '')
  console.log('\n| server | ' + modes.map((m) => MODES[m]).join(' | ') + ' |')
  console.log('| --- |' + modes.map(() => ' --- |').join(''))
  for (const impl of impls) {
    const cells = modes.map((mode) => {
      const rs = results.get(impl + ' ' + mode)
      const cpu = median(rs.map((r) => r.cpuUsPerMessage))
      const rss = median(rs.map((r) => r.rssKiBPerConnection))
      return `${cpu.toFixed(1)} µs / ${Math.round(rss)} KiB`
    })
    console.log(`| ${LABELS[impl]} | ${cells.join(' | ')} |`)
  }
}

if (require.main === module) {
  if (args[0] === '--server') server(args[1], args[2])
  else if (args[0] === '--clients') {
    const [port, connections, seconds, rate, size] = args.slice(1, 6).map(Number)
    clients(port, connections, seconds, rate, size, args[6], Number(args[7] || 1)).then(
      (result) => { process.stdout.write(JSON.stringify(result)) },
      (error) => { console.error(error); process.exit(1) })
  } else {
    main().catch((error) => { console.error(error); process.exit(1) })
  }
}
