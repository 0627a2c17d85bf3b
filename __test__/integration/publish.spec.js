'use strict'

// What a release uploads: `npm pack --dry-run` of the main package and of a platform
// package, and the package.json fields a registry page shows. The main package carries
// the JavaScript, the declarations, the install script and the Rust sources it builds
// from where no platform package matches; nothing of the tests, benchmarks, fuzzing,
// docs, examples, CI or build output. Each platform package (npm/<platform>/, as
// `napi create-npm-dirs` made it) carries its addon, README, LICENSE and package.json only.

const assert = require('assert/strict')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { root, packDryRun } = require('./packaging')

const pkg = require('../../package.json')

// Today (0.1.0): 45 files, 546,118 bytes unpacked, 140,195 in the tarball; the Rust
// sources are most of it (core/src about 346 KB). One stray addon would add 1.3-1.6 MB.
const MAIN_UNPACKED_LIMIT = 800 * 1000
// Today, linux-x64-gnu: 3 files (4 with the LICENSE), 1,260,774 bytes unpacked (603,488 packed) with the
// glibc 2.17 build of npm run build:platforms; this machine's own build is 1.6 MB.
const PLATFORM_UNPACKED_LIMIT = 4 * 1000 * 1000

// The fields `napi create-npm-dirs` copies from the main package.json into each platform
// package's; they must agree, so that running it again changes nothing.
const COPIED_FIELDS = ['description', 'keywords', 'author', 'homepage', 'license', 'engines', 'repository', 'bugs']

// napi-rs's platform name of a Rust target triple: the folder under npm/.
const platformOf = (triple) => {
  const [arch, , system, abi] = triple.split('-')
  const cpu = { x86_64: 'x64', aarch64: 'arm64' }[arch]
  if (system === 'darwin') return `darwin-${cpu}`
  if (system === 'windows') return `win32-${cpu}-${abi}`
  return `linux-${cpu}-${abi}`
}

const PLATFORMS = pkg.napi.targets.map(platformOf)

describe('what is published', function () {
  this.timeout(2 * 60 * 1000)

  describe('the main package (npm pack --dry-run)', function () {
    let packed, files

    before(function () {
      packed = packDryRun(root)
      files = packed.files.map((file) => file.path)
    })

    it('holds nothing from tests, benchmarks, fuzzing, docs, examples, scripts but the install script, CI, build output or the platform folders', function () {
      const forbidden = ['__test__/', 'bench/', 'fuzz/', 'docs/', 'examples/', 'target/', '.ci/', '.github/', 'npm/',
        'node_modules/', 'core/tests/', 'core/examples/', 'core/proptest-regressions/']
      const stray = files.filter((file) =>
        forbidden.some((prefix) => file.startsWith(prefix)) ||
        (file.startsWith('scripts/') && file !== pkg.scripts.install.replace(/^node /, '')) ||
        file.endsWith('.node') || file.endsWith('.tgz') || path.basename(file).startsWith('.') ||
        ['tsconfig.json', 'package-lock.json'].includes(file))
      assert.deepEqual(stray, [])
    })

    it('holds only the entry points, lib/, the install script, the Rust build\'s sources, README, LICENSE and CHANGELOG', function () {
      const allowed = [
        /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|index\.js|index\.d\.ts)$/,
        /^lib\/.+\.(js|d\.ts)$/,
        /^scripts\/build\.js$/,
        /^(Cargo\.toml|Cargo\.lock|build\.rs|core\/Cargo\.toml)$/,
        /^(src|core\/src)\/.+\.rs$/
      ]
      assert.deepEqual(files.filter((file) => !allowed.some((pattern) => pattern.test(file))), [])
    })

    it('holds the README and the LICENSE', function () {
      assert.ok(files.includes('README.md'), files.join('\n'))
      assert.ok(files.includes('LICENSE'), files.join('\n'))
    })

    it('holds every file package.json points at: main, types, the exports and typesVersions targets, the install script', function () {
      const named = [pkg.main, pkg.types, pkg.scripts.install.replace(/^node /, '')]
      for (const target of Object.values(pkg.exports)) named.push(target)
      for (const targets of Object.values(pkg.typesVersions['*'])) named.push(...targets)
      for (const file of named.map((name) => name.replace(/^\.\//, ''))) {
        assert.ok(files.includes(file), `${file} is not published`)
      }
    })

    it('holds what a build from source needs: the Cargo manifests and lockfile, build.rs, src/ and core/src/', function () {
      for (const file of ['Cargo.toml', 'Cargo.lock', 'build.rs', 'core/Cargo.toml', 'src/lib.rs', 'core/src/lib.rs']) {
        assert.ok(files.includes(file), `${file} is not published`)
      }
    })

    it(`unpacks to at most ${MAIN_UNPACKED_LIMIT / 1000} kB`, function () {
      const sizes = `${packed.entryCount} files, ${packed.unpackedSize} bytes unpacked, ${packed.size} packed`
      console.log(`      ${packed.name}@${packed.version}: ${sizes}`)
      assert.ok(packed.unpackedSize <= MAIN_UNPACKED_LIMIT, sizes)
    })

    it('package.json has what a registry page shows: repository, homepage, bugs, keywords, license, engines', function () {
      const repository = 'https://github.com/websocket-extensions-rs/websocket-extensions-rs'
      assert.deepEqual(pkg.repository, { type: 'git', url: `git+${repository}.git` })
      assert.equal(pkg.homepage, `${repository}#readme`)
      assert.deepEqual(pkg.bugs, { url: `${repository}/issues` })
      for (const keyword of ['websocket', 'permessage-deflate', 'websocket-extensions', 'faye', 'napi', 'rust', 'compression', 'deflate']) {
        assert.ok(pkg.keywords.includes(keyword), keyword)
      }
      assert.equal(pkg.license, 'MIT')
      assert.deepEqual(pkg.engines, { node: '>=18' })
    })
  })

  describe('the platform packages', function () {
    it('npm/ has one folder per target in napi.targets, and no other', function () {
      const folders = fs.readdirSync(path.join(root, 'npm')).filter((name) => fs.statSync(path.join(root, 'npm', name)).isDirectory())
      assert.deepEqual(folders.sort(), [...PLATFORMS].sort())
    })

    for (const platform of PLATFORMS) {
      it(`npm/${platform}/package.json: its name, the main package's version, the addon as main and only file, os, cpu and libc, and the main package's metadata`, function () {
        const manifest = JSON.parse(fs.readFileSync(path.join(root, 'npm', platform, 'package.json'), 'utf8'))
        const addon = `${pkg.napi.binaryName}.${platform}.node`
        const [system, cpu, abi] = platform.split('-')
        assert.equal(manifest.name, `${pkg.name}-${platform}`)
        assert.equal(manifest.version, pkg.version)
        assert.equal(manifest.main, addon)
        assert.deepEqual(manifest.files, [addon])
        assert.deepEqual(manifest.os, [system])
        assert.deepEqual(manifest.cpu, [cpu])
        if (system === 'linux') assert.deepEqual(manifest.libc, [abi === 'gnu' ? 'glibc' : 'musl'])
        else assert.equal(manifest.libc, undefined)
        for (const field of COPIED_FIELDS) assert.deepEqual(manifest[field], pkg[field], field)
        assert.ok(fs.existsSync(path.join(root, 'npm', platform, 'README.md')), 'README.md')
        // npm packs a LICENSE whatever `files` says; MIT asks for its notice
        // in every copy, and the addon is one.
        assert.deepEqual(fs.readFileSync(path.join(root, 'npm', platform, 'LICENSE')), fs.readFileSync(path.join(root, 'LICENSE')))
      })
    }

    it('npm/linux-x64-gnu packed with an addon (in a copy) holds the addon, README.md, LICENSE and package.json, and nothing else', function () {
      const platform = 'linux-x64-gnu'
      const addon = `${pkg.napi.binaryName}.${platform}.node`
      // The glibc 2.17 build of npm run build:platforms where it ran, else this machine's
      // own build (npm install, npm run build): packing reads the file, it never loads it.
      const source = [path.join(root, 'npm', platform, addon), path.join(root, 'lib', addon)].find((file) => fs.existsSync(file))
      if (!source) this.skip()
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'websocket-extensions-rs-publish-'))
      try {
        for (const file of fs.readdirSync(path.join(root, 'npm', platform))) {
          fs.copyFileSync(path.join(root, 'npm', platform, file), path.join(tmp, file))
        }
        // Whatever else lies in the folder is not published.
        fs.writeFileSync(path.join(tmp, 'stray.txt'), 'not published\n')
        fs.copyFileSync(source, path.join(tmp, addon))
        const packed = packDryRun(tmp)
        assert.deepEqual(packed.files.map((file) => file.path).sort(), ['LICENSE', 'README.md', addon, 'package.json'].sort())
        const sizes = `${packed.entryCount} files, ${packed.unpackedSize} bytes unpacked, ${packed.size} packed (addon from ${path.relative(root, source)})`
        console.log(`      ${packed.name}@${packed.version}: ${sizes}`)
        assert.ok(packed.unpackedSize <= PLATFORM_UNPACKED_LIMIT, sizes)
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true })
      }
    })
  })
})
