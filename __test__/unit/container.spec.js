'use strict'

// SPEC 3: the container: options, add, generateOffer, activate, generateResponse,
// validFrameRsv.

const assert = require('assert/strict')
const { Extensions } = require('../support/impl')
const { extension, taggingSession, sendSync } = require('../support')

const throwsExactly = (fn, ErrorClass, message) => {
  assert.throws(fn, (error) => {
    assert.equal(error.constructor, ErrorClass, `${ErrorClass.name} expected, got ${error}`)
    assert.equal(error.message, message)
    return true
  })
}

// A client container that has made its offer for `exts`.
const offered = (...exts) => {
  const container = new Extensions()
  for (const ext of exts) container.add(ext)
  container.generateOffer()
  return container
}

// The path an outgoing and an incoming message take through the pipeline.
const paths = (container) => ({
  outgoing: sendSync(container, 'outgoing', []).message,
  incoming: sendSync(container, 'incoming', []).message
})

const frame = (opcode, rsv1 = false, rsv2 = false, rsv3 = false) => ({ opcode, rsv1, rsv2, rsv3 })

describe('new Extensions(options)', () => {
  it('accepts no options and { maxLength }', () => {
    /* eslint-disable no-new -- constructing without a throw is the test */
    new Extensions()
    new Extensions(null)
    new Extensions({ maxLength: 1 << 20 })
    /* eslint-enable no-new */
  })

  it('throws Error("Unrecognized option: " + key) for any other option', () => {
    throwsExactly(() => new Extensions({ maxLength: 1, level: 9 }), Error, 'Unrecognized option: level')
  })

  it('passes the same options object to every session factory call', () => {
    const options = { maxLength: 1000 }
    const seen = []
    const record = (name) => extension(name, {
      createClientSession: (opts) => { seen.push(opts); return taggingSession(name) },
      createServerSession: (offers, opts) => { seen.push(opts); return taggingSession(name) }
    })

    const client = new Extensions(options)
    client.add(record('a'))
    client.add(record('b'))
    client.generateOffer()

    const server = new Extensions(options)
    server.add(record('a'))
    server.add(record('b'))
    server.generateResponse('a, b')

    assert.equal(seen.length, 4)
    for (const opts of seen) assert.equal(opts, options)
  })

  it('without options the factories receive {}, the same object every time', () => {
    const seen = []
    const container = new Extensions()
    for (const name of ['a', 'b']) {
      container.add(extension(name, {
        createClientSession: (opts) => { seen.push(opts); return taggingSession(name) }
      }))
    }
    container.generateOffer()
    container.generateOffer()
    assert.equal(seen.length, 4)
    assert.deepEqual(seen[0], {})
    for (const opts of seen) assert.equal(opts, seen[0])
  })
})

describe('add(ext)', () => {
  it('checks name, type, rsv1, rsv2, rsv3 then uniqueness, in that order', () => {
    const container = new Extensions()
    const ext = { name: 7, type: 'other', rsv1: 1, rsv2: 'yes', rsv3: null }
    const steps = [
      ['name', 'a', 'extension.name must be a string'],
      ['type', 'permessage', 'extension.type must be "permessage"'],
      ['rsv1', true, 'extension.rsv1 must be true or false'],
      ['rsv2', false, 'extension.rsv2 must be true or false'],
      ['rsv3', false, 'extension.rsv3 must be true or false']
    ]
    for (const [field, fix, message] of steps) {
      throwsExactly(() => container.add(ext), TypeError, message)
      ext[field] = fix
    }
    container.add(ext)
    throwsExactly(() => container.add({ ...ext }), TypeError,
      'An extension with name "a" is already registered')
  })

  it('the name must be a primitive string', () => {
    // eslint-disable-next-line no-new-wrappers -- a boxed string is one of the cases
    for (const name of [undefined, null, 1, new String('a'), ['a']]) {
      throwsExactly(() => new Extensions().add(extension('x', { name })), TypeError,
        'extension.name must be a string')
    }
  })

  it('the type must be exactly "permessage"', () => {
    for (const type of [undefined, 'Permessage', 'permessage ', 'per-frame']) {
      throwsExactly(() => new Extensions().add(extension('a', { type })), TypeError,
        'extension.type must be "permessage"')
    }
  })

  for (const bit of ['rsv1', 'rsv2', 'rsv3']) {
    it(`${bit} must be a boolean`, () => {
      // eslint-disable-next-line no-new-wrappers -- a boxed boolean is one of the cases
      for (const value of [undefined, null, 0, 1, 'true', new Boolean(true)]) {
        throwsExactly(() => new Extensions().add(extension('a', { [bit]: value })), TypeError,
          `extension.${bit} must be true or false`)
      }
      new Extensions().add(extension('a', { [bit]: true }))
      new Extensions().add(extension('a', { [bit]: false }))
    })
  }

  it('a rejected duplicate leaves the first registration in place', () => {
    const container = new Extensions()
    container.add(extension('a', { createClientSession: () => ({ generateOffer: () => ({ first: true }) }) }))
    assert.throws(() => container.add(extension('a', {
      createClientSession: () => ({ generateOffer: () => ({ second: true }) })
    })), TypeError)
    assert.equal(container.generateOffer(), 'a; first')
  })

  it('keeps registration order', () => {
    const container = new Extensions()
    for (const name of ['c', 'a', 'b']) container.add(extension(name))
    assert.equal(container.generateOffer(), 'c, a, b')
  })
})

describe('generateOffer()', () => {
  it('returns null when no extension is registered', () => {
    assert.equal(new Extensions().generateOffer(), null)
  })

  it('serializes each session\'s offer under the extension name, joined with ", "', () => {
    const container = new Extensions()
    container.add(extension('a', {
      createClientSession: () => ({ generateOffer: () => ({ x: 1, flag: true, s: 'yz' }) })
    }))
    container.add(extension('b', { createClientSession: () => ({ generateOffer: () => ({}) }) }))
    assert.equal(container.generateOffer(), 'a; x=1; flag; s=yz, b')
  })

  it('an array of params objects gives one offer each, in order', () => {
    const container = new Extensions()
    container.add(extension('a', {
      createClientSession: () => ({ generateOffer: () => [{ x: 2 }, { x: 1 }, {}] })
    }))
    container.add(extension('b'))
    assert.equal(container.generateOffer(), 'a; x=2, a; x=1, a, b')
  })

  it('skips extensions whose createClientSession returns a falsy value', () => {
    for (const none of [null, undefined, false, 0, '']) {
      const container = new Extensions()
      container.add(extension('a', { createClientSession: () => none }))
      container.add(extension('b'))
      assert.equal(container.generateOffer(), 'b')
    }
  })

  it('a falsy offer or an empty array means no offer from that session', () => {
    for (const none of [null, undefined, false, []]) {
      const container = new Extensions()
      container.add(extension('a', { createClientSession: () => ({ generateOffer: () => none }) }))
      container.add(extension('b'))
      assert.equal(container.generateOffer(), 'b')
    }
  })

  it('returns null when no session makes an offer', () => {
    const container = new Extensions()
    container.add(extension('a', { createClientSession: () => null }))
    container.add(extension('b', { createClientSession: () => ({ generateOffer: () => null }) }))
    assert.equal(container.generateOffer(), null)
  })

  it('looks createClientSession and generateOffer up when it calls them', () => {
    const ext = extension('a')
    const container = new Extensions()
    container.add(ext)
    const session = { generateOffer: () => ({ old: true }) }
    ext.createClientSession = () => session
    session.generateOffer = () => ({ replaced: true })
    assert.equal(container.generateOffer(), 'a; replaced')
  })
})

describe('activate(header)', () => {
  it('throws the SyntaxError for an invalid header', () => {
    const container = offered(extension('a'))
    throwsExactly(() => container.activate('a;'), SyntaxError,
      'Invalid Sec-WebSocket-Extensions header: a;')
  })

  it('passes each response\'s params to the offered session\'s activate', () => {
    const seen = []
    const container = offered(extension('a', {
      createClientSession: () => ({ ...taggingSession('a'), activate: (params) => { seen.push({ ...params }); return true } })
    }))
    container.activate('a; x=1; y; z="w v"')
    assert.deepEqual(seen, [{ x: 1, y: true, z: 'w v' }])
  })

  it('throws for a response naming an extension that was not offered', () => {
    const container = offered(extension('a'))
    throwsExactly(() => container.activate('a, b'), Error,
      'Server sent an extension response for unknown extension "b"')
  })

  it('an extension whose client session was falsy counts as not offered', () => {
    const container = offered(extension('a', { createClientSession: () => null }))
    throwsExactly(() => container.activate('a'), Error,
      'Server sent an extension response for unknown extension "a"')
  })

  it('throws when activate returns anything but true', () => {
    for (const answer of [false, undefined, null, 1, 'true', {}]) {
      const container = offered(extension('a', {
        createClientSession: () => ({ ...taggingSession('a'), activate: () => answer })
      }))
      throwsExactly(() => container.activate('a; x=1; y'), Error,
        'Server sent unacceptable extension parameters: a; x=1; y')
    }
  })

  describe('RSV bits', () => {
    const conflict = (bit, holder, name) =>
      `Server sent two extension responses that use the RSV${bit} bit: "${holder}" and "${name}"`

    it('two responses using the same bit conflict', () => {
      const container = offered(extension('a', { rsv1: true }), extension('b', { rsv1: true }))
      throwsExactly(() => container.activate('a, b'), Error, conflict(1, 'a', 'b'))
    })

    it('the bits are checked in the order 1, 2, 3', () => {
      let container = offered(extension('a', { rsv2: true, rsv3: true }), extension('b', { rsv2: true, rsv3: true }))
      throwsExactly(() => container.activate('a, b'), Error, conflict(2, 'a', 'b'))

      container = offered(extension('a', { rsv1: true, rsv3: true }), extension('b', { rsv3: true }))
      throwsExactly(() => container.activate('a, b'), Error, conflict(3, 'a', 'b'))

      container = offered(extension('a', { rsv2: true }), extension('b', { rsv1: true }),
        extension('c', { rsv1: true, rsv2: true }))
      throwsExactly(() => container.activate('a, b, c'), Error, conflict(1, 'b', 'c'))
    })

    it('the holder named is the response that took the bit first', () => {
      const container = offered(extension('a', { rsv1: true }), extension('b', { rsv1: true }))
      throwsExactly(() => container.activate('b, a'), Error, conflict(1, 'b', 'a'))
    })

    it('the same name twice conflicts with itself', () => {
      const container = offered(extension('a', { rsv3: true }))
      throwsExactly(() => container.activate('a, a'), Error, conflict(3, 'a', 'a'))
    })

    it('the conflict is reported before the session is asked to activate', () => {
      let asked = false
      const container = offered(extension('a', { rsv1: true }), extension('b', {
        rsv1: true,
        createClientSession: () => ({ ...taggingSession('b'), activate: () => { asked = true; return false } })
      }))
      throwsExactly(() => container.activate('a, b'), Error, conflict(1, 'a', 'b'))
      assert.equal(asked, false)
    })

    it('extensions that use no bit or different bits never conflict', () => {
      const container = offered(extension('a'), extension('b'), extension('c', { rsv1: true }),
        extension('d', { rsv2: true }), extension('e', { rsv3: true }))
      container.activate('a, b, c, d, e')
      assert.deepEqual(paths(container).outgoing, ['a', 'b', 'c', 'd', 'e'])
    })
  })

  it('the pipeline follows the order of the server\'s response, not of registration', () => {
    const container = offered(extension('a'), extension('b'), extension('c'))
    container.activate('c, a, b')
    assert.deepEqual(paths(container), { outgoing: ['c', 'a', 'b'], incoming: ['b', 'a', 'c'] })
  })

  it('only the extensions in the response join the pipeline', () => {
    const container = offered(extension('a'), extension('b'), extension('c'))
    container.activate('b')
    assert.deepEqual(paths(container), { outgoing: ['b'], incoming: ['b'] })
  })

  it('an undefined response sets up an empty pipeline', () => {
    const container = offered(extension('a', { rsv1: true }))
    container.activate(undefined)
    assert.deepEqual(paths(container), { outgoing: [], incoming: [] })
    assert.equal(container.validFrameRsv(frame(1, true)), false)
  })
})

describe('generateResponse(header)', () => {
  it('throws the SyntaxError for an invalid offer', () => {
    const container = new Extensions()
    container.add(extension('a'))
    throwsExactly(() => container.generateResponse('a; b="'), SyntaxError,
      'Invalid Sec-WebSocket-Extensions header: a; b="')
  })

  it('returns null when no registered extension is offered', () => {
    const container = new Extensions()
    container.add(extension('a'))
    assert.equal(container.generateResponse('b, c'), null)
    assert.equal(new Extensions().generateResponse('a'), null)
    const other = new Extensions()
    other.add(extension('a'))
    assert.equal(other.generateResponse(undefined), null)
  })

  it('calls createServerSession with every offer by that name in header order, and the options', () => {
    const options = { maxLength: 9 }
    const seen = []
    const container = new Extensions(options)
    container.add(extension('a', {
      createServerSession: (offers, opts) => {
        seen.push([offers.map((params) => ({ ...params })), opts])
        return taggingSession('a')
      }
    }))
    container.generateResponse('a; x=1, b; y, a, a; x=2; z="q r"')
    assert.equal(seen.length, 1)
    assert.ok(Array.isArray(seen[0][0]))
    assert.deepEqual(seen[0][0], [{ x: 1 }, {}, { x: 2, z: 'q r' }])
    assert.equal(seen[0][1], options)
  })

  it('does not create a session for an extension that was not offered', () => {
    let created = false
    const container = new Extensions()
    container.add(extension('a'))
    container.add(extension('b', { createServerSession: () => { created = true } }))
    assert.equal(container.generateResponse('a'), 'a')
    assert.equal(created, false)
  })

  it('serializes each session\'s generateResponse() under the extension name', () => {
    const container = new Extensions()
    container.add(extension('a', {
      createServerSession: () => ({ ...taggingSession('a'), generateResponse: () => ({ x: 15, y: true, s: 'pq' }) })
    }))
    container.add(extension('b'))
    assert.equal(container.generateResponse('a, b'), 'a; x=15; y; s=pq, b')
  })

  it('answers in registration order and builds the pipeline in that order', () => {
    const container = new Extensions()
    for (const name of ['a', 'b', 'c']) container.add(extension(name))
    assert.equal(container.generateResponse('c, b, a'), 'a, b, c')
    assert.deepEqual(paths(container), { outgoing: ['a', 'b', 'c'], incoming: ['c', 'b', 'a'] })
  })

  it('skips an extension whose RSV bit is already taken', () => {
    let created = false
    const container = new Extensions()
    container.add(extension('a', { rsv1: true }))
    container.add(extension('b', { rsv1: true, createServerSession: () => { created = true; return taggingSession('b') } }))
    container.add(extension('c', { rsv2: true }))
    assert.equal(container.generateResponse('b, c, a'), 'a, c')
    assert.equal(created, false)
    assert.deepEqual(paths(container).outgoing, ['a', 'c'])
  })

  it('skips an extension whose createServerSession returns a falsy value, without taking its bits', () => {
    for (const none of [null, undefined, false, 0]) {
      const container = new Extensions()
      container.add(extension('a', { rsv1: true, createServerSession: () => none }))
      container.add(extension('b', { rsv1: true }))
      assert.equal(container.generateResponse('a, b'), 'b')
      assert.deepEqual(paths(container).outgoing, ['b'])
    }
  })

  it('RSV bits once taken stay taken for the life of the container', () => {
    let created = 0
    const container = new Extensions()
    container.add(extension('a', { rsv1: true, createServerSession: () => { created += 1; return taggingSession('a') } }))
    assert.equal(container.generateResponse('a'), 'a')
    assert.equal(container.generateResponse('a'), null)
    assert.equal(created, 1)
  })

  it('looks createServerSession and the session methods up when it calls them', () => {
    const ext = extension('a')
    const container = new Extensions()
    container.add(ext)
    const session = taggingSession('old')
    ext.createServerSession = () => session
    session.generateResponse = () => ({ replaced: true })
    session.processOutgoingMessage = (message, cb) => cb(null, message.concat('new'))
    assert.equal(container.generateResponse('a'), 'a; replaced')
    assert.deepEqual(sendSync(container, 'outgoing', []).message, ['new'])
    session.processOutgoingMessage = (message, cb) => cb(null, message.concat('newer'))
    assert.deepEqual(sendSync(container, 'outgoing', []).message, ['newer'])
  })
})

describe('validFrameRsv(frame)', () => {
  const server = (...exts) => {
    const container = new Extensions()
    for (const ext of exts) container.add(ext)
    container.generateResponse(exts.map((ext) => ext.name).join(', '))
    return container
  }

  it('with no active extension only frames without RSV bits are valid', () => {
    for (const container of [new Extensions(), server(), server(extension('a'))]) {
      assert.equal(container.validFrameRsv(frame(1)), true)
      assert.equal(container.validFrameRsv(frame(2)), true)
      assert.equal(container.validFrameRsv(frame(1, true)), false)
      assert.equal(container.validFrameRsv(frame(2, false, true)), false)
      assert.equal(container.validFrameRsv(frame(1, false, false, true)), false)
    }
  })

  it('allows on opcodes 1 and 2 the bits an active extension declares, and no others', () => {
    const container = server(extension('a', { rsv1: true }))
    for (const opcode of [1, 2]) {
      assert.equal(container.validFrameRsv(frame(opcode)), true)
      assert.equal(container.validFrameRsv(frame(opcode, true)), true)
      assert.equal(container.validFrameRsv(frame(opcode, true, true)), false)
      assert.equal(container.validFrameRsv(frame(opcode, false, false, true)), false)
    }
  })

  it('allows the union of the bits of all active extensions', () => {
    const container = server(extension('a', { rsv1: true }), extension('b', { rsv3: true }))
    assert.equal(container.validFrameRsv(frame(1, true, false, true)), true)
    assert.equal(container.validFrameRsv(frame(2, false, true, false)), false)
  })

  it('opcodes other than 1 and 2 never allow a bit', () => {
    const container = server(extension('a', { rsv1: true, rsv2: true, rsv3: true }))
    for (const opcode of [0, 3, 7, 8, 9, 10, 15]) {
      assert.equal(container.validFrameRsv(frame(opcode)), true, `opcode ${opcode}`)
      assert.equal(container.validFrameRsv(frame(opcode, true)), false, `opcode ${opcode}`)
      assert.equal(container.validFrameRsv(frame(opcode, false, true)), false, `opcode ${opcode}`)
      assert.equal(container.validFrameRsv(frame(opcode, false, false, true)), false, `opcode ${opcode}`)
    }
  })

  it('counts only activated extensions on the client side', () => {
    const container = offered(extension('a', { rsv1: true }), extension('b', { rsv2: true }))
    container.activate('a')
    assert.equal(container.validFrameRsv(frame(1, true)), true)
    assert.equal(container.validFrameRsv(frame(1, false, true)), false)
  })

  it('reads fields that live on the frame\'s prototype', () => {
    const container = server(extension('a', { rsv2: true }))
    function Frame () {}
    Frame.prototype.opcode = 2
    Frame.prototype.rsv1 = false
    Frame.prototype.rsv2 = true
    Frame.prototype.rsv3 = false
    assert.equal(container.validFrameRsv(new Frame()), true)
    assert.equal(container.validFrameRsv(Object.create(frame(9, false, true))), false)
    assert.equal(container.validFrameRsv(Object.create(frame(1, true))), false)
    assert.equal(container.validFrameRsv(Object.create(frame(1, false, true))), true)
  })
})
