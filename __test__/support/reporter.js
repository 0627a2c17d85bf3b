'use strict'
// mocha's spec reporter, plus one closing line in the plain form CI reads:
// "mocha: N passed, N failed, N skipped".
const Spec = require('mocha/lib/reporters/spec')

class Reporter extends Spec {
  constructor (runner, options) {
    super(runner, options)
    runner.once('end', () => {
      const { passes, failures, pending } = runner.stats
      console.log(`mocha: ${passes} passed, ${failures} failed, ${pending} skipped`)
    })
  }
}

module.exports = Reporter
