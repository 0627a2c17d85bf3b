#!/usr/bin/env node
'use strict'
// `npm run bench`: this package against websocket-extensions 0.2.0 (with
// permessage-deflate 0.1.7) and ws 8's PerMessageDeflate, side by side in
// one run. Every figure is measured in rounds; within a round the
// implementations take turns, in a rotating order, after one warm-up round
// that is not counted. Results go to bench/results.md, bench/results.json
// and bench/throughput.svg.
//
//   npm run bench                      five rounds, about seven and a half minutes on 2 cores
//                                      (about 4.5 for the sections of issue 5, 3 for issue 10's)
//   npm run bench -- --quick           two rounds, smaller samples, about two minutes
//   npm run bench -- --rounds=9
//   npm run bench -- --only=roundtrip,burst   some sections only (no files written)
//   npm run bench -- --out=/tmp/b      write the files there (also with --only)
//   npm run bench -- --baseline=/tmp/wsx-baseline   (or WSX_BASELINE=...) another
//       checkout of this package, built, takes part in the deflate round trips
//       as 'baseline': this code against that one (issue 10's 5% and 1% checks)
//   npm run bench -- --memory-pairs=1000,5000,20000   the memory section's sizes
//       (default 1000,5000; the peers need about 10 GiB and minutes at 20,000)
//
// Sections: pipeline, rsv, handshake, roundtrip (with the Rust codec as the
// limit, unless --no-codec), rotation, echo, wakeup, burst, memory. The
// memory section also writes bench/memory.svg.

const { spawnSync } = require('child_process')

// gc() between samples keeps one sample's garbage out of the next one's time.
if (typeof global.gc !== 'function') {
  const result = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, __filename, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(result.status === null ? 1 : result.status)
}

const os = require('os')
const corpus = require('./corpus')
const micro = require('./micro')
const { roundTrip } = require('./roundtrip')
const { burst } = require('./burst')
const { CodecBench } = require('./codec')
const { rotation, echo, wakeup } = require('./rotation')
const memory = require('./memory')
const { PAIRS, CONTAINERS, DEFLATE, NEVER_REST, addBaseline } = require('./impls')
const report = require('./report')
const { summarize, num } = require('./stats')

const args = process.argv.slice(2)
const option = (name) => {
  const arg = args.find((a) => a === '--' + name || a.startsWith('--' + name + '='))
  return arg === undefined ? undefined : arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : true
}
const quick = option('quick') === true
const rounds = Number(option('rounds') || (quick ? 2 : 5))
const only = option('only') ? String(option('only')).split(',') : null
const withCodec = option('no-codec') === undefined
const baselineDir = option('baseline') || process.env.WSX_BASELINE || null
const baseline = baselineDir ? addBaseline(baselineDir) : null

const PLAN = quick
  ? { pipeline: 100000, pipelineAsync: 30000, rsv: 1000000, handshake: 3000, burstPairs: 5000, sizes: [[128, 3000], [4096, 800], [65536, 80], [1048576, 8]], rotation: 600, echo: 600, wakePairs: 200, memoryPairs: [1000] }
  : { pipeline: 500000, pipelineAsync: 100000, rsv: 5000000, handshake: 20000, burstPairs: 5000, sizes: [[128, 20000], [4096, 4000], [65536, 400], [1048576, 32]], rotation: 2000, echo: 1000, wakePairs: 1000, memoryPairs: [1000, 5000] }
if (option('memory-pairs')) PLAN.memoryPairs = String(option('memory-pairs')).split(',').map(Number)
const ROTATION_PAIRS = [1, 100, 1000]
const ECHO_CONNECTIONS = [1, 200]
// The sessions-taking-turns sections: this package at its defaults, this
// package with nothing ever resting, and both peers.
const TURN_IMPLS = ['ours', 'ours-live', 'original', 'ws']
const BURST_SIZE = 4096
const BURST_SEED = 7
const CONTAINER_IMPLS = ['ours', 'original']
const DEFLATE_IMPLS = ['ours', 'original', 'ws']

const started = Date.now()
const log = (line) => console.log('[' + ((Date.now() - started) / 1000).toFixed(0).padStart(4) + ' s] ' + line)

// Before each sample: a GC, so that the previous sample's garbage is not
// collected on this one's time, and a turn of the event loop, so that the
// finalizers it queues (napi objects, external buffers) run now. A forced
// full GC leaves V8 in a state where the next tens of milliseconds of
// allocation cost more (the original's handshake measured 2.5x slower right
// after one), so each sample is preceded by an untimed stretch of the same
// work (`rewarm`) that brings the heap back to its steady state.
async function settle () {
  for (let i = 0; i < 2; i++) {
    global.gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

const REWARM_MS = 100

function rotate (list, by) {
  const k = by % list.length
  return list.slice(k).concat(list.slice(0, k))
}

// Runs `sample(impl, warmup)` for each implementation in turn, round after
// round; round 0 warms up and is not kept. A sample returns
// { value, show }: the number kept and what the progress line prints.
// `rewarm(impl)`, if given, runs untimed between the GC and the sample.
async function alternate (label, impls, sample, rewarm) {
  const kept = Object.fromEntries(impls.map((impl) => [impl, []]))
  for (let round = 0; round <= rounds; round++) {
    const shown = []
    for (const impl of rotate(impls, round)) {
      await settle()
      if (rewarm) await rewarm(impl)
      const result = await sample(impl, round === 0)
      if (round > 0) kept[impl].push(result)
      shown.push(impl + ' ' + result.show)
    }
    log(label + ', ' + (round === 0 ? 'warm-up' : 'round ' + round + '/' + rounds) + ': ' + shown.join(' | '))
  }
  return kept
}

const values = (list) => summarize(list.map((r) => r.value))

async function containerFigure (id, label, unit, run) {
  const sample = async (impl) => {
    const value = await run(impl)
    return { value, show: num(value) + ' ' + unit }
  }
  const rewarm = async (impl) => {
    const end = Date.now() + REWARM_MS
    do await run(impl)
    while (Date.now() < end)
  }
  const kept = await alternate(label, CONTAINER_IMPLS, sample, rewarm)
  return { id, label, unit, impls: { ours: values(kept.ours), original: values(kept.original) } }
}

async function pipelineSection () {
  const figures = []
  for (const sessions of [1, 3]) {
    for (const direction of ['outgoing', 'incoming']) {
      const label = 'pipeline, ' + sessions + ' sync session' + (sessions > 1 ? 's' : '') + ', ' + direction
      figures.push(await containerFigure('pipeline-sync-' + sessions + '-' + direction, label, 'ns/message',
        (impl) => micro.pipelineSync(impl, sessions, direction, PLAN.pipeline)))
    }
  }
  figures.push(await containerFigure('pipeline-async-3-outgoing', 'pipeline, 3 sessions answering on a microtask, outgoing', 'ns/message',
    (impl) => micro.pipelineAsync(impl, 3, 'outgoing', PLAN.pipelineAsync)))
  return figures
}

async function rsvSection () {
  return [await containerFigure('valid-frame-rsv', 'validFrameRsv (permessage-deflate active)', 'ns/call',
    (impl) => micro.validFrameRsv(impl, PLAN.rsv))]
}

async function handshakeSection () {
  return [
    await containerFigure('handshake', 'server handshake with deflate (new, add, generateResponse, close)', 'ns/handshake',
      (impl) => micro.handshake(impl, PLAN.handshake)),
    await containerFigure('handshake-message', 'server handshake with deflate, one message each way, close', 'ns/connection',
      (impl) => micro.handshakeMessage(impl, PLAN.handshake / 4)),
    await containerFigure('handshake-plain', 'server handshake with no extension (new, generateResponse, close)', 'ns/handshake',
      (impl) => micro.handshakePlain(impl, PLAN.handshake * 10))
  ]
}

function corpora () {
  return PLAN.sizes.map(([size, count]) => {
    const messages = corpus.messages(size, count, size)
    const bytes = messages.reduce((n, m) => n + m.length, 0)
    return { size, messages, bytes }
  })
}

// The deflate round trip at each size, with the Rust codec taking its turn
// in every round as the limit.
async function roundtripSection (sets, codec) {
  const rows = []
  for (const { size, messages, bytes } of sets) {
    const label = 'deflate round trip, ' + report.sizeLabel(size) + ' x ' + messages.length
    const deflateImpls = baseline ? [...DEFLATE_IMPLS, 'baseline'] : DEFLATE_IMPLS
    const impls = codec ? [...deflateImpls, 'codec'] : deflateImpls
    const kept = await alternate(label, impls, async (impl, warmup) => {
      if (impl === 'codec') {
        const r = codec.round(size)
        return { value: r.flate2.mbPerSecond, core: r.core.mbPerSecond, wireBytes: r.flate2.wireBytes, coreWireBytes: r.core.wireBytes, show: num(r.flate2.mbPerSecond) + ' MB/s' }
      }
      const { ns, cpuUs, wireBytes } = await roundTrip(impl, messages, warmup)
      const mbPerSecond = bytes / ns * 1e3
      return { value: mbPerSecond, msgsPerSecond: messages.length / ns * 1e9, cpuUsPerMessage: cpuUs / messages.length, wireBytes, show: num(mbPerSecond) + ' MB/s' }
    }, async (impl) => {
      // An eighth of the messages, on a pair of its own.
      if (impl !== 'codec') await roundTrip(impl, messages.slice(0, Math.ceil(messages.length / 8)), false)
    })
    const row = { size, messages: messages.length, meanBytes: bytes / messages.length, bytes, impls: {} }
    for (const impl of deflateImpls) {
      const list = kept[impl]
      row.impls[impl] = {
        msgsPerSecond: summarize(list.map((r) => r.msgsPerSecond)),
        mbPerSecond: values(list),
        cpuUsPerMessage: summarize(list.map((r) => r.cpuUsPerMessage)),
        compression: bytes / list[0].wireBytes
      }
    }
    if (codec) {
      const list = kept.codec
      row.codec = {
        flate2: { mbPerSecond: values(list), compression: bytes / list[0].wireBytes },
        core: { mbPerSecond: summarize(list.map((r) => r.core)), compression: bytes / list[0].coreWireBytes }
      }
    }
    rows.push(row)
  }
  return rows
}

const meanBytes = (list) => list.reduce((n, m) => n + m.length, 0) / list.length

// Round trips of 100-byte JSON messages taken in turn across 1, 100 and
// 1,000 pairs (bench/rotation.js).
async function rotationSection () {
  const warm = corpus.messages(100, Math.max(...ROTATION_PAIRS), 11)
  const messages = corpus.messages(100, PLAN.rotation, 100)
  const rows = []
  for (const pairs of ROTATION_PAIRS) {
    const label = 'rotation, ' + messages.length + ' round trips across ' + pairs + ' pair' + (pairs > 1 ? 's' : '')
    const kept = await alternate(label, TURN_IMPLS, async (impl) => {
      const r = await rotation(PAIRS[impl], pairs, warm, messages)
      return { value: r.usPerTrip, cpuUs: r.cpuUsPerTrip, show: num(r.usPerTrip) + ' µs' }
    })
    const row = { pairs, messages: messages.length, meanBytes: meanBytes(messages), impls: {} }
    for (const impl of TURN_IMPLS) row.impls[impl] = { us: values(kept[impl]), cpuUs: summarize(kept[impl].map((r) => r.cpuUs)) }
    rows.push(row)
  }
  return rows
}

// The server side of an echo against ws 8 clients, at 1 and 200
// connections (bench/rotation.js).
async function echoSection () {
  const messages = corpus.messages(100, PLAN.echo, 200)
  const rows = []
  for (const connections of ECHO_CONNECTIONS) {
    const label = 'echo against ws clients, ' + messages.length + ' echoes across ' + connections + ' connection' + (connections > 1 ? 's' : '')
    const kept = await alternate(label, TURN_IMPLS, async (impl) => {
      const r = await echo(impl, connections, messages)
      return { value: r.serverUs, totalUs: r.totalUs, show: num(r.serverUs) + ' µs server, ' + num(r.totalUs) + ' µs in all' }
    })
    const row = { connections, messages: messages.length, meanBytes: meanBytes(messages), impls: {} }
    for (const impl of TURN_IMPLS) row.impls[impl] = { serverUs: values(kept[impl]), totalUs: summarize(kept[impl].map((r) => r.totalUs)) }
    rows.push(row)
  }
  return rows
}

// The first message after a session rested, against a session that stayed
// live, after a short and after a full-window history (bench/rotation.js).
async function wakeupSection () {
  const pairs = PLAN.wakePairs
  const messages = corpus.messages(100, pairs * 2, 300)
  const deflates = {
    rested: DEFLATE.ours.configure({ liveStates: 0 }),
    live: DEFLATE.ours.configure({ liveStates: NEVER_REST })
  }
  // The full-window history on half as many pairs: it is 64 KiB per pair
  // to compress before each sample.
  const histories = [
    { label: '3 messages of about 100 B each way', list: corpus.messages(100, 3, 21), pairs },
    { label: '32 KiB each way (8 messages of 4 KiB)', list: corpus.messages(4096, 8, 22), pairs: pairs / 2 }
  ]
  const rows = []
  for (const history of histories) {
    const pairs = history.pairs
    const label = 'wake-up, ' + pairs + ' pairs after ' + history.label
    const kept = await alternate(label, ['rested', 'live'], async (impl) => {
      const r = await wakeup(CONTAINERS.ours, deflates[impl], pairs, history.list, messages)
      return { value: r.totalUs, compressUs: r.compressUs, inflateUs: r.inflateUs, cpuUs: r.cpuUs, show: num(r.compressUs) + ' + ' + num(r.inflateUs) + ' µs' }
    })
    const row = { history: history.label, historyBytes: history.list.reduce((n, m) => n + m.length, 0), pairs, meanBytes: meanBytes(messages), impls: {} }
    for (const impl of ['rested', 'live']) {
      const list = kept[impl]
      row.impls[impl] = { totalUs: values(list), compressUs: summarize(list.map((r) => r.compressUs)), inflateUs: summarize(list.map((r) => r.inflateUs)), cpuUs: summarize(list.map((r) => r.cpuUs)) }
    }
    rows.push(row)
  }
  return rows
}

// KiB of RSS per idle pair (bench/memory.js): one child process per
// implementation and size, once (RSS is not a timing).
async function memorySection () {
  const rows = []
  for (const pairs of PLAN.memoryPairs) {
    const row = { pairs, impls: {} }
    const shown = []
    for (const impl of DEFLATE_IMPLS) {
      const r = memory.measure(impl, pairs)
      row.impls[impl] = { kibPerPair: r.kibPerPair, totalMiB: r.totalMiB, stats: r.stats }
      shown.push(impl + ' ' + num(r.kibPerPair) + ' KiB/pair (' + num(r.totalMiB) + ' MiB)')
    }
    log('memory per idle pair, ' + pairs + ' pairs: ' + shown.join(' | '))
    rows.push(row)
  }
  return rows
}

async function burstSection () {
  const impls = Object.fromEntries(DEFLATE_IMPLS.map((impl) => [impl, []]))
  for (let round = 1; round <= rounds; round++) {
    const shown = []
    for (const impl of rotate(DEFLATE_IMPLS, round)) {
      const r = await burst(impl, { pairs: PLAN.burstPairs, size: BURST_SIZE, seed: BURST_SEED })
      impls[impl].push(r)
      shown.push(impl + ' ' + num(r.burstNs / 1e6) + ' ms, ' + num(r.kibPerPair) + ' KiB/pair, kept ' + num(r.keptRss / 1048576) + ' MiB')
    }
    log('burst of ' + PLAN.burstPairs + ' pairs, round ' + round + '/' + rounds + ': ' + shown.join(' | '))
  }
  const summary = {}
  for (const impl of DEFLATE_IMPLS) {
    const list = impls[impl]
    summary[impl] = {
      timeMs: summarize(list.map((r) => r.burstNs / 1e6)),
      cpuMs: summarize(list.map((r) => r.burstCpuUs / 1e3)),
      kibPerPair: summarize(list.map((r) => r.kibPerPair)),
      keptMiB: summarize(list.map((r) => r.keptRss / 1048576)),
      connectMs: summarize(list.map((r) => r.connectNs / 1e6)),
      connectedKibPerPair: summarize(list.map((r) => r.connectedKibPerPair)),
      baseRssMiB: summarize(list.map((r) => r.baseRss / 1048576))
    }
  }
  return { pairs: PLAN.burstPairs, size: BURST_SIZE, impls: summary }
}

async function main () {
  const want = (name) => only === null || only.includes(name)
  const meta = report.machine({ rounds, quick })
  log('websocket-extensions-rs benchmark: ' + rounds + ' rounds' + (quick ? ' (quick)' : '') + ' on ' + meta.machine.cpu +
    ', ' + meta.machine.cores + ' cores, load ' + meta.machine.loadStart.join(' '))
  let codec = null
  if (want('roundtrip') && withCodec) {
    log('building the Rust codec bench (core/examples/codec_bench.rs)')
    codec = new CodecBench()
  }
  if (baseline) {
    meta.baseline = baseline
    log('baseline: ' + baseline.label + ' from ' + baseline.dir)
  }
  const results = { meta, figures: {} }
  try {
    if (want('pipeline')) results.figures.pipeline = await pipelineSection()
    if (want('rsv')) results.figures.rsv = await rsvSection()
    if (want('handshake')) results.figures.handshake = await handshakeSection()
    if (want('roundtrip')) {
      const sets = corpora()
      if (codec) for (const { size, messages } of sets) codec.add(size, messages)
      results.figures.roundtrip = await roundtripSection(sets, codec)
    }
    if (want('rotation')) results.figures.rotation = await rotationSection()
    if (want('echo')) results.figures.echo = await echoSection()
    if (want('wakeup')) results.figures.wakeup = await wakeupSection()
    if (want('burst')) results.figures.burst = await burstSection()
    if (want('memory')) results.figures.memory = await memorySection()
  } finally {
    if (codec) codec.dispose()
  }
  meta.machine.loadEnd = os.loadavg().map((x) => +x.toFixed(2))
  meta.seconds = Math.round((Date.now() - started) / 1000)
  results.targets = report.targets(results.figures)
  console.log('\n' + report.summary(results))
  const out = option('out')
  if (only === null || out) {
    const dir = out ? String(out) : __dirname
    require('fs').mkdirSync(dir, { recursive: true })
    report.write(results, dir)
    log('wrote results.md, results.json' + (results.figures.roundtrip ? ', throughput.svg' : '') + (results.figures.memory ? ', memory.svg' : '') + ' in ' + dir)
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
