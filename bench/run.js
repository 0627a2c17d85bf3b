#!/usr/bin/env node
'use strict'
// `npm run bench`: this package against websocket-extensions 0.2.0 (with
// permessage-deflate 0.1.7) and ws 8's PerMessageDeflate, side by side in
// one run. Every figure is measured in rounds; within a round the
// implementations take turns, in a rotating order, after one warm-up round
// that is not counted. Results go to bench/results.md, bench/results.json
// and bench/throughput.svg.
//
//   npm run bench                      five rounds, three to four minutes on 2 cores
//   npm run bench -- --quick           two rounds, smaller samples, under a minute
//   npm run bench -- --rounds=9
//   npm run bench -- --only=roundtrip,burst   some sections only (no files written)
//
// Sections: pipeline, rsv, handshake, roundtrip (with the Rust codec as the
// limit, unless --no-codec), burst.

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

const PLAN = quick
  ? { pipeline: 100000, pipelineAsync: 30000, rsv: 1000000, handshake: 3000, burstPairs: 5000, sizes: [[128, 3000], [4096, 800], [65536, 80], [1048576, 8]] }
  : { pipeline: 500000, pipelineAsync: 100000, rsv: 5000000, handshake: 20000, burstPairs: 5000, sizes: [[128, 20000], [4096, 4000], [65536, 400], [1048576, 32]] }
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
    const impls = codec ? [...DEFLATE_IMPLS, 'codec'] : DEFLATE_IMPLS
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
    for (const impl of DEFLATE_IMPLS) {
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
    if (want('burst')) results.figures.burst = await burstSection()
  } finally {
    if (codec) codec.dispose()
  }
  meta.machine.loadEnd = os.loadavg().map((x) => +x.toFixed(2))
  meta.seconds = Math.round((Date.now() - started) / 1000)
  results.targets = report.targets(results.figures)
  console.log('\n' + report.summary(results))
  if (only === null) {
    report.write(results)
    log('wrote bench/results.md, bench/results.json and bench/throughput.svg')
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
