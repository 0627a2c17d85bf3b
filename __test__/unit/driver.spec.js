'use strict'

// websocket-driver 0.8.0 on a real loopback socket, with JS extensions negotiated and run
// by the implementation under test.

const assert = require('assert/strict')
const net = require('net')
const path = require('path')
const { Extensions } = require('../support/impl')
const websocket = require('websocket-driver')

// Reverses the bytes of every message and marks it with RSV2 on the wire.
const reverseExtension = (log, side) => ({
  name: 'x-reverse',
  type: 'permessage',
  rsv1: false,
  rsv2: true,
  rsv3: false,
  createClientSession: () => reverseSession(log, side),
  createServerSession: (offers) => (offers[0].mode === 'bytes' ? reverseSession(log, side) : null)
})

const reverseSession = (log, side) => ({
  generateOffer: () => ({ mode: 'bytes' }),
  activate: (params) => params.mode === 'bytes',
  generateResponse: () => ({ mode: 'bytes' }),
  processOutgoingMessage (message, cb) {
    message.data = Buffer.from(message.data).reverse()
    message.rsv2 = true
    cb(null, message)
  },
  processIncomingMessage (message, cb) {
    if (!message.rsv2) return cb(new Error('RSV2 missing'))
    message.data = Buffer.from(message.data).reverse()
    message.rsv2 = false
    cb(null, message)
  },
  close: () => log.push(`${side} x-reverse closed`)
})

// Appends a sequence byte to every outgoing message and checks and strips it on the way
// in. It finishes messages asynchronously and out of order, so the container must restore
// the order. An incoming message that says "fail" gets a too_large error (x-tag sees it
// before x-reverse has turned it back, as "liaf").
const tagExtension = (log, side) => ({
  name: 'x-tag',
  type: 'permessage',
  rsv1: false,
  rsv2: false,
  rsv3: false,
  createClientSession: () => tagSession(log, side),
  createServerSession: () => tagSession(log, side)
})

const tagSession = (log, side) => {
  let sent = 0
  let received = 0
  const later = (n, fn) => (n % 2 === 0 ? setTimeout(fn, 3) : setImmediate(fn))
  return {
    generateOffer: () => ({}),
    activate: () => true,
    generateResponse: () => ({}),
    processOutgoingMessage (message, cb) {
      const n = sent++
      later(n, () => {
        message.data = Buffer.concat([message.data, Buffer.from([n % 256])])
        cb(null, message)
      })
    },
    processIncomingMessage (message, cb) {
      const n = received++
      later(n, () => {
        const data = message.data
        if (data[data.length - 1] !== n % 256) return cb(new Error(`message ${n} out of order`))
        message.data = data.subarray(0, data.length - 1)
        if (message.data.includes('liaf')) {
          const error = new Error('too big')
          error.type = 'too_large'
          return cb(error)
        }
        cb(null, message)
      })
    },
    close: () => log.push(`${side} x-tag closed`)
  }
}

// Reads the unmasked frames a server sent, after its HTTP response.
const serverFrames = (bytes) => {
  let offset = bytes.indexOf('\r\n\r\n') + 4
  const frames = []
  while (offset < bytes.length) {
    const b0 = bytes[offset]
    let length = bytes[offset + 1] & 0x7f
    offset += 2
    if (length === 126) {
      length = bytes.readUInt16BE(offset)
      offset += 2
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(offset))
      offset += 8
    }
    frames.push({
      rsv1: !!(b0 & 0x40),
      rsv2: !!(b0 & 0x20),
      rsv3: !!(b0 & 0x10),
      opcode: b0 & 0x0f,
      payload: bytes.subarray(offset, offset + length)
    })
    offset += length
  }
  return frames
}

describe('websocket-driver 0.8.0 over a loopback socket', () => {
  let server
  const sockets = new Set()

  // A server that echoes every message: text as 'echo:' + text, binary with 0xff in front.
  const startServer = (log, received) => new Promise((resolve) => {
    server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => {})
      const driver = websocket.server()
      driver.addExtension(reverseExtension(log, 'server'))
      driver.addExtension(tagExtension(log, 'server'))
      driver.on('connect', () => driver.start())
      driver.messages.on('data', (message) => {
        received.push(message)
        if (typeof message === 'string') driver.text('echo:' + message)
        else driver.binary(Buffer.concat([Buffer.from([0xff]), message]))
      })
      driver.on('close', (event) => {
        log.push(`server close ${event.code}`)
        socket.end()
      })
      socket.pipe(driver.io).pipe(socket)
    })
    server.listen(0, '127.0.0.1', () => resolve(server.address().port))
  })

  const connect = (port, log) => {
    const client = websocket.client(`ws://127.0.0.1:${port}/`)
    client.addExtension(reverseExtension(log, 'client'))
    client.addExtension(tagExtension(log, 'client'))
    const socket = net.connect(port, '127.0.0.1')
    sockets.add(socket)
    socket.on('error', () => {})
    const wire = []
    socket.on('data', (chunk) => wire.push(chunk))
    socket.pipe(client.io).pipe(socket)
    socket.on('connect', () => client.start())
    const closed = new Promise((resolve) => client.on('close', (event) => {
      socket.end()
      resolve(event)
    }))
    return { client, wire, closed }
  }

  afterEach(async () => {
    for (const socket of sockets) socket.destroy()
    sockets.clear()
    if (server) await new Promise((resolve) => server.close(resolve))
    server = null
  })

  it('websocket-driver loads the implementation under test', () => {
    const driverDir = path.dirname(require.resolve('websocket-driver'))
    const loaded = require(require.resolve('websocket-extensions', { paths: [driverDir] }))
    assert.equal(loaded, Extensions)
  })

  it('negotiates the extensions and exchanges text and binary messages through them in order', async () => {
    const log = []
    const received = []
    const port = await startServer(log, received)
    const { client, wire, closed } = connect(port, log)

    const sent = [
      'hello',
      Buffer.from([1, 2, 3, 4]),
      'héllo wörld ✓',
      Buffer.alloc(300, 7),
      'x'.repeat(70000),
      Buffer.from([]),
      'last'
    ]
    const replies = []
    const allReplies = new Promise((resolve) => client.messages.on('data', (message) => {
      replies.push(message)
      if (replies.length === sent.length) resolve()
    }))
    await new Promise((resolve) => client.on('open', resolve))

    assert.equal(client.headers['sec-websocket-extensions'], 'x-reverse; mode=bytes, x-tag')
    for (const message of sent) {
      if (typeof message === 'string') client.text(message)
      else client.binary(message)
    }
    await allReplies

    assert.deepEqual(received, sent)
    assert.deepEqual(replies, sent.map((message) => (typeof message === 'string'
      ? 'echo:' + message
      : Buffer.concat([Buffer.from([0xff]), message]))))

    client.close()
    const event = await closed
    assert.equal(event.code, 1000)

    // On the wire each data frame carries RSV2 and the reversed payload plus the tag byte.
    const frames = serverFrames(Buffer.concat(wire))
    const data = frames.filter((frame) => frame.opcode === 1 || frame.opcode === 2)
    assert.equal(data.length, sent.length)
    data.forEach((frame, n) => {
      assert.deepEqual([frame.rsv1, frame.rsv2, frame.rsv3], [false, true, false])
      const reply = replies[n]
      const plain = typeof reply === 'string' ? Buffer.from(reply) : reply
      assert.ok(frame.payload.equals(Buffer.concat([Buffer.from(plain).reverse(), Buffer.from([n])])))
    })
    assert.equal(frames[frames.length - 1].opcode, 8)

    for (const side of ['client', 'server']) {
      for (const name of ['x-reverse', 'x-tag']) {
        assert.equal(log.filter((line) => line === `${side} ${name} closed`).length, 1, `${side} ${name}`)
      }
    }
  })

  it('an extension error closes the connection with the error\'s type and prefixed message', async () => {
    const log = []
    const received = []
    const port = await startServer(log, received)
    const { client, closed } = connect(port, log)
    await new Promise((resolve) => client.on('open', resolve))

    client.text('first')
    client.text('please fail')
    client.text('never seen')
    const event = await closed

    assert.deepEqual(received, ['first'])
    assert.equal(event.code, 1009)
    assert.equal(event.reason, 'x-reverse: x-tag: too big')
  })
})
