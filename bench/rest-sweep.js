#!/usr/bin/env node
'use strict'
// The liveStates sweep (issue 10): for each budget of live sessions per
// thread, the cost of 100-byte round trips taken in turn across 100 and
// 1,000 pairs (bench/rotation.js; in rounds, the budgets taking turns in a
// rotating order, medians), and the KiB of RSS per idle pair at 5,000 pairs
// (bench/memory.js, one child process per budget). Prints a table.
//
//   node bench/rest-sweep.js [--rounds=5] [--budgets=16,64,256,1024,never]
//                            [--pairs=100,1000] [--memory-pairs=5000] [--messages=3000]
//
// About a minute and a half on 2 cores at the defaults. "never" is a budget
// no bench reaches (100,000 sessions): nothing rests.

const { spawnSync } = require('child_process')

if (typeof global.gc !== 'function') {
  const result = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, __filename, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(result.status === null ? 1 : result.status)
}

const os = require('os')
const corpus = require('./corpus')
const memory = require('./memory')
const { rotation } = require('./rotation')
const { CONTAINERS, DEFLATE, NEVER_REST, containerPairWith } = require('./impls')
const { summarize, num, range } = require('./stats')

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const arg = args.find((a) => a.startsWith('--' + name + '='))
  return arg === undefined ? fallback : arg.slice(arg.indexOf('=') + 1)
}
const rounds = Number(option('rounds', 5))
const budgets = option('budgets', '16,64,256,1024,never').split(',').map((b) => b === 'never' ? NEVER_REST : Number(b))
const pairCounts = option('pairs', '100,1000').split(',').map(Number)
const memoryPairs = Number(option('memory-pairs', 5000))
const messageCount = Number(option('messages', 3000))

const started = Date.now()
const log = (line) => console.log('[' + ((Date.now() - started) / 1000).toFixed(0).padStart(4) + ' s] ' + line)
const label = (budget) => budget === NEVER_REST ? 'never rest (' + NEVER_REST.toLocaleString('en-US') + ')' : String(budget)

async function settle () {
  for (let i = 0; i < 2; i++) {
    global.gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

async function main () {
  log('liveStates sweep: budgets ' + budgets.map(label).join(', ') + '; rotation at ' + pairCounts.join(' and ') +
    ' pairs, ' + rounds + ' rounds; memory at ' + memoryPairs + ' pairs; load ' + os.loadavg().map((x) => x.toFixed(2)).join(' '))
  const warm = corpus.messages(100, Math.max(...pairCounts), 11)
  const messages = corpus.messages(100, messageCount, 100)
  const rotationUs = {}
  const rotationCpu = {}
  for (const pairs of pairCounts) {
    rotationUs[pairs] = Object.fromEntries(budgets.map((b) => [b, []]))
    rotationCpu[pairs] = Object.fromEntries(budgets.map((b) => [b, []]))
    for (let round = 0; round <= rounds; round++) {
      const shown = []
      for (let k = 0; k < budgets.length; k++) {
        const budget = budgets[(k + round) % budgets.length]
        const deflate = DEFLATE.ours.configure({ liveStates: budget })
        await settle()
        const r = await rotation(() => containerPairWith(CONTAINERS.ours, deflate), pairs, warm, messages)
        if (round > 0) {
          rotationUs[pairs][budget].push(r.usPerTrip)
          rotationCpu[pairs][budget].push(r.cpuUsPerTrip)
        }
        shown.push(label(budget) + ' ' + num(r.usPerTrip) + ' µs')
      }
      log('rotation across ' + pairs + ' pairs, ' + (round === 0 ? 'warm-up' : 'round ' + round + '/' + rounds) + ': ' + shown.join(' | '))
    }
  }
  const kib = {}
  for (const budget of budgets) {
    const r = memory.measure('ours', memoryPairs, budget)
    kib[budget] = r
    log('memory at ' + memoryPairs + ' pairs, liveStates ' + label(budget) + ': ' + num(r.kibPerPair) + ' KiB/pair (' + num(r.totalMiB) + ' MiB); live ' +
      r.stats.liveStates + ', resting ' + r.stats.resting)
  }
  const line = (cells) => '| ' + cells.join(' | ') + ' |'
  const head = ['liveStates', ...pairCounts.map((p) => 'µs per round trip across ' + p.toLocaleString('en-US') + ' pairs (min / median / max; CPU median)'),
    'KiB of RSS per idle pair at ' + memoryPairs.toLocaleString('en-US') + ' pairs (total MiB)', 'live / resting directions when idle']
  console.log('\n' + line(head))
  console.log(line(head.map(() => '---')))
  for (const budget of budgets) {
    console.log(line([
      label(budget),
      ...pairCounts.map((p) => range(summarize(rotationUs[p][budget])) + '; CPU ' + num(summarize(rotationCpu[p][budget]).median)),
      num(kib[budget].kibPerPair) + ' (' + num(kib[budget].totalMiB) + ')',
      kib[budget].stats.liveStates + ' / ' + kib[budget].stats.resting
    ]))
  }
  log('done; load ' + os.loadavg().map((x) => x.toFixed(2)).join(' ') + ' (wall-clock figures on a busy machine are indicative only)')
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
