'use strict'

const test = require('ava')
const { isMainThread } = require('worker_threads')
const { echo } = require('./ava-echo.js')

test('runs in a worker thread of its own', (t) => {
  t.false(isMainThread)
})

test('text messages, small and over 64 KiB (the worker pool), echo in order over the native permessage-deflate', async (t) => {
  const record = (i) => JSON.stringify({ type: 'trade', seq: i, price: 64000 + i })
  const messages = ['hello', '', record(1), Array.from({ length: 4000 }, (_, i) => record(i)).join('\n'), record(2)]
  t.true(Buffer.byteLength(messages[3]) > 64 * 1024)
  const { echoes, header } = await echo(messages)
  t.regex(header, /^permessage-deflate/)
  t.deepEqual(echoes, messages)
})
