'use strict'
// The container's own costs, this package against the original: passing a
// message through pass-through JavaScript sessions, `validFrameRsv`, and a
// server handshake with permessage-deflate. Each function runs one sample
// and returns nanoseconds per operation.

const { CONTAINERS, DEFLATE, OFFER } = require('./impls')

const now = process.hrtime.bigint

// A pass-through extension whose sessions answer at once, or on a microtask.
function passThrough (name, async) {
  const answer = async
    ? (message, callback) => queueMicrotask(() => callback(null, message))
    : (message, callback) => callback(null, message)
  const session = () => ({
    generateOffer: () => ({}),
    activate: () => true,
    generateResponse: () => ({}),
    processIncomingMessage: answer,
    processOutgoingMessage: answer,
    close () {}
  })
  return {
    name,
    type: 'permessage',
    rsv1: false,
    rsv2: false,
    rsv3: false,
    createClientSession: session,
    createServerSession: session
  }
}

const NAMES = ['a', 'b', 'c']

// A server container with `sessions` pass-through sessions in its pipeline.
function pipeline (impl, sessions, async) {
  const extensions = new CONTAINERS[impl]()
  const names = NAMES.slice(0, sessions)
  for (const name of names) extensions.add(passThrough(name, async))
  extensions.generateResponse(names.join(', '))
  return extensions
}

const METHOD = { outgoing: 'processOutgoingMessage', incoming: 'processIncomingMessage' }

// Sessions that answer synchronously: the callback has run when the call
// returns, so a plain loop measures the whole trip.
function pipelineSync (impl, sessions, direction, count) {
  const extensions = pipeline(impl, sessions, false)
  const method = METHOD[direction]
  const messages = [{ data: 'x' }, { data: 'y' }, { data: 'z' }, { data: 'w' }]
  let delivered = 0
  const callback = (error, message) => {
    if (error) throw error
    if (message !== null) delivered++
  }
  const start = now()
  for (let i = 0; i < count; i++) extensions[method](messages[i & 3], callback)
  const ns = Number(now() - start)
  if (delivered !== count) throw new Error('pipeline lost messages')
  return ns / count
}

// Sessions that answer on a microtask, as an asynchronous session does. The
// messages go in in batches, as frames parsed from one socket read do.
async function pipelineAsync (impl, sessions, direction, count) {
  const extensions = pipeline(impl, sessions, true)
  const method = METHOD[direction]
  const batch = 1000
  const message = { data: 'x' }
  let delivered = 0
  let wake = null
  const callback = (error) => {
    if (error) throw error
    if (++delivered % batch === 0) wake()
  }
  const start = now()
  for (let sent = 0; sent < count; sent += batch) {
    const done = new Promise((resolve) => { wake = resolve })
    for (let i = 0; i < batch; i++) extensions[method](message, callback)
    await done
  }
  const ns = Number(now() - start)
  if (delivered !== count) throw new Error('pipeline lost messages')
  return ns / count
}

// validFrameRsv on a container with permessage-deflate active (RSV1 allowed),
// over a mix of text, binary, compressed, continuation and control frames.
function validFrameRsv (impl, count) {
  const extensions = new CONTAINERS[impl]()
  extensions.add(DEFLATE[impl])
  extensions.generateResponse(OFFER)
  const frames = [
    { opcode: 1, rsv1: true, rsv2: false, rsv3: false },
    { opcode: 2, rsv1: true, rsv2: false, rsv3: false },
    { opcode: 1, rsv1: false, rsv2: false, rsv3: false },
    { opcode: 0, rsv1: false, rsv2: false, rsv3: false },
    { opcode: 9, rsv1: false, rsv2: false, rsv3: false },
    { opcode: 2, rsv1: true, rsv2: false, rsv3: false },
    { opcode: 1, rsv1: true, rsv2: true, rsv3: false },
    { opcode: 10, rsv1: false, rsv2: false, rsv3: false }
  ]
  let valid = 0
  const start = now()
  for (let i = 0; i < count; i++) {
    if (extensions.validFrameRsv(frames[i & 7])) valid++
  }
  const ns = Number(now() - start)
  if (valid !== count / 8 * 7) throw new Error('validFrameRsv gave ' + valid)
  return ns / count
}

// What a server does per connection: a container, the extension, the
// response to a browser's offer, and closing it when the socket closes.
function handshake (impl, count) {
  const Extensions = CONTAINERS[impl]
  const deflate = DEFLATE[impl]
  const closed = () => {}
  let responses = 0
  const start = now()
  for (let i = 0; i < count; i++) {
    const extensions = new Extensions()
    extensions.add(deflate)
    if (extensions.generateResponse(OFFER) !== null) responses++
    extensions.close(closed)
  }
  const ns = Number(now() - start)
  if (responses !== count) throw new Error('handshake refused the offer')
  return ns / count
}

// A compressed message as a client of implementation `impl` sends it,
// made once: what the server of `handshakeMessage` receives.
const compressed = {}
function clientMessage (impl) {
  if (compressed[impl]) return compressed[impl]
  compressed[impl] = new Promise((resolve, reject) => {
    const Extensions = CONTAINERS[impl]
    const client = new Extensions()
    client.add(DEFLATE[impl])
    const server = new Extensions()
    server.add(DEFLATE[impl])
    client.activate(server.generateResponse(client.generateOffer()))
    const data = Buffer.from('{"type":"hello","id":1}')
    client.processOutgoingMessage({ opcode: 1, fin: true, rsv1: false, rsv2: false, rsv3: false, data }, (error, out) => {
      if (error) return reject(error)
      const closed = () => {}
      client.close(closed)
      server.close(closed)
      resolve({ data: out.data, rsv1: out.rsv1 })
    })
  })
  return compressed[impl]
}

// What a server does per connection that sends: the handshake, one small
// compressed message in, one reply of about 100 bytes out, close. The
// connections run 100 at a time, each message waiting for the one before.
const REPLY = Buffer.from('{"type":"reply","id":1,"ok":true,"items":[1,2,3,4,5,6,7,8],"note":"a short answer of about 100 bytes"}')
async function handshakeMessage (impl, count) {
  const Extensions = CONTAINERS[impl]
  const deflate = DEFLATE[impl]
  const message = await clientMessage(impl)
  let replies = 0
  const connection = () => new Promise((resolve, reject) => {
    const extensions = new Extensions()
    extensions.add(deflate)
    if (extensions.generateResponse(OFFER) === null) return reject(new Error('handshake refused the offer'))
    const incoming = { opcode: 1, fin: true, rsv1: message.rsv1, rsv2: false, rsv3: false, data: message.data }
    extensions.processIncomingMessage(incoming, (error) => {
      if (error) return reject(error)
      const outgoing = { opcode: 1, fin: true, rsv1: false, rsv2: false, rsv3: false, data: REPLY }
      extensions.processOutgoingMessage(outgoing, (error, out) => {
        if (error) return reject(error)
        if (out.rsv1) replies++
        extensions.close(resolve)
      })
    })
  })
  const start = now()
  for (let done = 0; done < count; done += 100) {
    const batch = []
    for (let i = 0; i < Math.min(100, count - done); i++) batch.push(connection())
    await Promise.all(batch)
  }
  const ns = Number(now() - start)
  if (replies !== count) throw new Error('a reply went out uncompressed')
  return ns / count
}

// The same with no extension registered, as most websocket-driver
// connections are: the offer is only parsed and nothing is accepted.
function handshakePlain (impl, count) {
  const Extensions = CONTAINERS[impl]
  const closed = () => {}
  let responses = 0
  const start = now()
  for (let i = 0; i < count; i++) {
    const extensions = new Extensions()
    if (extensions.generateResponse(OFFER) === null) responses++
    extensions.close(closed)
  }
  const ns = Number(now() - start)
  if (responses !== count) throw new Error('a container with no extensions accepted an offer')
  return ns / count
}

module.exports = { pipelineSync, pipelineAsync, validFrameRsv, handshake, handshakeMessage, handshakePlain }
