'use strict'

// Extensions and sessions the container and pipeline specs share.

const { Extensions } = require('./impl')
const { random, hashed } = require('./random')

// A valid extension object; `fields` replaces any of its properties.
const extension = (name, fields = {}) => ({
  name,
  type: 'permessage',
  rsv1: false,
  rsv2: false,
  rsv3: false,
  createClientSession: () => taggingSession(name),
  createServerSession: () => taggingSession(name),
  ...fields
})

// A session that answers synchronously, appending its name to the array message.
const taggingSession = (name) => ({
  generateOffer: () => ({}),
  activate: () => true,
  generateResponse: () => ({}),
  processOutgoingMessage: (message, cb) => cb(null, message.concat(name)),
  processIncomingMessage: (message, cb) => cb(null, message.concat(name)),
  close: () => {}
})

const METHODS = { outgoing: 'processOutgoingMessage', incoming: 'processIncomingMessage' }

// A synchronous session that logs what it sees (`<name> <direction> <id>`,
// `<name> close`) and counts its close() calls.
const loggingSession = (name, log = []) => {
  const session = {
    ...taggingSession(name),
    closed: 0,
    close () {
      session.closed += 1
      log.push(`${name} close`)
    }
  }
  for (const direction of ['outgoing', 'incoming']) {
    session[METHODS[direction]] = (message, cb) => {
      log.push(`${name} ${direction} ${message[0]}`)
      cb(null, message.concat(name))
    }
  }
  return session
}

// A server-side container whose pipeline holds `sessions` ({ name: session }) in the
// order given.
const pipelineOf = (sessions, options) => {
  const exts = new Extensions(options)
  const names = Object.keys(sessions)
  for (const name of names) {
    exts.add(extension(name, { createServerSession: () => sessions[name] }))
  }
  exts.generateResponse(names.join(', '))
  return exts
}

// Sends `message` one way and returns what the callback got, asserting it ran before
// processXMessage returned.
const sendSync = (exts, direction, message) => {
  let result = null
  const method = direction === 'outgoing' ? 'processOutgoingMessage' : 'processIncomingMessage'
  exts[method](message, (error, out) => { result = { error, message: out } })
  if (!result) throw new Error(`the ${direction} callback did not run synchronously`)
  return result
}

// Records what the driver's callbacks receive, in order: `callbackFor(label)` makes a
// callback that pushes `{ label, context: this, error, message }` onto `got`.
const recorder = () => {
  const got = []
  const callbackFor = (label) => function (error, message) {
    got.push({ label, context: this, error, message })
  }
  return { got, callbackFor }
}

module.exports = { extension, taggingSession, loggingSession, pipelineOf, sendSync, recorder, random, hashed }
