'use strict'

const test = require('ava')
const path = require('path')
const { isMainThread } = require('worker_threads')
const { echo } = require('./ava-echo.js')

test('runs in a worker thread of its own', (t) => {
  t.false(isMainThread)
})

test('websocket-driver loads websocket-extensions from this package in a worker thread too', (t) => {
  const fayeDir = path.dirname(require.resolve('faye-websocket/package.json'))
  const driverDir = path.dirname(require.resolve('websocket-driver', { paths: [fayeDir] }))
  const container = require.resolve('websocket-extensions/package.json', { paths: [driverDir] })
  t.is(require(container).name, 'websocket-extensions-rs')
})

test('several connections at once, each with large messages, echo over the native permessage-deflate', async (t) => {
  const big = (n) => 'ünïcödé '.repeat(12000) + n
  const runs = await Promise.all([1, 2, 3, 4].map((n) => echo([big(n), String(n), big(n + 10)])))
  runs.forEach(({ echoes }, i) => t.deepEqual(echoes, [big(i + 1), String(i + 1), big(i + 11)]))
})
