'use strict'
// The implementations side by side: this package, the original
// websocket-extensions 0.2.0 (with permessage-deflate 0.1.7 for deflate),
// and ws 8's PerMessageDeflate used directly. Each deflate implementation
// gives a connected client/server pair with one `send` (the client
// compresses, the server decompresses) and one `close`.

const path = require('path')

const Ours = require('..')
const ourDeflate = require('websocket-extensions-rs/deflate')
const Original = require('websocket-extensions-original')
const permessageDeflate = require('permessage-deflate')

// ws keeps these files out of its package exports; the file path reaches them.
const wsLib = path.join(path.dirname(require.resolve('ws')), 'lib')
const PerMessageDeflate = require(path.join(wsLib, 'permessage-deflate.js'))
const wsExtension = require(path.join(wsLib, 'extension.js'))

const CONTAINERS = {
  ours: Ours,
  original: Original
}

const DEFLATE = {
  ours: ourDeflate,
  original: permessageDeflate
}

// What a browser offers.
const OFFER = 'permessage-deflate; client_max_window_bits'

function frame (data, rsv1) {
  return { opcode: 1, fin: true, rsv1, rsv2: false, rsv3: false, data }
}

// A client and a server container with permessage-deflate negotiated, as a
// driver would set them up.
function containerPair (name) {
  return containerPairWith(CONTAINERS[name], DEFLATE[name])
}

// The same with any container class and deflate extension (for instance
// this package's deflate configured with another liveStates).
function containerPairWith (Extensions, deflate) {
  const client = new Extensions()
  client.add(deflate)
  const server = new Extensions()
  server.add(deflate)
  client.activate(server.generateResponse(client.generateOffer()))
  return {
    client,
    server,
    send (data, done) {
      client.processOutgoingMessage(frame(data, false), function (error, out) {
        if (error) return done(error)
        const wire = out.data
        server.processIncomingMessage(frame(wire, out.rsv1), function (error, message) {
          if (error) return done(error)
          done(null, message.data, wire.length)
        })
      })
    },
    close (done) {
      let open = 2
      const closed = () => { if (--open === 0) done() }
      client.close(closed)
      server.close(closed)
    }
  }
}

// ws's PerMessageDeflate on both ends, negotiated with offer/accept through
// ws's own header format and parser, used the way ws's Sender and Receiver
// use it (one message at a time per connection and direction).
function wsPair () {
  const client = new PerMessageDeflate({})
  const server = new PerMessageDeflate({ isServer: true })
  const offer = wsExtension.format({ [PerMessageDeflate.extensionName]: client.offer() })
  server.accept(wsExtension.parse(offer)[PerMessageDeflate.extensionName])
  const response = wsExtension.format({ [PerMessageDeflate.extensionName]: server.params })
  client.accept(wsExtension.parse(response)[PerMessageDeflate.extensionName])
  return {
    send (data, done) {
      client.compress(data, true, function (error, wire) {
        if (error) return done(error)
        server.decompress(wire, true, function (error, message) {
          if (error) return done(error)
          done(null, message, wire.length)
        })
      })
    },
    close (done) {
      client.cleanup()
      server.cleanup()
      done()
    }
  }
}

// This package with a liveStates budget no bench here reaches: no session
// ever rests, which is how it behaved before resting sessions existed.
const NEVER_REST = 100000
CONTAINERS['ours-live'] = Ours
DEFLATE['ours-live'] = ourDeflate.configure({ liveStates: NEVER_REST })

const PAIRS = {
  ours: () => containerPair('ours'),
  'ours-live': () => containerPair('ours-live'),
  original: () => containerPair('original'),
  ws: wsPair
}

// Another checkout of this package (its index.js and the file its exports map
// names for ./deflate, with its own addon built), as the implementation
// 'baseline': for comparing this code with an earlier commit in the same run.
// Returns its label.
function addBaseline (dir) {
  const root = path.resolve(dir)
  // ./deflate is a path, or (in checkouts before lib/entry/) conditions.
  const target = require(path.join(root, 'package.json')).exports['./deflate']
  CONTAINERS.baseline = require(path.join(root, 'index.js'))
  DEFLATE.baseline = require(path.join(root, typeof target === 'string' ? target : target.require.default))
  PAIRS.baseline = () => containerPair('baseline')
  const { execFileSync } = require('child_process')
  // A checkout that is no longer a git work tree may name its commit in a
  // file REVISION.
  let commit = 'unknown commit'
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch (error) {
    const fs = require('fs')
    const file = path.join(root, 'REVISION')
    if (fs.existsSync(file)) commit = fs.readFileSync(file, 'utf8').trim().slice(0, 7)
  }
  LABELS.baseline = DEFLATE_LABELS.baseline = 'websocket-extensions-rs at ' + commit
  return { dir: root, commit, label: LABELS.baseline }
}

const LABELS = {
  ours: 'websocket-extensions-rs',
  'ours-live': 'websocket-extensions-rs, liveStates ' + NEVER_REST.toLocaleString('en-US'),
  original: 'websocket-extensions 0.2.0',
  ws: 'ws 8 PerMessageDeflate'
}

const DEFLATE_LABELS = {
  ours: 'websocket-extensions-rs + its deflate',
  'ours-live': 'websocket-extensions-rs + its deflate, liveStates ' + NEVER_REST.toLocaleString('en-US') + ' (nothing rests)',
  original: 'websocket-extensions 0.2.0 + permessage-deflate 0.1.7',
  ws: 'ws ' + require(path.join(wsLib, '..', 'package.json')).version + ' PerMessageDeflate'
}

module.exports = { CONTAINERS, DEFLATE, OFFER, PAIRS, LABELS, DEFLATE_LABELS, NEVER_REST, containerPairWith, wsExtension, PerMessageDeflate, addBaseline, frame }
