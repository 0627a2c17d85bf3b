'use strict'
// Issue 16: a process that ends while permessage-deflate sessions are open
// (process.exit, a natural end, an uncaught exception, a signal handler,
// mocha --exit, a worker_thread's end) exits with its own status, quietly.
// It used to abort (SIGABRT, status 134 in a shell): at exit the main
// thread's thread-local tables were destroyed, a session's close reached for
// a thread-local already gone, and Rust's "cannot access a Thread Local
// Storage value during or after destruction" panic in a destructor aborted
// the process. Each case runs a child of __test__/exit/ (pairs.js has the
// states it sets up) and checks its exit status, that no signal ended it,
// and that it printed nothing on stderr. Every wait is bounded by a timeout
// that kills the child; nothing here measures time.

const assert = require('assert/strict')
const { spawn } = require('child_process')
const path = require('path')

const DIR = path.join(__dirname, 'exit')
const CHILD = path.join(DIR, 'child.js')
const WORKER = path.join(DIR, 'worker.js')
const MOCHA = require.resolve('mocha/bin/mocha.js')
const WAIT = 20000

const describeNative = process.env.WSX_IMPL !== 'original' ? describe : describe.skip

// Runs node with `args`; resolves to { code, signal, stdout, stderr }. A
// child still running after WAIT ms is killed and the case fails.
function run (args, cwd = DIR) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`node ${args.join(' ')} still running after ${WAIT} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    }, WAIT)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

const show = (result) => `exit status ${result.code}, signal ${result.signal}\n` +
  `--- stderr:\n${result.stderr.slice(0, 4000)}\n--- stdout:\n${result.stdout.slice(-2000)}`

// Exited by itself with `code`, no signal, nothing on stderr.
function assertExited (result, code) {
  assert.equal(result.signal, null, show(result))
  assert.equal(result.code, code, show(result))
  assert.equal(result.stderr, '', show(result))
}

const child = (state, ending, code) => run([CHILD, state, ending].concat(code === undefined ? [] : [String(code)]))

describeNative('process end with permessage-deflate sessions open (issue 16)', function () {
  this.timeout(WAIT + 5000)

  describe('process.exit in the main thread', function () {
    it('process.exit(7) with 20 pairs at defaults that exchanged 5 messages each way, left open: exits with 7', async () => {
      const result = await child('live20', 'exit', 7)
      assertExited(result, 7)
      assert.match(result.stdout, /^live20: /)
    })

    it('process.exit(7) with one pair that exchanged 3 messages each way: exits with 7', async () => {
      assertExited(await child('live1', 'exit', 7), 7)
    })
  })

  describe('process.exit(5) with sessions in each state', function () {
    const cases = [
      ['live1', 'exit', 'sessions live (zlib states held)'],
      ['resting', 'exit', 'sessions resting beyond liveStates: 1'],
      ['restAfter', 'exit', 'every session rested by the idle timer (restAfter: 10)'],
      ['largeOut', 'exit', 'an 8 MiB message compressing on an offload worker, exit in the same turn'],
      ['largeOut', 'immediate', 'an 8 MiB message compressing on an offload worker, exit from a setImmediate'],
      ['largeIn', 'exit', 'an 8 MiB message inflating on an offload worker, exit in the same turn'],
      ['largeIn', 'immediate', 'an 8 MiB message inflating on an offload worker, exit from a setImmediate'],
      ['halfClosed', 'exit', 'half-closed pairs (the clients closed, the servers open)'],
      ['held', 'exit', "the one-call server handshake's held session, no message yet"],
      ['deferred', 'exit', "the one-call server handshake's first negotiation, no message yet (no native state)"],
      ['dropped', 'exit', 'containers never closed and no longer referenced, not yet collected'],
      ['closed', 'exit', 'every container closed (control)'],
      ['mixed', 'exit', 'all of these at once'],
      ['mixed', 'immediate', 'all of these at once, exit from a setImmediate']
    ]
    for (const [state, ending, label] of cases) {
      it(`${label}: exits with 5`, async () => {
        assertExited(await child(state, ending, 5), 5)
      })
    }
  })

  describe('other ends', function () {
    for (const state of ['live20', 'mixed']) {
      it(`${state}: the event loop ends by itself, containers never closed: exits with 0`, async () => {
        assertExited(await child(state, 'natural'), 0)
      })

      it(`${state}: an uncaught exception exits with 1 and prints the error, no abort`, async () => {
        const result = await child(state, 'throw')
        assert.equal(result.signal, null, show(result))
        assert.equal(result.code, 1, show(result))
        assert.match(result.stderr, /issue 16: an error thrown while deflate sessions are open/, show(result))
        assert.doesNotMatch(result.stderr, /panicked|abort|fatal/i, show(result))
      })

      it(`${state}: a SIGTERM handler that calls process.exit(0): exits with 0`, async () => {
        assertExited(await child(state, 'sigterm'), 0)
      })
    }
  })

  describe('worker_threads', function () {
    const cases = [
      // mode, main ending, main state, the worker's exit code, the process's
      ['exit', '4', undefined, 9, 4, 'process.exit(9) in the worker with live sessions'],
      ['exit-large', '4', undefined, 9, 4, 'process.exit(9) in the worker with an 8 MiB message on an offload worker'],
      ['exit', '4', 'live1', 9, 4, 'process.exit(9) in the worker, live sessions in the main thread too'],
      ['natural', 'natural', undefined, 0, 0, 'the worker ends by itself with live sessions'],
      ['natural-large', 'natural', undefined, 0, 0, 'the worker ends by itself after an 8 MiB message'],
      ['terminate', 'natural', undefined, 1, 0, 'worker.terminate() with live sessions'],
      ['terminate-large', 'natural', undefined, 1, 0, 'worker.terminate() with an 8 MiB message on an offload worker']
    ]
    for (const [mode, mainEnding, mainState, workerCode, code, label] of cases) {
      const then = mainEnding === 'natural' ? 'the main thread ends by itself' : `the main thread calls process.exit(${mainEnding})`
      it(`${label}, ${then}: the worker's exit event says ${workerCode}, the process exits with ${code}`, async () => {
        const result = await run([WORKER, mode, mainEnding].concat(mainState ? [mainState] : []))
        assert.match(result.stdout, new RegExp(`^worker exit ${workerCode}$`, 'm'), show(result))
        assertExited(result, code)
      })
    }
  })

  describe('mocha --exit', function () {
    it('a faye-websocket server and clients on 127.0.0.1 with the native deflate, connections left open: mocha exits with 0', async () => {
      const result = await run([MOCHA, '--exit', '--no-config', '--no-package', '--timeout', String(WAIT), 'faye.mocha.js'])
      assert.match(result.stdout, /2 passing/, show(result))
      assertExited(result, 0)
    })
  })
})
