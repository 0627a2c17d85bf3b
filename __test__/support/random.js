'use strict'

// The one seeded generator of the tests, the demo, the soak test and the benchmark's
// corpus. It needs nothing else, so scripts load it without the test runner, and
// browser.spec.js sends its source to the page; the specs take it from support.js.

// A seeded pseudo-random generator (mulberry32): the same seed gives the same numbers on
// every machine, so a failing property case can be run again from its seed.
const random = (seed) => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)]
  }
}

// A number in [0, 1) that depends only on its parts: choices that must not depend on the
// order in which they are made (what a session does with a given message).
const hashed = (...parts) => {
  let h = 0x811c9dc5
  for (const ch of parts.join('|')) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193)
  return random(h).next()
}

module.exports = { random, hashed }
