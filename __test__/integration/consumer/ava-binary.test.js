'use strict'

const test = require('ava')
const crypto = require('crypto')
const { isMainThread } = require('worker_threads')
const { echo, bytesOf } = require('./ava-echo.js')

test('runs in a worker thread of its own', (t) => {
  t.false(isMainThread)
})

test('binary messages, random and repetitive, up to 1 MiB, echo byte for byte over the native permessage-deflate', async (t) => {
  const messages = [crypto.randomBytes(10), crypto.randomBytes(300 * 1024), Buffer.alloc(1024 * 1024, 'ab'), crypto.randomBytes(64 * 1024 + 1)]
  const { echoes, header } = await echo(messages)
  t.regex(header, /^permessage-deflate/)
  t.is(echoes.length, messages.length)
  messages.forEach((sent, i) => t.true(bytesOf(echoes[i]).equals(sent), `echo ${i} differs`))
})
