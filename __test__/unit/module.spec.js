'use strict'

// SPEC 1: module shape.

const assert = require('assert/strict')
const { Extensions, itNew } = require('../support/impl')

describe('module shape', () => {
  it('exports the Extensions class itself', () => {
    assert.equal(typeof Extensions, 'function')
    const exts = new Extensions()
    assert.ok(exts instanceof Extensions)
    for (const method of ['add', 'generateOffer', 'activate', 'generateResponse',
      'validFrameRsv', 'processIncomingMessage', 'processOutgoingMessage', 'close']) {
      assert.equal(typeof exts[method], 'function', method)
    }
  })

  it('MESSAGE_OPCODES is [1, 2]', () => {
    assert.deepEqual(Extensions.MESSAGE_OPCODES, [1, 2])
  })

  itNew('require(pkg + "/parser") exports parseHeader and serializeParams', () => {
    const exported = require('websocket-extensions-rs/parser')
    assert.equal(typeof exported.parseHeader, 'function')
    assert.equal(typeof exported.serializeParams, 'function')
    assert.deepEqual(exported.parseHeader('a; b=1').map((o) => [o.name, { ...o.params }]),
      [['a', { b: 1 }]])
    assert.equal(exported.serializeParams('a', { b: 1 }), 'a; b=1')
  })

  describe('validateOptions(options, validKeys)', () => {
    it('returns the options object itself when every key is valid', () => {
      const options = { maxLength: 10, other: true }
      assert.equal(Extensions.validateOptions(options, ['maxLength', 'other']), options)
    })

    it('returns {} for undefined and null', () => {
      assert.deepEqual(Extensions.validateOptions(undefined, ['maxLength']), {})
      assert.deepEqual(Extensions.validateOptions(null, ['maxLength']), {})
    })

    it('throws Error("Unrecognized option: " + key) for the first unknown key', () => {
      assert.throws(
        () => Extensions.validateOptions({ maxLength: 1, foo: 1, bar: 2 }, ['maxLength']),
        (error) => error.constructor === Error && error.message === 'Unrecognized option: foo'
      )
    })

    it('ignores non-enumerable own keys', () => {
      const options = Object.defineProperty({}, 'hidden', { value: 1, enumerable: false })
      assert.equal(Extensions.validateOptions(options, []), options)
    })

    it('works as websocket-driver 0.8.0 calls it, with an empty key list', () => {
      assert.deepEqual(Extensions.validateOptions({}, []), {})
      assert.throws(() => Extensions.validateOptions({ a: 1 }, []), /^Error: Unrecognized option: a$/)
    })
  })
})
