#!/usr/bin/env node
'use strict'
// Issue 10's 5% check in instructions rather than time, for a machine that
// is busy: this code against another built checkout of this package (as
// bench/run.js --baseline takes it), in the deflate round trip at 128 B,
// 4 KiB, 64 KiB and 1 MiB. Each figure is a valgrind (callgrind) count of
// instructions, all threads, of a process that makes one pair and runs the
// round trip (bench/roundtrip.js) over the corpus's messages; the count for
// a short run is subtracted from the count for a long one, so start-up,
// loading and JIT warm-up cancel out and what is left is per message.
//
//   node bench/instructions.js --baseline=/tmp/wsx-baseline [--sizes=128,4096]
//
// Needs valgrind. About a minute per process on a busy 2-core machine,
// 16 processes at the default sizes.

const { spawnSync } = require('child_process')
const impls = require('./impls')
const corpus = require('./corpus')
const { num } = require('./stats')

// Messages for a short and a long run at each size.
const COUNTS = { 128: [1000, 4000], 4096: [200, 800], 65536: [16, 64], 1048576: [2, 6] }

const args = process.argv.slice(2)
const option = (name) => {
  const arg = args.find((a) => a.startsWith('--' + name + '='))
  return arg === undefined ? undefined : arg.slice(arg.indexOf('=') + 1)
}

async function child ([impl, size, count, baseline]) {
  if (baseline) impls.addBaseline(baseline)
  const { roundTrip } = require('./roundtrip')
  await roundTrip(impl, corpus.messages(Number(size), Number(count), Number(size)), false)
}

function instructions (impl, size, count, baseline) {
  const run = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null',
    process.execPath, __filename, '--child', impl, String(size), String(count), baseline], { encoding: 'utf8' })
  const match = /Collected : (\d+)/.exec(run.stderr || '')
  if (run.status !== 0 || !match) throw new Error(impl + ' at ' + size + ' B: valgrind failed: ' + (run.error || run.stderr.slice(-2000)))
  return Number(match[1])
}

function main () {
  const baseline = option('baseline') || process.env.WSX_BASELINE
  if (!baseline) {
    console.error('usage: node bench/instructions.js --baseline=DIR (a built checkout of this package)')
    process.exit(2)
  }
  const label = impls.addBaseline(baseline).label
  const sizes = (option('sizes') || '128,4096,65536,1048576').split(',').map(Number)
  const line = (cells) => console.log('| ' + cells.join(' | ') + ' |')
  const head = ['size', 'this code, instructions per round trip', label, 'this / that (flag above 1.05)']
  line(head)
  line(head.map(() => '---'))
  for (const size of sizes) {
    const [short, long] = COUNTS[size] || [10, 40]
    const per = {}
    for (const impl of ['ours', 'baseline']) {
      per[impl] = (instructions(impl, size, long, baseline) - instructions(impl, size, short, baseline)) / (long - short)
    }
    const ratio = per.ours / per.baseline
    line([size + ' B', num(per.ours), num(per.baseline), ratio.toFixed(3) + 'x' + (ratio > 1.05 ? ' **more than 5% more**' : '')])
  }
}

if (args[0] === '--child') {
  child(args.slice(1)).catch((error) => {
    console.error(error)
    process.exit(1)
  })
} else {
  main()
}
