#!/usr/bin/env node
// The package's `install` script. Where a prebuilt addon loads (the platform
// package that npm installed from optionalDependencies, e.g.
// websocket-extensions-rs-linux-x64-gnu, or a websocket-extensions-rs.<platform>.node
// beside lib/binding.js), it does nothing and needs no Rust. Otherwise (a git
// checkout, a platform without a prebuilt package, a tarball installed without
// its platform package) it builds the addon from source with cargo and places
// it beside lib/binding.js as websocket-extensions-rs.<platform>.node, the name
// the loader that `napi build --platform` generated (lib/binding.js) looks for
// first.
// `--force` builds from source regardless.
'use strict'

const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.resolve(__dirname, '..')
const force = process.argv.includes('--force')
// Installed as a dependency rather than checked out.
const installed = root.split(path.sep).includes('node_modules')

// napi-rs's name for this platform (its `platformArchABI`): linux-x64-gnu,
// linux-arm64-musl, darwin-arm64, win32-x64-msvc, ...
function platformArchAbi () {
  const { platform, arch } = process
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform !== 'linux') return `${platform}-${arch}`
  const report = process.report && process.report.getReport()
  const glibc = report && report.header && report.header.glibcVersionRuntime
  return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
}

// The loader and the addon it looks for first, as `npm run build` writes them.
const loader = path.join(root, 'lib', 'binding.js')
const target = path.join(root, 'lib', `websocket-extensions-rs.${platformArchAbi()}.node`)

// Whether the generated loader finds an addon that loads here.
function prebuiltLoads () {
  try {
    require(loader)
    return true
  } catch {
    return false
  }
}

function newestSource (dir) {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    const time = entry.isDirectory() ? newestSource(file) : fs.statSync(file).mtimeMs
    if (time > newest) newest = time
  }
  return newest
}

function upToDate () {
  if (!fs.existsSync(target)) return false
  const built = fs.statSync(target).mtimeMs
  const sources = [path.join(root, 'Cargo.toml'), path.join(root, 'build.rs')]
    .filter((f) => fs.existsSync(f))
    .map((f) => fs.statSync(f).mtimeMs)
  const dirs = ['src', 'core'].map((d) => path.join(root, d)).filter((d) => fs.existsSync(d))
  return Math.max(...dirs.map(newestSource), ...sources) <= built
}

if (!force && (installed ? prebuiltLoads() : upToDate())) process.exit(0)

const cargo = process.env.CARGO || 'cargo'
const probe = spawnSync(cargo, ['--version'], { encoding: 'utf8' })
if (probe.error || probe.status !== 0) {
  process.stderr.write([
    '',
    'websocket-extensions-rs: cannot build the native addon: Rust\'s `cargo` was not found.',
    `There is no prebuilt addon for ${platformArchAbi()} here, so \`npm install\` compiles it and needs a Rust toolchain`,
    '(stable, 1.80 or newer). Install it from https://rustup.rs (or your system\'s',
    'package manager), make sure `cargo` is on PATH (or set CARGO=/path/to/cargo),',
    'then run `npm install` again.',
    ''
  ].join('\n'))
  process.exit(1)
}

// Installed as a dependency, the build's intermediate files (some 400 MB)
// would stay inside node_modules: build in a temporary directory instead and
// remove it once the addon is copied out. In a checkout, target/ is kept so
// rebuilds are quick.
const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(root, process.env.CARGO_TARGET_DIR)
  : installed
    ? fs.mkdtempSync(path.join(require('os').tmpdir(), 'websocket-extensions-rs-build-'))
    : path.join(root, 'target')
const args = ['build', '--release', '--lib', '--target-dir', targetDir]
if (fs.existsSync(path.join(root, 'Cargo.lock'))) args.push('--locked')
console.log(`websocket-extensions-rs: building the native addon (${cargo} ${args.join(' ')})`)
const build = spawnSync(cargo, args, { cwd: root, stdio: 'inherit' })
const temporary = installed && !process.env.CARGO_TARGET_DIR
if (build.status !== 0) {
  if (temporary) fs.rmSync(targetDir, { recursive: true, force: true })
  process.stderr.write('\nwebsocket-extensions-rs: cargo build failed (output above).\n')
  process.exit(build.status || 1)
}

const names = {
  linux: 'libwebsocket_extensions_rs.so',
  darwin: 'libwebsocket_extensions_rs.dylib',
  win32: 'websocket_extensions_rs.dll'
}
const lib = path.join(targetDir, 'release', names[process.platform] || names.linux)
// Copy to a temporary name and rename: a process that has the old addon
// loaded keeps its mapping, and nobody sees a half-written file.
fs.copyFileSync(lib, target + '.tmp')
fs.renameSync(target + '.tmp', target)
if (temporary) fs.rmSync(targetDir, { recursive: true, force: true })
console.log('websocket-extensions-rs: built ' + path.relative(root, target))
