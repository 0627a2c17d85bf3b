// A client on faye-websocket with the native permessage-deflate: connects,
// sends a few messages, prints the echoes and exits.
//
// Run it from the repository (after `npm install`), against
// `node examples/server.js` or any echo server:
//
//   node examples/client.js ws://127.0.0.1:8080/
//
// In your own project, install faye-websocket, route its
// `websocket-extensions` to websocket-extensions-rs with npm `overrides`
// (see the README) and copy this file.
'use strict'

const WebSocket = require('faye-websocket')
const deflate = require('websocket-extensions-rs/deflate')

const url = process.argv[2] || 'ws://127.0.0.1:8080/'
const messages = [
  'hello',
  JSON.stringify({ type: 'subscribe', channels: ['trades', 'book'], symbols: ['BTC-USD', 'ETH-USD'] }),
  'compressible '.repeat(1000),
  Buffer.from([0, 1, 2, 3, 255])
]

const ws = new WebSocket.Client(url, [], { extensions: [deflate] })
let received = 0

ws.on('open', () => {
  console.log('connected to ' + url)
  console.log('Sec-WebSocket-Extensions: ' + (ws.headers['sec-websocket-extensions'] || '(none)'))
  for (const message of messages) ws.send(message)
})

ws.on('message', (event) => {
  const data = event.data
  const sent = messages[received++]
  const same = typeof data === 'string' ? data === sent : Buffer.isBuffer(sent) && data.equals(sent)
  const text = typeof data === 'string' ? data : '<Buffer ' + data.toString('hex') + '>'
  console.log(`echo ${received}: ${text.length > 60 ? text.slice(0, 57) + '...' : text} ` +
    `(${data.length} ${typeof data === 'string' ? 'chars' : 'bytes'}${same ? '' : ', DIFFERS from what was sent'})`)
  if (!same) process.exitCode = 1
  if (received === messages.length) ws.close()
})

ws.on('error', (event) => console.error('error: ' + event.message))

ws.on('close', (event) => {
  console.log(`closed: ${event.code}`)
  if (received < messages.length) process.exitCode = 1
})
