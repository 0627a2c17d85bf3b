// @ts-check
'use strict'
// Runs messages through the negotiated sessions, in order, as the original's
// lib/pipeline/ does with its Cells, Functors and Pledges. The order, the
// pending counts and the closing are kept in Rust, in the container's native
// state (src/lib.rs, core/src/pipeline.rs); this class keeps the JavaScript
// objects that state names by number (sessions, messages, callbacks) and
// carries out its actions: the drain loop (_run, _exec), the run-ahead fast
// path (_runAhead) and the adoption of a message that ran ahead (_adoptChain).
// docs/ARCHITECTURE.md follows one message through it.

const native = require('../binding')
const { DeflateSession, processMessage } = require('../deflate')
const { Entry, Call, Chain, Held } = require('./records')

/** @typedef {import('../../index').Extension} Extension */
/** @typedef {import('../../index').Session<unknown>} Session */
/** @typedef {import('../../index').Message} Message */
/** @typedef {import('./records').Callback} Callback */
/** @typedef {(this: unknown) => void} CloseCallback */
/** @typedef {{ callback: CloseCallback | undefined, context: unknown }} Closer */
/**
 * One active session in pipeline order (see cell()).
 * @typedef {{ ext: Extension, session: Session | null, codec: number | null }} Cell
 */
/**
 * A message or a close callback waiting in a container without sessions.
 * @typedef {{ closer: false, message: unknown, callback: Callback, context: unknown }
 *   | { closer: true, message: null, callback: CloseCallback, context: unknown }} Waiting
 */

/** @type {Array<'processOutgoingMessage' | 'processIncomingMessage'>} */
const METHODS = ['processOutgoingMessage', 'processIncomingMessage']

// The directions, packed actions (their layout and kinds) and the refusal
// of a message: numbers defined in core/src/wire.rs (lib/wire.js).
const {
  DIR_OUTGOING: OUTGOING,
  DIR_INCOMING: INCOMING,
  ACTION_DIR_MASK: DIR_MASK,
  SUBMIT_REFUSED: REFUSED,
  ACTION_CELL_MASK: CELL_MASK,
  ACTION_CALL: CALL,
  ACTION_PREFIX: PREFIX,
  ACTION_DELIVER: DELIVER,
  ACTION_DELIVER_ERROR: DELIVER_ERROR,
  ACTION_DROP: DROP,
  ACTION_CLOSE_SESSION: CLOSE_SESSION,
  ACTION_CLOSED: CLOSED,
  ACTION_KIND_MASK: KIND_MASK,
  ACTION_DIR_SHIFT: DIR_SHIFT,
  ACTION_MORE: MORE,
  ACTION_CELL_SHIFT: CELL_SHIFT,
  ACTION_SLOT_UNIT: SLOT_UNIT,
  ACTION_STATUS_SHIFT: STATUS_SHIFT,
  STATUS_MASK,
  STATUS_AHEAD_OUTGOING,
  STATUS_AHEAD_INCOMING,
  STATUS_NEW
} = require('../wire').wire

// By direction, the status bit that lets a message of it run ahead.
const AHEAD = [0, 0]
AHEAD[OUTGOING] = STATUS_AHEAD_OUTGOING
AHEAD[INCOMING] = STATUS_AHEAD_INCOMING

// One active session in pipeline order. `codec` is set for this package's
// native permessage-deflate, whose messages the pipeline hands straight to
// the Rust codec instead of calling the session's JavaScript methods.
/**
 * @param {Extension} ext
 * @param {Session} session
 * @returns {Cell}
 */
function cell (ext, session) {
  return { ext, session, codec: session instanceof DeflateSession ? session._codec : null }
}

// `codec` of a cell whose deflate session the container's native state still
// holds (the one-call handshake, containerRespondDeflate): it becomes a
// DeflateSession at its first message (_takeSession), and a connection closed
// before any message closes it natively, without a DeflateSession at all.
const HELD = -1

/**
 * @param {Extension} ext
 * @returns {Cell}
 */
function heldCell (ext) {
  return { ext, session: null, codec: HELD }
}

/**
 * @param {unknown} error
 * @param {string} name
 */
function prefixError (error, name) {
  if (error === null || (typeof error !== 'object' && typeof error !== 'function')) return
  const target = /** @type {{ message: unknown }} */ (error)
  try {
    target.message = name + ': ' + target.message
  } catch (_) {
    // A frozen error keeps its message; it is still delivered as is.
  }
}

class Pipeline {
  // `owner`: the container (lib/extensions.js), which makes the native state
  // when the pipeline first needs it (_native).
  /** @param {import('../extensions')} owner */
  constructor (owner) {
    this._owner = owner
    // The number of the container's native state; set with the cells.
    // (The native state, the cells, the message slots and the close callbacks
    // exist wherever the core names them; the type casts below say so.)
    // A connection's container is made per handshake, so what only some
    // connections need is made when first needed: the message slots with
    // the first message the core keeps, the close callbacks at the first
    // close.
    /** @type {number | null} */
    this._container = null
    /** @type {Cell[] | null} */
    this._cells = null
    this._closed = false
    // The core's status as its last answer gave it (core/src/wire.rs): per
    // direction, whether a message may run ahead (the direction is open and
    // has no message in the pipeline). Read only between drains, when the
    // last answer's actions have all been carried out; a pipeline whose
    // native state is not made yet has the status of a new one.
    this._ahead = STATUS_NEW
    /** @type {Array<Chain | null>} */
    this._chains = [null, null]
    // Messages the core knows, by slot, and the free slots; made with the
    // first such message (see _allocate).
    /** @type {Array<Entry | undefined> | null} */
    this._entries = null
    /** @type {number[] | null} */
    this._free = null
    // Close callbacks by ticket (see close()).
    /** @type {Array<Closer | undefined> | null} */
    this._closers = null
    this._nextTicket = 0
    // Close callbacks not yet called: at the last one the native state is
    // freed.
    this._waitingClosers = 0
    this._draining = false
    this._dirty = false
    // While the callback of a message that ran ahead runs (_deliverAhead),
    // the one message it sent through an idle direction, if nothing else
    // reached the core since: it runs ahead once the callback returns,
    // instead of going through the core (see _submitHeld).
    this._deliveringAhead = false
    /** @type {Held | null} */
    this._held = null
    // Whether a _deliverAhead below on the stack runs held messages: the
    // ones held in the callbacks it leads to are left to it, a loop.
    this._runningHeld = false
    // Messages and close callbacks of a container without sessions that wait
    // for the callback running now (see _passThrough).
    /** @type {Waiting[]} */
    this._waiting = []
    // Actions made in JavaScript while there is no native state yet (see
    // close), waiting for the running drain loop.
    /** @type {number[] | null} */
    this._deferred = null
  }

  // The sessions negotiated, in pipeline order (see cell()), once the native
  // state `container` has set up its pipeline for them.
  /**
   * @param {number | null} container
   * @param {Cell[]} cells
   */
  setup (container, cells) {
    this._container = container
    this._cells = cells
    this._ahead = STATUS_NEW
    this._chains[OUTGOING] = this._chains[INCOMING] = null
  }

  // Stops both directions; `callback` is called once every message in
  // flight has been delivered or dropped and every session closed.
  /**
   * @param {CloseCallback} [callback]
   * @param {unknown} [context]
   */
  close (callback, context) {
    if (this._held !== null) this._submitHeld()
    this._closed = true
    if (this._cells === null || this._cells.length === 0) {
      if (!callback) return
      if (this._waiting.length > 0) this._waiting.push({ message: null, callback, context, closer: true })
      else callback.call(context)
      return
    }
    if (this._chains[OUTGOING] !== null) this._adoptChain(OUTGOING)
    if (this._chains[INCOMING] !== null) this._adoptChain(INCOMING)
    const ticket = this._nextTicket++
    if (this._closers === null) this._closers = []
    this._closers[ticket] = { callback, context }
    this._waitingClosers += 1
    if (this._container === null) {
      // No native state: never made (see Extensions._respondDeflate), or
      // closed and freed already. The core answers for such a pipeline.
      const closed = native.containerCloseWithoutState(ticket)
      if (!this._draining) {
        this._run(closed)
        return
      }
      if (this._deferred === null) this._deferred = []
      this._deferred.push(closed)
      this._dirty = true
      return
    }
    this._continue(native.containerClose(this._container, ticket, !this._draining))
  }

  // The core's next answer: an action it gave without native state first,
  // then the state's (see _answer). Without native state nothing is left,
  // and the status stands.
  /** @returns {number} */
  _next () {
    if (this._deferred !== null && this._deferred.length > 0) return /** @type {number} */ (this._deferred.shift())
    return this._container === null ? -this._ahead : native.containerNext(this._container)
  }

  // Takes an answer of the core: an action (returned), or the status alone
  // (kept; 0 is returned).
  /**
   * @param {number} answer
   * @returns {number}
   */
  _answer (answer) {
    if (answer > 0) return answer
    this._ahead = -answer
    return 0
  }

  // A message enters direction `dir` (OUTGOING or INCOMING).
  /**
   * @param {number} dir
   * @param {unknown} message
   * @param {Callback} callback
   * @param {unknown} context
   */
  process (dir, message, callback, context) {
    if (this._held !== null) this._submitHeld()
    if (this._closed) return
    if (this._cells === null || this._cells.length === 0) {
      this._passThrough(message, callback, context)
      return
    }
    if (this._container === null) this._owner._native()
    if ((this._ahead & AHEAD[dir]) !== 0 && this._chains[dir] === null) {
      if (!this._draining) {
        this._runAhead(dir, message, callback, context)
        return
      }
      if (this._deliveringAhead && !this._dirty) {
        this._held = new Held(dir, message, callback, context)
        return
      }
    }
    this._submit(dir, message, callback, context)
  }

  // Hands a message to the core, which runs it in order.
  /**
   * @param {number} dir
   * @param {unknown} message
   * @param {Callback} callback
   * @param {unknown} context
   */
  _submit (dir, message, callback, context) {
    if (this._chains[dir] !== null) this._adoptChain(dir)
    const entry = this._allocate(dir, message, callback, context)
    const action = native.containerSubmit(/** @type {number} */ (this._container), dir, entry.slot, !this._draining)
    if (action === REFUSED) {
      this._release(entry)
      return
    }
    this._continue(action)
  }

  // A message sent from inside the callback of a message that ran ahead
  // (_deliverAhead) would go to the core, as any message sent while a drain
  // runs does, and the core would run it once the callback returns: an echo
  // server's every reply took three more native calls that way. When the
  // direction is idle and nothing else has reached the core during the
  // callback, the message is held here instead and runs ahead after the
  // callback returns, with the same result at the same moment. Anything
  // that reaches the core first (another message, a close, an asynchronous
  // session answering) hands the held message to the core before itself,
  // just as it would have been handed when it came.
  _submitHeld () {
    const held = /** @type {Held} */ (this._held)
    this._held = null
    this._submit(held.dir, held.message, held.callback, held.context)
  }

  // A container without sessions (before negotiation, nothing negotiated, or
  // nothing registered, when there is no native state at all) has no order to
  // keep but the caller's, so it never asks the core. As with sessions, a
  // message sent from inside a callback waits until that callback returns (a
  // loop, not a recursion), and a close made there calls back after the
  // messages still waiting.
  /**
   * @param {unknown} message
   * @param {Callback} callback
   * @param {unknown} context
   */
  _passThrough (message, callback, context) {
    if (this._draining) {
      this._waiting.push({ message, callback, context, closer: false })
      return
    }
    this._draining = true
    let failure = null
    try {
      callback.call(context, null, message)
    } catch (error) {
      failure = { error }
    }
    while (this._waiting.length > 0) {
      const next = /** @type {Waiting} */ (this._waiting.shift())
      try {
        if (next.closer) next.callback.call(next.context)
        else next.callback.call(next.context, null, next.message)
      } catch (error) {
        if (failure === null) failure = { error }
      }
    }
    this._draining = false
    // A callback that set up a pipeline with sessions and then sent through it
    // left that message to the core's loop, which starts here.
    if (this._dirty) {
      this._dirty = false
      try {
        this._continue(this._next())
      } catch (error) {
        if (failure === null) failure = { error }
      }
    }
    if (failure !== null) throw failure.error
  }

  // The fast path. While a direction has nothing in flight there is no order
  // to keep, so a message is passed from session to session here without
  // telling the core, which saves two native calls per session per message
  // (bench/results.md has the costs). As soon as a session does not answer at
  // once, or fails, or anything else needs the core's view (a close, another
  // message of the same direction arriving re-entrantly), the message is
  // handed to the core at the cell it has reached (`adopt`) and the core keeps
  // order from there.
  /**
   * @param {number} dir
   * @param {unknown} message
   * @param {Callback} callback
   * @param {unknown} context
   */
  _runAhead (dir, message, callback, context) {
    const cells = /** @type {Cell[]} */ (this._cells)
    const n = cells.length
    const chain = new Chain(message, callback, context)
    this._chains[dir] = chain
    for (let k = 0; k < n; k++) {
      const cell = dir === OUTGOING ? k : n - 1 - k
      const call = new Call(cell, dir, null)
      chain.call = call
      this._invoke(call, chain.value)
      if (call.entry !== null) {
        // Adopted while the session ran: the core has it now.
        if (call.called) this._continue(this._settle(call, !this._draining))
        return
      }
      if (!call.called || call.error) {
        this._adoptChain(dir)
        if (call.called) this._continue(this._settle(call, !this._draining))
        return
      }
      chain.value = call.message
    }
    this._chains[dir] = null
    this._deliverAhead(callback, context, chain.value)
  }

  // Hands a message that ran ahead to the caller. The callback counts as part
  // of a drain: a message it sends goes to the core and is run by the loop
  // after it returns, so a driver that sends each message from inside the
  // previous one's callback gets a loop, not a recursion as deep as its
  // stream.
  /**
   * @param {Callback} callback
   * @param {unknown} context
   * @param {unknown} message
   */
  _deliverAhead (callback, context, message) {
    this._draining = true
    this._deliveringAhead = true
    let failure = null
    try {
      callback.call(context, null, message)
    } catch (error) {
      failure = { error }
    }
    this._deliveringAhead = false
    this._draining = false
    if (this._dirty) {
      this._dirty = false
      const action = this._answer(this._next())
      if (action > 0) {
        try {
          this._run(action)
        } catch (error) {
          if (failure === null) failure = { error }
        }
      }
    }
    // The message held in the callback (see _submitHeld) runs now, and the
    // ones held in its own callback after it: a loop here, however long the
    // chain of messages sent from callbacks.
    if (this._held !== null && !this._runningHeld) {
      this._runningHeld = true
      try {
        while (this._held !== null) {
          const held = this._held
          this._held = null
          try {
            this.process(held.dir, held.message, held.callback, held.context)
          } catch (error) {
            if (failure === null) failure = { error }
          }
        }
      } finally {
        this._runningHeld = false
      }
    }
    if (failure !== null) throw failure.error
  }

  /** @param {number} dir */
  _adoptChain (dir) {
    const chain = /** @type {Chain} */ (this._chains[dir])
    this._chains[dir] = null
    const call = /** @type {Call} */ (chain.call)
    const entry = this._allocate(dir, chain.value, chain.callback, chain.context)
    // The status comes back: the direction has a message in the pipeline
    // now. (A message the core cannot take is dropped by a DROP action,
    // which the next core call with take picks up.)
    this._answer(native.containerAdopt(/** @type {number} */ (this._container), dir, entry.slot, call.cell))
    call.entry = entry
  }

  // Calls the session's process method; a callback made before it returns
  // is only recorded, and the caller acts on it afterwards.
  /**
   * @param {Call} call
   * @param {unknown} value
   */
  _invoke (call, value) {
    const self = this
    /**
     * @param {unknown} error
     * @param {unknown} [message]
     */
    const handler = function (error, message) {
      if (call.called) return
      call.called = true
      call.error = error
      call.message = message
      if (call.sync) return
      if (self._held !== null) self._submitHeld()
      self._continue(self._settle(call, !self._draining))
    }
    const cell = /** @type {Cell[]} */ (this._cells)[call.cell]
    try {
      if (cell.codec === null) /** @type {Session} */ (cell.session)[METHODS[call.dir]](value, handler)
      else if (call.dir === INCOMING && !(/** @type {Message} */ (value).rsv1)) handler(null, value)
      else {
        if (cell.codec === HELD) this._takeSession(cell)
        processMessage(cell.codec, call.dir, /** @type {Message} */ (value), handler)
      }
    } catch (error) {
      handler(error)
    }
    call.sync = false
  }

  // The deflate session the container held since the handshake, for its
  // first message.
  /** @param {Cell} cell */
  _takeSession (cell) {
    const codec = native.containerTakeSession(/** @type {number} */ (this._container))
    cell.session = new DeflateSession(codec)
    cell.codec = codec
  }

  // Tells the core that a session answered. Returns the next action when
  // `take`.
  /**
   * @param {Call} call
   * @param {boolean} take
   * @returns {number}
   */
  _settle (call, take) {
    const entry = /** @type {Entry} */ (call.entry)
    // A message no longer in the core (dropped): no call, the status stands.
    if (/** @type {Entry[]} */ (this._entries)[entry.slot] !== entry) return -this._ahead
    const failed = !!call.error
    entry.value = failed ? call.error : call.message
    return native.containerComplete(/** @type {number} */ (this._container), call.cell, call.dir, entry.slot, failed, take)
  }

  // After a core call made with take = !this._draining: its status is kept
  // (_answer), and either the running drain loop picks the new actions up,
  // or a new loop starts.
  /** @param {number} answer */
  _continue (answer) {
    const action = this._answer(answer)
    if (this._draining) this._dirty = true
    else if (action > 0) this._run(action)
  }

  // The drain loop: carries out the core's actions until none is left. It
  // never recurses: calls into the addon made while it runs only queue
  // actions. An exception from the caller's callback does not stop it; the
  // first one is rethrown once the container is consistent again.
  /** @param {number} action */
  _run (action) {
    this._draining = true
    let failure = null
    try {
      while (action > 0) {
        // The status as it is once the core's actions so far are carried
        // out; a later answer replaces it.
        this._ahead = (action >>> STATUS_SHIFT) & STATUS_MASK
        let next = 0
        try {
          next = this._exec(action)
        } catch (error) {
          if (failure === null) failure = { error }
        }
        if (next === 0 && ((action & MORE) !== 0 || this._dirty)) {
          this._dirty = false
          next = this._answer(this._next())
        }
        action = next
      }
    } finally {
      this._draining = false
    }
    if (failure !== null) throw failure.error
  }

  /**
   * @param {number} action
   * @returns {number} the next action, or 0
   */
  _exec (action) {
    const kind = action & KIND_MASK
    const dir = (action >>> DIR_SHIFT) & DIR_MASK
    const cell = (action >>> CELL_SHIFT) & CELL_MASK
    const slot = Math.floor(action / SLOT_UNIT)
    switch (kind) {
      case CALL: {
        const entry = /** @type {Entry[]} */ (this._entries)[slot]
        const call = new Call(cell, dir, entry)
        this._invoke(call, entry.value)
        return call.called ? this._answer(this._settle(call, true)) : 0
      }
      case PREFIX: {
        const entry = /** @type {Entry[]} */ (this._entries)[slot]
        prefixError(entry.value, /** @type {Cell[]} */ (this._cells)[cell].ext.name)
        return 0
      }
      case DELIVER:
      case DELIVER_ERROR: {
        const entry = /** @type {Entry[]} */ (this._entries)[slot]
        this._release(entry)
        if (kind === DELIVER) entry.callback.call(entry.context, null, entry.value)
        else entry.callback.call(entry.context, entry.value, null)
        return 0
      }
      case DROP:
        this._release(/** @type {Entry[]} */ (this._entries)[slot])
        return 0
      case CLOSE_SESSION: {
        // The container lets go of the session as it closes it, so a closed
        // connection's sessions (and their codecs) can be collected even
        // while the driver still holds the container.
        const entry = /** @type {Cell[]} */ (this._cells)[cell]
        const session = entry.session
        entry.session = null
        entry.codec = null
        if (session && typeof session.close === 'function') session.close()
        return 0
      }
      case CLOSED: {
        const closers = /** @type {Array<Closer | undefined>} */ (this._closers)
        const closer = closers[slot]
        closers[slot] = undefined
        // Every session has closed and nothing is in flight: the native
        // state is freed now, before the callbacks, not when the container
        // is collected. The core emits no action after the last CLOSED.
        if (--this._waitingClosers === 0) this._owner._freeNative()
        if (closer && closer.callback) closer.callback.call(closer.context)
        return 0
      }
    }
    return 0
  }

  /**
   * @param {number} dir
   * @param {unknown} value
   * @param {Callback} callback
   * @param {unknown} context
   */
  _allocate (dir, value, callback, context) {
    if (this._entries === null || this._free === null) {
      this._entries = []
      this._free = []
    }
    const slot = this._free.length > 0 ? /** @type {number} */ (this._free.pop()) : this._entries.length
    const entry = new Entry(slot, dir, value, callback, context)
    this._entries[slot] = entry
    return entry
  }

  /** @param {Entry} entry */
  _release (entry) {
    const entries = /** @type {Array<Entry | undefined>} */ (this._entries)
    const free = /** @type {number[]} */ (this._free)
    entries[entry.slot] = undefined
    free.push(entry.slot)
  }
}

module.exports = { Pipeline, cell, heldCell, OUTGOING, INCOMING }
