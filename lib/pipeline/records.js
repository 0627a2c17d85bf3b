'use strict'
// The records the pipeline (lib/pipeline/index.js) keeps per message and per
// session call.

// One message while the core knows it: the value it has now (the message,
// or the error that replaced it) and the caller's callback.
class Entry {
  constructor (slot, dir, value, callback, context) {
    this.slot = slot
    this.dir = dir
    this.value = value
    this.callback = callback
    this.context = context
  }
}

// One call of a session's process method, and what it answered while it ran.
class Call {
  constructor (cell, dir, entry) {
    this.cell = cell
    this.dir = dir
    this.entry = entry
    this.sync = true
    this.called = false
    this.error = null
    this.message = undefined
  }
}

// A message run through an idle direction ahead of the core (see _runAhead).
class Chain {
  constructor (value, callback, context) {
    this.value = value
    this.callback = callback
    this.context = context
    this.call = null
  }
}

module.exports = { Entry, Call, Chain }
