// A client on websocket-driver with the native permessage-deflate: opens a
// TCP connection itself, sends a few messages, checks the echoes and exits.
//
// Run it from the repository (after `npm install`), against
// `node examples/driver-server.js`, `node examples/server.js` or any echo
// server:
//
//   node examples/driver-client.js ws://127.0.0.1:8080/
//
// In your own project, install websocket-driver, route its
// `websocket-extensions` to websocket-extensions-rs with npm `overrides` (see
// the README) and copy this file.
'use strict'

const net = require('net')
const websocket = require('websocket-driver')
const deflate = require('websocket-extensions-rs/deflate')

const url = new URL(process.argv[2] || 'ws://127.0.0.1:8080/')
const messages = ['hello', 'compressible '.repeat(1000), JSON.stringify({ type: 'ping', at: Date.now() })]

const driver = websocket.client(url.href)
driver.addExtension(deflate)

const socket = net.connect(Number(url.port) || 80, url.hostname)
socket.pipe(driver.io).pipe(socket)
socket.on('connect', () => driver.start())
socket.on('error', (error) => {
  console.error('error: ' + error.message)
  process.exitCode = 1
})

let received = 0

driver.on('open', () => {
  console.log('connected to ' + url.href)
  console.log('Sec-WebSocket-Extensions: ' + (driver.headers['sec-websocket-extensions'] || '(none)'))
  for (const message of messages) driver.text(message)
})

driver.on('message', (event) => {
  const same = event.data === messages[received++]
  console.log(`echo ${received}: ${event.data.length} chars${same ? '' : ', DIFFERS from what was sent'}`)
  if (!same) process.exitCode = 1
  if (received === messages.length) driver.close()
})

driver.on('error', (event) => console.error('error: ' + event.message))

driver.on('close', (event) => {
  console.log(`closed: ${event.code}`)
  if (received < messages.length) process.exitCode = 1
  socket.end()
})
