'use strict'
// Issue 16: a process that ends with deflate sessions in a given state.
//
//   node __test__/exit/child.js <state> <ending> [code]
//
// <state>: a name of pairs.js's `states` (live20, live1, resting, restAfter,
// largeOut, largeIn, halfClosed, held, deferred, dropped, closed, mixed).
// <ending>: exit (process.exit(code) right after the state is set up, and
// after fire() sent its large message, in the same turn), immediate (the
// same from a setImmediate), natural (the event loop ends by itself), throw
// (an uncaught exception), sigterm (a SIGTERM handler that exits with 0, the
// process signalling itself).

const { run } = require('./pairs')

const [state, ending, code = '0'] = process.argv.slice(2)
run(state, ending, Number(code))
