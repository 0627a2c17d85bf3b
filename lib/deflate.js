// @ts-check
'use strict'
// The native permessage-deflate extension (RFC 7692), with the options and
// negotiation rules of the npm package permessage-deflate 0.1.7. Negotiation
// and compression run in Rust (core/src/deflate/, core/src/deflate/session.rs, bound
// by src/deflate_binding.rs); this
// file builds the extension object and the session objects that any
// websocket-extensions container can use. This package's own container
// recognises the sessions and calls the codec directly (lib/pipeline/index.js).

const timers = require('timers')
const native = require('./binding')

/** @typedef {import('../index').Message} Message */
/** @typedef {import('../index').MessageCallback} MessageCallback */
/** @typedef {import('../index').Params} Params */
/** @typedef {import('../index').ContainerOptions} ContainerOptions */
/** @typedef {import('./binding').DeflateExtension} DeflateExtension */
/** @typedef {(code: number, data: Buffer | null, message: string | null) => void} Pending */

// The codec's result codes and the directions, from the binding
// (core/src/wire.rs).
const {
  CODEC_PENDING: PENDING,
  CODEC_TOO_LARGE: TOO_LARGE,
  CODEC_INACTIVE: INACTIVE,
  CODEC_UNCOMPRESSED: UNCOMPRESSED,
  CODEC_DONE: DONE,
  CODEC_IN_SLAB: IN_SLAB,
  DIR_OUTGOING: OUTGOING,
  DIR_INCOMING: INCOMING
} = require('./wire').wire

// `_codec` of a session that has closed: its native state is freed.
const FREED = -1

// A result that fits here is written here by the codec and copied out at
// once into a Buffer of Node's pool (see answer() in src/deflate_binding.rs):
// one per thread, under the size the pool serves (Buffer.allocUnsafe below
// half of Buffer.poolSize), never handed to anyone.
const slab = Buffer.allocUnsafeSlow(4095)

/**
 * @param {number} length
 * @returns {Buffer}
 */
function fromSlab (length) {
  const out = Buffer.allocUnsafe(length)
  slab.copy(out, 0, 0, length)
  return out
}

// Results of messages processed on a worker thread come back by token to the
// one callback the addon keeps per thread. When this file is loaded more than
// once in a thread over one addon (jest's resetModules, require.cache cleared,
// two paths to the package), every copy registers it and the last one wins,
// so the tokens and the callback are shared by all copies: kept on the
// addon's exports (one per load of the .node) and on globalThis (one per
// realm, for an addon dlopen'd again), the first copy's found by the others.
// A copy in another realm over an addon dlopen'd again would still not share
// it. A change to Offload's shape needs a new key.
/** @typedef {{ pending: Map<number, Pending>, nextToken: number, deliver: (token: number, code: number, data: Buffer | null, message: string | null) => void }} Offload */
const OFFLOAD = Symbol.for('websocket-extensions-rs.deflate.offload.v1')

/** @returns {Offload} */
function newOffload () {
  /** @type {Map<number, Pending>} */
  const pending = new Map()
  return {
    pending,
    nextToken: 1,
    deliver (token, code, data, message) {
      const done = pending.get(token)
      pending.delete(token)
      if (done) done(code, data, message)
    }
  }
}

/** @type {Record<symbol, Offload | undefined>} */
const realmHolder = /** @type {any} */ (globalThis)
/** @type {Record<symbol, Offload | undefined>} */
const exportsHolder = /** @type {any} */ (native)
/** @type {Offload} */
const offload = exportsHolder[OFFLOAD] || realmHolder[OFFLOAD] || newOffload()
for (const holder of [exportsHolder, realmHolder]) {
  if (holder[OFFLOAD] !== offload) Object.defineProperty(holder, OFFLOAD, { value: offload, configurable: true })
}
const pending = offload.pending
native.setOffloadCallback(offload.deliver)

// The idle timer (restAfter): set by the binding when a session with a
// restAfter has worked and none is set, it rests the thread's sessions idle
// for their restAfter and sets itself again for the next one due. Unref'd,
// so it never keeps a process or a worker alive; an unset restAfter never
// sets it.
/** @type {NodeJS.Timeout | null} */
let restTimer = null

function sweep () {
  restTimer = null
  const next = native.deflateSweep()
  if (next >= 0) armRestTimer(next)
}

/** @param {number} delay milliseconds */
function armRestTimer (delay) {
  if (restTimer !== null) timers.clearTimeout(restTimer)
  restTimer = timers.setTimeout(sweep, delay)
  restTimer.unref()
}

native.setRestTimer(armRestTimer)

/**
 * @param {number} code
 * @param {string | null} message
 */
function codecError (code, message) {
  /** @type {Error & { type?: string }} */
  const error = new Error(String(message))
  // websocket-driver closes with the code its `type` names: 1009 here.
  if (code === TOO_LARGE) error.type = 'too_large'
  return error
}

function notBuffer () {
  return new TypeError('message.data must be a Buffer')
}

// Runs one message through the codec. `done(error, message)` is called before
// this returns when the message was processed inline, or later, from the
// event loop, when it went to a worker thread.
/**
 * @param {number} codec
 * @param {number} dir
 * @param {Message} message
 * @param {MessageCallback} done
 */
function processMessage (codec, dir, message, done) {
  const data = message.data
  if (!(data instanceof Uint8Array)) return done(notBuffer(), null)
  if (codec === FREED) return done(codecError(INACTIVE, 'permessage-deflate session is not active'), null)
  const token = offload.nextToken++
  let result
  try {
    result = dir === OUTGOING
      ? native.deflateCompress(codec, data, token, slab)
      : native.deflateDecompress(codec, data, token, slab)
  } catch (error) {
    // The binding throws only Error objects.
    return done(/** @type {Error} */ (error), null)
  }
  if (typeof result !== 'number' || result >= IN_SLAB) {
    // The smallest results come through the slab, copied out here into a
    // Buffer of Node's pool; others as an ArrayBuffer (see answer() in
    // src/deflate_binding.rs), viewed here as a Buffer; large ones as a
    // Buffer.
    message.data = typeof result === 'number'
      ? fromSlab(result - IN_SLAB)
      : ArrayBuffer.isView(result) ? result : Buffer.from(result)
    if (dir === OUTGOING) message.rsv1 = true
    return done(null, message)
  }
  // Under the extension's threshold: sent as it is, RSV1 clear.
  if (result === UNCOMPRESSED) return done(null, message)
  if (result === PENDING) {
    pending.set(token, function (code, output, text) {
      if (code !== DONE || output === null) return done(codecError(code, text), null)
      message.data = output
      if (dir === OUTGOING) message.rsv1 = true
      done(null, message)
    })
    return
  }
  done(codecError(result, native.deflateLastError(codec)), null)
}

// Turns params objects into the flat lists the binding takes: every key and
// value in order (an array value gives the key once per element), and how
// many each object has. The values go as they are; the binding reads them.
/** @param {Params[]} list */
function flattenParams (list) {
  /** @type {string[]} */
  const keys = []
  /** @type {unknown[]} */
  const values = []
  /** @type {number[]} */
  const counts = []
  for (const params of list) {
    let n = 0
    /**
     * @param {string} key
     * @param {unknown} value
     */
    const push = (key, value) => {
      if (Array.isArray(value)) {
        for (const v of value) push(key, v)
        return
      }
      keys.push(key)
      values.push(value)
      n += 1
    }
    for (const key in params) push(key, params[key])
    counts.push(n)
  }
  return { keys, values, counts }
}

/** @param {ContainerOptions | null | undefined} options */
function maxLengthOf (options) {
  return options && typeof options.maxLength === 'number' ? options.maxLength : undefined
}

// Frees the native state of a session collected without a close (a close
// frees it at once).
const freeSessions = new FinalizationRegistry((codec) => native.deflateFree(codec))

// A session, as websocket-extensions containers call it. `_codec` is the
// number of its native state, FREED once it has closed.
class DeflateSession {
  /** @param {number} codec */
  constructor (codec) {
    this._codec = codec
    freeSessions.register(this, codec, this)
  }

  // The number of the native state of a session that has not closed.
  _live () {
    if (this._codec === FREED) throw new Error('permessage-deflate session is closed')
    return this._codec
  }

  generateOffer () {
    return JSON.parse(native.deflateGenerateOffer(this._live()))
  }

  /** @param {Params} params */
  activate (params) {
    const { keys, values } = flattenParams([params])
    return native.deflateActivate(this._live(), keys, values)
  }

  generateResponse () {
    const json = native.deflateGenerateResponse(this._live())
    return json === null ? null : JSON.parse(json)
  }

  /**
   * @param {Message} message
   * @param {MessageCallback} callback
   */
  processIncomingMessage (message, callback) {
    if (!message.rsv1) return callback(null, message)
    processMessage(this._codec, INCOMING, message, callback)
  }

  /**
   * @param {Message} message
   * @param {MessageCallback} callback
   */
  processOutgoingMessage (message, callback) {
    processMessage(this._codec, OUTGOING, message, callback)
  }

  // Frees the native state now: codecs, history, the table's entry and the
  // memory reported to V8 (a message on a worker finishes first). Later
  // messages fail as "not active".
  close () {
    const codec = this._codec
    if (codec === FREED) return
    this._codec = FREED
    freeSessions.unregister(this)
    native.deflateFree(codec)
  }
}

// This package's extension objects and their native configuration, for the
// container's one-call server handshake (see nativeConfig).
/** @type {WeakMap<object, { config: DeflateExtension, create: Function }>} */
const configs = new WeakMap()

// The native configuration of `ext` if it is one of this package's deflate
// extensions whose createServerSession nobody replaced, else null.
/** @param {import('../index').Extension} ext */
function nativeConfig (ext) {
  const known = configs.get(ext)
  return known !== undefined && known.create === ext.createServerSession ? known.config : null
}

/** @param {DeflateExtension} config */
function extension (config) {
  const ext = {
    name: 'permessage-deflate',
    type: 'permessage',
    rsv1: true,
    rsv2: false,
    rsv3: false,

    // A new extension with these options on top of this one's; the receiver
    // is left as it was. Throws on unknown keys and out-of-range values.
    /** @param {Record<string, unknown> | null | undefined} options */
    configure (options) {
      const keys = Object.keys(options || {})
      let configured
      try {
        configured = config.configure(keys, keys.map((k) => options?.[k]))
      } catch (error) {
        // The binding's error carries napi's `code: 'GenericFailure'`; the
        // contract's is a plain Error with the text, as permessage-deflate
        // throws.
        throw new Error(/** @type {Error} */ (error).message)
      }
      return extension(configured)
    },

    /** @param {ContainerOptions} options */
    createClientSession (options) {
      return new DeflateSession(config.clientSession(maxLengthOf(options)))
    },

    /**
     * @param {Params[]} offers
     * @param {ContainerOptions} options
     */
    createServerSession (offers, options) {
      const { keys, values, counts } = flattenParams(offers)
      const codec = config.serverSession(keys, values, counts, maxLengthOf(options))
      return codec === null ? null : new DeflateSession(codec)
    },

    // This thread's figures: live and resting states, bytes each way.
    stats () {
      return native.deflateStats()
    }
  }
  configs.set(ext, { config, create: ext.createServerSession })
  return ext
}

// `deflate` is the public extension (the root's deflate.js); the container
// (lib/pipeline/index.js) runs these sessions' codecs without going through their
// JavaScript methods.
module.exports = {
  deflate: extension(new native.DeflateExtension()),
  DeflateSession,
  processMessage,
  nativeConfig,
  maxLengthOf
}
