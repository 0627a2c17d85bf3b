// @ts-check
'use strict'
// The `Extensions` class: a drop-in for the npm package
// `websocket-extensions`. It negotiates; the messages run through
// lib/pipeline/. The rules and the state (registry, RSV bits, message order,
// pending counts, closing) live in Rust, in the container's native state
// (src/lib.rs); this class keeps the extension objects it names by number.
// docs/ARCHITECTURE.md explains the design.

const native = require('./binding')
const { parseHeader, serializeParams, headerText } = require('./parser')
const { NAME_TAKEN, invalidHeader, nameTaken, rsvConflict } = require('./errors')
const { Pipeline, cell, heldCell, OUTGOING, INCOMING } = require('./pipeline')
const { nativeConfig, maxLengthOf } = require('./deflate')

/** @typedef {import('../index').Extension} Extension */
/** @typedef {import('../index').ClientSession} ClientSession */
/** @typedef {import('../index').ContainerOptions} ContainerOptions */
/** @typedef {import('../index').Frame} Frame */
/** @typedef {import('../index').Params} Params */
/** @typedef {import('../index').OutgoingParams} OutgoingParams */
/** @typedef {import('./binding').DeflateExtension} DeflateExtension */
/** @typedef {import('./pipeline').Cell} Cell */
/** @typedef {import('./pipeline/records').Callback} Callback */

// Frees the native state of a container collected without a close (a close
// frees it as its last close callback is called): the pipeline, not the
// container, is what a session's pending callback holds.
const freeContainers = new FinalizationRegistry((container) => native.containerFree(container))

// The native numbers of the deflate configurations that servers negotiate
// with in one call (containerRespondDeflate): asked once per configuration,
// so a handshake passes a number, not a native object. Freed when the
// configuration is collected.
/** @type {WeakMap<DeflateExtension, number>} */
const configNumbers = new WeakMap()
const freeConfigs = new FinalizationRegistry((number) => native.containerConfigFree(number))

/**
 * @param {DeflateExtension} config
 * @returns {number}
 */
function configNumber (config) {
  let number = configNumbers.get(config)
  if (number === undefined) {
    number = native.containerConfigNew(config)
    configNumbers.set(config, number)
    freeConfigs.register(config, number)
  }
  return number
}

// The mask bit of RSV`bit` (bit 0 for RSV1) if `value`, checked as the
// original checks an extension's rsv fields.
/**
 * @param {unknown} value
 * @param {number} bit
 */
function rsvBit (value, bit) {
  if (typeof value !== 'boolean') throw new TypeError('extension.rsv' + bit + ' must be true or false')
  return value ? 1 << (bit - 1) : 0
}

// Where containerRespondDeflate puts the accepted parameters, packed in
// one number (see _respondDeflate).
const ACCEPTED = [0]

// The options a container takes.
const OPTIONS = ['maxLength']

// No client sessions offered yet (see generateOffer).
/** @type {ReadonlyArray<ClientSession | undefined>} */
const NONE_OFFERED = Object.freeze([])

class Extensions {
  /** @param {ContainerOptions | null} [options] */
  constructor (options) {
    this._options = Extensions.validateOptions(options, OPTIONS)
    // The number of this container's native state, made when first needed
    // (_native), or by the one-call server handshake: a container with no
    // extensions (most of websocket-driver's) never needs any, and a server
    // with only this package's deflate makes it as it negotiates.
    /** @type {number | null} */
    this._container = null
    // The RSV bits of the first extension (bit 0 for RSV1).
    this._firstRsv = 0
    /** @type {Extension[]} */
    this._extensions = []
    // Their names as registered, which the RSV conflict error quotes.
    /** @type {string[]} */
    this._names = []
    this._offered = NONE_OFFERED
    // A one-call deflate negotiation whose native state is not made yet: the
    // parameters it accepted (packed; -1 when there is none), and the
    // configuration number and maxLength to make the session with.
    this._laterAccepted = -1
    this._laterConfig = 0
    /** @type {number | undefined} */
    this._laterMaxLength = undefined
    this._rsv1 = this._rsv2 = this._rsv3 = false
    this._pipeline = new Pipeline(this)
  }

  /**
   * @template {object} T
   * @param {T | null | undefined} options
   * @param {string[]} validKeys
   * @returns {T}
   */
  static validateOptions (options, validKeys) {
    options = options || /** @type {T} */ ({})
    for (const key of Object.keys(options)) {
      if (validKeys.indexOf(key) < 0) throw new Error('Unrecognized option: ' + key)
    }
    return options
  }

  // The checks of the fields are JavaScript's typeof, so they stay here; the
  // registry (names, RSV bits, duplicates) is the core's.
  /** @param {Extension} ext */
  add (ext) {
    if (typeof ext.name !== 'string') throw new TypeError('extension.name must be a string')
    if (ext.type !== 'permessage') throw new TypeError('extension.type must be "permessage"')
    const bits = rsvBit(ext.rsv1, 1) | rsvBit(ext.rsv2, 2) | rsvBit(ext.rsv3, 3)
    // The first extension is registered when the native state is made; its
    // name cannot be taken yet.
    if (this._extensions.length === 0) this._firstRsv = bits
    else if (native.containerAdd(this._native(), ext.name, bits) === NAME_TAKEN) throw nameTaken(ext.name)
    this._extensions.push(ext)
    this._names.push(ext.name)
  }

  // The number of the native state, made now with the first extension
  // registered if it was not made yet. Only for a container with extensions.
  /** @returns {number} */
  _native () {
    if (this._container !== null) return this._container
    if (this._laterAccepted < 0) {
      return this._made(native.containerNewWith(this._names[0], this._firstRsv))
    }
    // The state of the negotiation made without it, from the parameters it
    // accepted (the offer is not parsed again): the RSV bits taken, the
    // session held for the first message.
    const accepted = this._laterAccepted
    this._laterAccepted = -1
    return this._made(native.containerNewAccepted(this._names[0], this._firstRsv, accepted, this._laterConfig, this._laterMaxLength))
  }

  /**
   * @param {number} container
   * @returns {number} the container
   */
  _made (container) {
    this._container = container
    this._pipeline._container = container
    freeContainers.register(this._pipeline, container, this._pipeline)
    return container
  }

  // The container has closed (every session closed, every close callback
  // due): its native state is freed now. A later negotiation would make a
  // new one.
  _freeNative () {
    this._laterAccepted = -1
    const container = this._container
    if (container === null) return
    this._container = null
    this._pipeline._container = null
    freeContainers.unregister(this._pipeline)
    native.containerFree(container)
  }

  generateOffer () {
    /** @type {string[]} */
    const offers = []
    /** @type {Array<ClientSession | undefined>} */
    const offered = []
    for (let i = 0; i < this._extensions.length; i++) {
      const ext = this._extensions[i]
      const session = ext.createClientSession(this._options)
      if (!session) continue
      offered[i] = session
      const params = session.generateOffer()
      if (!params) continue
      // forEach, as the original: holes in an array of offers are skipped.
      ;/** @type {OutgoingParams[]} */ ([]).concat(params).forEach((p) => offers.push(serializeParams(ext.name, p)))
    }
    this._offered = offered
    return offers.length > 0 ? offers.join(', ') : null
  }

  /** @param {string | null | undefined} header */
  activate (header) {
    const responses = parseHeader(header)
    /** @type {Cell[]} */
    const cells = []
    /** @type {number[]} */
    const active = []
    for (const { name, params } of responses) {
      const index = this._extensions.length === 0 ? -1 : native.containerIndexOf(this._native(), name)
      const session = index >= 0 ? this._offered[index] : undefined
      if (!session) {
        throw new Error('Server sent an extension response for unknown extension "' + name + '"')
      }
      // An index >= 0 came from the native state, so it is made.
      const container = /** @type {number} */ (this._container)
      const conflict = native.containerConflict(container, index)
      if (conflict !== 0) throw rsvConflict(conflict, this._names, this._names[index])
      if (session.activate(params) !== true) {
        throw new Error('Server sent unacceptable extension parameters: ' + serializeParams(name, params))
      }
      native.containerReserve(container, index)
      cells.push(cell(this._extensions[index], session))
      active.push(index)
    }
    this._setPipeline(cells, active)
  }

  /**
   * @param {string | null | undefined} header
   * @returns {string | null}
   */
  generateResponse (header) {
    if (this._extensions.length === 0) {
      // Nothing registered: the header is only checked.
      const text = headerText(header)
      if (text !== '' && !native.isValidHeader(text)) throw invalidHeader(header)
      this._setPipeline([], [])
      return null
    }
    // A first negotiation of a server whose only extension is this
    // package's deflate: one native call (see _respondDeflate). Any other
    // (a second negotiation, other extensions) goes step by step.
    if (this._extensions.length === 1 && this._container === null && this._laterAccepted < 0) {
      const config = nativeConfig(this._extensions[0])
      if (config !== null) return this._respondDeflate(header, config)
    }
    const container = this._native()
    const plan = native.containerPlanResponse(container, headerText(header))
    if (typeof plan !== 'string') throw invalidHeader(header)
    /** @type {Cell[]} */
    const cells = []
    /** @type {number[]} */
    const active = []
    /** @type {Array<string | null>} */
    const response = []
    for (const [index, offers] of /** @type {Array<[number, Params[]]>} */ (JSON.parse(plan))) {
      // Take the extension's bits first (one native call instead of a check
      // and a take); give them back if no session comes of it.
      if (native.containerReserve(container, index) !== 0) continue
      const ext = this._extensions[index]
      let session
      try {
        session = ext.createServerSession(offers, this._options)
      } finally {
        if (!session) native.containerUnreserve(container, index)
      }
      if (!session) continue
      const entry = cell(ext, session)
      cells.push(entry)
      active.push(index)
      // This package's deflate serializes its response natively, in one call.
      response.push(entry.codec === null
        ? serializeParams(ext.name, session.generateResponse())
        : native.deflateResponseLine(entry.codec, ext.name))
    }
    this._setPipeline(cells, active)
    return response.length > 0 ? response.join(', ') : null
  }

  // The first generateResponse of a server whose only registered extension
  // is this package's deflate: the whole negotiation is one native call
  // (containerRespondDeflate; the rules are Container::respond_deflate in
  // core/src/container.rs), which makes no native state. It answers with the
  // response and the accepted parameters packed in one number; the state
  // (RSV bits taken, the session held for the first message, heldCell) is
  // made from that number when first needed (_native), so a connection
  // closed before any message costs one native call and nothing to free.
  /**
   * @param {string | null | undefined} header
   * @param {DeflateExtension} config
   * @returns {string | null}
   */
  _respondDeflate (header, config) {
    const number = configNumber(config)
    const response = native.containerRespondDeflate(this._names[0], this._firstRsv, ACCEPTED, headerText(header), number)
    if (typeof response !== 'string') return this._noResponse(header, response)
    // _native makes the state from the accepted parameters when first
    // needed.
    this._laterAccepted = ACCEPTED[0]
    this._laterConfig = number
    this._laterMaxLength = maxLengthOf(this._options)
    this._setRsv(this._firstRsv)
    this._pipeline.setup(null, [heldCell(this._extensions[0])])
    return response
  }

  // An invalid header (ERROR_INVALID_HEADER) throws; with nothing
  // negotiated (0) messages pass through.
  /**
   * @param {unknown} header
   * @param {number} code
   * @returns {null}
   */
  _noResponse (header, code) {
    if (code !== 0) throw invalidHeader(header)
    this._setRsv(0)
    this._pipeline.setup(this._container, [])
    return null
  }

  /**
   * @param {Cell[]} cells
   * @param {number[]} active
   */
  _setPipeline (cells, active) {
    this._setRsv(this._container === null ? 0 : native.containerSetPipeline(this._container, active))
    this._pipeline.setup(this._container, cells)
  }

  // `allowed`: the RSV bits message frames may carry (bit 0 for RSV1).
  /** @param {number} allowed */
  _setRsv (allowed) {
    this._rsv1 = (allowed & 1) !== 0
    this._rsv2 = (allowed & 2) !== 0
    this._rsv3 = (allowed & 4) !== 0
  }

  // Runs once per received frame, so it stays in JavaScript: the allowed
  // bits were computed by the core when the pipeline was set up, and a
  // native call here would cost forty times what the check does.
  /** @param {Frame} frame */
  validFrameRsv (frame) {
    const opcode = frame.opcode
    if (opcode === 1 || opcode === 2) {
      return (this._rsv1 || !frame.rsv1) && (this._rsv2 || !frame.rsv2) && (this._rsv3 || !frame.rsv3)
    }
    return !frame.rsv1 && !frame.rsv2 && !frame.rsv3
  }

  /**
   * @param {unknown} message
   * @param {Callback} callback
   * @param {unknown} [context]
   */
  processIncomingMessage (message, callback, context) {
    this._pipeline.process(INCOMING, message, callback, context)
  }

  /**
   * @param {unknown} message
   * @param {Callback} callback
   * @param {unknown} [context]
   */
  processOutgoingMessage (message, callback, context) {
    this._pipeline.process(OUTGOING, message, callback, context)
  }

  /**
   * @param {(this: unknown) => void} [callback]
   * @param {unknown} [context]
   */
  close (callback, context) {
    this._offered = NONE_OFFERED
    this._pipeline.close(callback, context)
  }
}

Extensions.MESSAGE_OPCODES = [1, 2]

module.exports = Extensions
