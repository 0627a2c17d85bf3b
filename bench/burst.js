'use strict'
// The burst: many connection pairs, each sending one message at once, as a
// server sees when a room of clients all speak. Each implementation runs in
// a fresh child process (started with --expose-gc), so that one's heap,
// allocator state and zlib memory cannot colour another's figures.
//
// As a child: node --expose-gc bench/burst.js IMPL PAIRS SIZE SEED
// prints one JSON line. As a module: burst(impl, options) runs that child.

const { spawn } = require('child_process')

const now = process.hrtime.bigint
const KIB = 1024

function rss () {
  global.gc()
  return process.memoryUsage().rss
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function child (impl, count, size, seed) {
  const { PAIRS } = require('./impls')
  const corpus = require('./corpus')
  const messages = corpus.messages(size, count, seed)
  const bytes = messages.reduce((n, m) => n + m.length, 0)
  // Everything loaded and the corpus made: what is left is the pairs' cost.
  await sleep(50)
  const base = rss()

  let start = now()
  let pairs = []
  for (let i = 0; i < count; i++) pairs.push(PAIRS[impl]())
  const connectNs = Number(now() - start)
  // Read without a GC: a forced GC right before the timed burst would slow
  // down its allocations (see settle() in run.js).
  const connected = process.memoryUsage().rss

  const cpu = process.cpuUsage()
  start = now()
  await new Promise((resolve, reject) => {
    let left = count
    for (let i = 0; i < count; i++) {
      pairs[i].send(messages[i], (error, data) => {
        if (error) return reject(error)
        if (!data.equals(messages[i])) return reject(new Error('message ' + i + ' came back changed'))
        if (--left === 0) resolve()
      })
    }
  })
  const burstNs = Number(now() - start)
  const { user, system } = process.cpuUsage(cpu)
  const open = rss()

  await Promise.all(pairs.map((pair) => new Promise((resolve) => pair.close(resolve))))
  pairs = null
  rss()
  await sleep(1000)
  const closed = rss()

  return {
    impl,
    pairs: count,
    bytes,
    connectNs,
    burstNs,
    burstCpuUs: user + system,
    baseRss: base,
    connectedKibPerPair: (connected - base) / KIB / count,
    kibPerPair: (open - base) / KIB / count,
    keptRss: closed - base
  }
}

// Runs one implementation's burst in a fresh process.
function burst (impl, { pairs, size, seed }) {
  return new Promise((resolve, reject) => {
    const args = ['--expose-gc', __filename, impl, String(pairs), String(size), String(seed)]
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    proc.stdout.on('data', (chunk) => { out += chunk })
    proc.on('error', reject)
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(impl + ' burst exited with code ' + code))
      resolve(JSON.parse(out))
    })
  })
}

if (require.main === module) {
  const [impl, pairs, size, seed] = process.argv.slice(2)
  child(impl, Number(pairs), Number(size), Number(seed)).then(
    (result) => process.stdout.write(JSON.stringify(result) + '\n'),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}

module.exports = { burst }
