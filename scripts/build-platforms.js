#!/usr/bin/env node
// `npm run build:platforms [-- target...]`: builds the Linux platform packages
// that this machine can build into npm/<platform>/, ready for `npm pack`:
// x86_64 and aarch64, glibc and musl. The glibc builds link against glibc 2.17
// (cargo-zigbuild's `<target>.2.17`), so they load on distributions as old as
// CentOS 7; the script checks the symbol versions it needs. macOS and Windows
// are built by .github/workflows/release.yml on their own runners.
//
// Needs: rustup and cargo, make, python3 with pip (for zig, from PyPI's
// `ziglang`), readelf. Installs what is missing: the Rust targets, zig and
// cargo-zigbuild (`cargo install cargo-zigbuild --locked`, once).
// Builds run under `nice` in target/cross, so they do not take the lock of the
// working tree's target/ directory.
'use strict'

const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.resolve(__dirname, '..')
const pkg = require('../package.json')
const binaryName = pkg.napi.binaryName
const targetDir = path.join(root, 'target', 'cross')

// Rust target, the glibc version to link against (none for musl), and
// napi-rs's platform name, which is the folder under npm/ and the file's
// middle name.
const TARGETS = [
  { triple: 'x86_64-unknown-linux-gnu', glibc: '2.17', platform: 'linux-x64-gnu' },
  { triple: 'aarch64-unknown-linux-gnu', glibc: '2.17', platform: 'linux-arm64-gnu' },
  { triple: 'x86_64-unknown-linux-musl', platform: 'linux-x64-musl' },
  { triple: 'aarch64-unknown-linux-musl', platform: 'linux-arm64-musl' }
]

const run = (command, args, options = {}) => {
  console.log(`$ ${command} ${args.join(' ')}`)
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options })
  if (result.error) throw result.error
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}`)
}

const works = (command, args) => {
  const result = spawnSync(command, args, { encoding: 'utf8' })
  return !result.error && result.status === 0
}

const wanted = process.argv.slice(2)
for (const name of wanted) {
  if (!TARGETS.some((t) => t.triple === name || t.platform === name)) {
    console.error(`build-platforms: unknown target ${name}; known: ${TARGETS.map((t) => t.triple).join(', ')}`)
    process.exit(2)
  }
}
const targets = wanted.length
  ? TARGETS.filter((t) => wanted.includes(t.triple) || wanted.includes(t.platform))
  : TARGETS

const started = Date.now()

run('rustup', ['target', 'add', ...targets.map((t) => t.triple)])
// zig from PyPI's ziglang, put on PATH: cargo-zigbuild would otherwise start
// it as `python3 -m ziglang` for every C file (jemalloc has many).
const env = { ...process.env }
if (!works('zig', ['version'])) {
  const zigDir = () => spawnSync('python3', ['-c', 'import os, ziglang; print(os.path.dirname(ziglang.__file__))'], { encoding: 'utf8' })
  let found = zigDir()
  if (found.status !== 0) {
    run('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', 'ziglang'])
    found = zigDir()
  }
  env.PATH = found.stdout.trim() + path.delimiter + env.PATH
}
if (!works('cargo-zigbuild', ['--version'])) {
  run('nice', ['-n', '10', 'cargo', 'install', 'cargo-zigbuild', '--locked'])
}

const libName = `lib${pkg.name.replace(/-/g, '_')}.so`
const built = []
for (const target of targets) {
  const t0 = Date.now()
  const zigTarget = target.glibc ? `${target.triple}.${target.glibc}` : target.triple
  // jemalloc is built for a page size; 64 KiB pages (2^16) also work on
  // kernels with 4 KiB and 16 KiB pages, and aarch64 kernels come with any.
  if (target.triple.startsWith('aarch64')) env.JEMALLOC_SYS_WITH_LG_PAGE = '16'
  else delete env.JEMALLOC_SYS_WITH_LG_PAGE
  // Rust links musl statically by default, and a static C runtime cannot be
  // a shared library (cdylib): link it dynamically, as Node on musl does.
  if (target.triple.endsWith('musl')) {
    env[`CARGO_TARGET_${target.triple.toUpperCase().replace(/-/g, '_')}_RUSTFLAGS`] = '-C target-feature=-crt-static'
  }
  run('nice', ['-n', '10', 'cargo', 'zigbuild', '--release', '--lib', '--locked',
    '--target', zigTarget, '--target-dir', targetDir], { env })

  const lib = path.join(targetDir, target.triple, 'release', libName)
  const dir = path.join(root, 'npm', target.platform)
  const file = path.join(dir, `${binaryName}.${target.platform}.node`)
  if (!fs.existsSync(path.join(dir, 'package.json'))) {
    throw new Error(`${dir}/package.json is missing: run \`npx napi create-npm-dirs\``)
  }
  fs.copyFileSync(lib, file)

  if (target.glibc) {
    const symbols = spawnSync('readelf', ['--wide', '--dyn-syms', file], { encoding: 'utf8' })
    if (symbols.status !== 0) throw new Error(`readelf failed on ${file}: ${symbols.stderr}`)
    const versions = [...new Set(symbols.stdout.match(/GLIBC_[0-9.]+/g) || [])]
    const newer = versions.filter((v) => compareVersions(v.slice(6), target.glibc) > 0)
    if (newer.length) throw new Error(`${file} needs ${newer.join(', ')}, newer than glibc ${target.glibc}`)
    const newest = versions.sort((a, b) => compareVersions(a.slice(6), b.slice(6))).pop()
    built.push(`${path.relative(root, file)}: ${kib(file)}, newest symbol version ${newest} (<= ${target.glibc}), ${seconds(t0)}`)
  } else {
    built.push(`${path.relative(root, file)}: ${kib(file)}, ${seconds(t0)}`)
  }
}

console.log(`build-platforms: built ${built.length} in ${seconds(started)}`)
for (const line of built) console.log('  ' + line)

function compareVersions (a, b) {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0)
    if (d) return d
  }
  return 0
}

function kib (file) {
  return `${Math.round(fs.statSync(file).size / 1024)} KiB`
}

function seconds (since) {
  return `${((Date.now() - since) / 1000).toFixed(0)} s`
}
