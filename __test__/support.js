'use strict'

// Extensions and sessions the container and pipeline specs share.

const { Extensions } = require('./impl')

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

// A seeded pseudo-random generator (mulberry32): the same seed gives the same numbers on
// every machine, so a failing property case can be run again from its seed.
const random = (seed) => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)]
  }
}

// A number in [0, 1) that depends only on its parts: choices that must not depend on the
// order in which they are made (what a session does with a given message).
const hashed = (...parts) => {
  let h = 0x811c9dc5
  for (const ch of parts.join('|')) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193)
  return random(h).next()
}

module.exports = { extension, taggingSession, loggingSession, pipelineOf, sendSync, random, hashed }
