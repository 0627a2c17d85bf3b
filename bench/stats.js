'use strict'
// Summaries and number formatting shared by the runner and the report.

function median (sorted) {
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

// { samples, min, median, max } of a list of numbers.
function summarize (samples) {
  const sorted = samples.slice().sort((a, b) => a - b)
  return { samples, min: sorted[0], median: median(sorted), max: sorted[sorted.length - 1] }
}

// Three significant digits, thousands separated: 0.0123, 1.23, 123, 12,300.
function num (x) {
  if (!Number.isFinite(x)) return String(x)
  const abs = Math.abs(x)
  if (abs >= 1000) return Math.round(x).toLocaleString('en-US')
  if (abs === 0) return '0'
  const digits = Math.max(0, 2 - Math.floor(Math.log10(abs)))
  return x.toFixed(Math.min(digits, 4))
}

// "min / median / max".
function range (stats) {
  return num(stats.min) + ' / ' + num(stats.median) + ' / ' + num(stats.max)
}

function times (x) {
  return num(x) + 'x'
}

module.exports = { summarize, num, range, times }
