// @ts-check
'use strict'
// The records the pipeline (lib/pipeline/index.js) keeps per message and per
// session call.

/**
 * The caller's callback, called with `this` set to its context: (null,
 * message), or (error, null) where the error is whatever the session failed
 * with (usually an Error).
 * @typedef {(this: unknown, error: unknown, message: unknown) => void} Callback
 */

// One message while the core knows it: the value it has now (the message,
// or the error that replaced it) and the caller's callback.
class Entry {
  /**
   * @param {number} slot
   * @param {number} dir
   * @param {unknown} value
   * @param {Callback} callback
   * @param {unknown} context
   */
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
  /**
   * @param {number} cell
   * @param {number} dir
   * @param {Entry | null} entry
   */
  constructor (cell, dir, entry) {
    this.cell = cell
    this.dir = dir
    this.entry = entry
    this.sync = true
    this.called = false
    /** @type {unknown} */
    this.error = null
    /** @type {unknown} */
    this.message = undefined
  }
}

// A message sent from inside a callback of a message that ran ahead, held
// until that callback returns to run ahead in turn (see
// Pipeline#_submitHeld).
class Held {
  /**
   * @param {number} dir
   * @param {unknown} message
   * @param {Callback} callback
   * @param {unknown} context
   */
  constructor (dir, message, callback, context) {
    this.dir = dir
    this.message = message
    this.callback = callback
    this.context = context
  }
}

// A message run through an idle direction ahead of the core (see _runAhead).
class Chain {
  /**
   * @param {unknown} value
   * @param {Callback} callback
   * @param {unknown} context
   */
  constructor (value, callback, context) {
    this.value = value
    this.callback = callback
    this.context = context
    /** @type {Call | null} */
    this.call = null
  }
}

module.exports = { Entry, Call, Chain, Held }
