'use strict'
// Sends one 8 MiB message through a pair (it goes to the offload pool) and
// prints deflate.stats().workerThreads before and after.
const { pair, large, deflate } = require('../exit/pairs')

const before = deflate.stats().workerThreads
pair().up(large(1)).then(() => {
  process.stdout.write(JSON.stringify({ before, after: deflate.stats().workerThreads }))
  process.exit(0)
})
