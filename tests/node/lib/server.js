// One `hashscan serve` child process on an ephemeral loopback port with a fresh data dir, as
// the Python SDK suite starts it (tests/sdk/conftest.py), and a loopback file server.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const ACCESS_KEY_ID = 'AKIDhashscanTEST0000000000000000000';
const SECRET_ACCESS_KEY = 'hashscanSecretKeyForSdkTests0001';
const READY_TIMEOUT_MS = 30000;

function binary() {
  if (process.env.HASHSCAN_BIN) return process.env.HASHSCAN_BIN;
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const target = process.env.CARGO_TARGET_DIR || path.join(cache, 'hashscan-target');
  return path.join(target, 'debug', 'hashscan');
}

/**
 * With HASHSCAN_SDK_SHARED=1 (under scripts/with-services): the server's flags and variables
 * for a fresh PostgreSQL database and S3 prefix on the shared services, as the Python suite
 * does (tests/sdk/conftest.py).
 */
function sharedStores() {
  if (process.env.HASHSCAN_SDK_SHARED !== '1') return { args: [], env: {} };
  const admin = process.env.HASHSCAN_TEST_POSTGRES;
  const bucket = process.env.HASHSCAN_TEST_S3;
  if (!admin || !bucket) {
    throw new Error('HASHSCAN_SDK_SHARED=1 needs scripts/with-services (HASHSCAN_TEST_POSTGRES, HASHSCAN_TEST_S3)');
  }
  const name = `node${crypto.randomUUID().replaceAll('-', '')}`;
  execFileSync(path.join(process.env.HASHSCAN_PG_BIN, 'psql'), ['-X', '-q', '-d', admin, '-c', `CREATE DATABASE ${name}`]);
  return {
    args: ['--meta-url', `${admin.slice(0, admin.lastIndexOf('/'))}/${name}`, '--blobs-url', `${bucket}/${name}`],
    env: {
      AWS_ENDPOINT_URL: process.env.HASHSCAN_TEST_S3_ENDPOINT,
      AWS_ACCESS_KEY_ID: process.env.HASHSCAN_TEST_S3_KEY_ID,
      AWS_SECRET_ACCESS_KEY: process.env.HASHSCAN_TEST_S3_SECRET,
      AWS_REGION: process.env.HASHSCAN_TEST_S3_REGION || 'garage',
      AWS_ALLOW_HTTP: 'true',
    },
  };
}

/**
 * Starts a server; resolves to { port, url, stop(), stderr() }. `options.tls`
 * ({ cert, key }: PEM paths) makes the port speak https.
 */
async function startServer(options = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hashscan-node-'));
  const dataDir = path.join(root, 'data');
  fs.mkdirSync(dataDir);
  const shared = sharedStores();
  const env = {
    ...process.env,
    ...shared.env,
    HASHSCAN_ACCESS_KEY_ID: ACCESS_KEY_ID,
    HASHSCAN_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    // The tests' file server listens on loopback.
    HASHSCAN_FETCH_ALLOW_PRIVATE: '1',
    RUST_LOG: process.env.RUST_LOG || 'info',
  };
  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...shared.args];
  if (options.tls) args.push('--tls-cert', options.tls.cert, '--tls-key', options.tls.key);
  const child = spawn(binary(), args, { env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const errLines = [];
  readline.createInterface({ input: child.stderr }).on('line', (l) => {
    errLines.push(l);
    if (errLines.length > 400) errLines.shift();
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`hashscan did not start within ${READY_TIMEOUT_MS} ms:\n${errLines.join('\n')}`)),
      READY_TIMEOUT_MS,
    );
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hashscan exited with ${code}:\n${errLines.join('\n')}`));
    });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^listening on https?:\/\/127\.0\.0\.1:(\d+)$/.exec(line.trim());
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return {
    port,
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    stderr: () => errLines.join('\n'),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.removeAllListeners('exit');
        child.on('exit', () => {
          fs.rmSync(root, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10000).unref();
      }),
  };
}

/** A loopback HTTP server of `files` (path -> Buffer); 404 otherwise. */
async function startFileServer() {
  const files = new Map();
  const server = http.createServer((req, res) => {
    const body = files.get(req.url.split('?')[0]);
    if (!body) {
      res.writeHead(404, { 'content-length': 0 }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    serve: (p, body) => {
      files.set(p, body);
      return `http://127.0.0.1:${port}${p}`;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Polls `get` until `done(answer)`; the last answer. */
async function poll(get, done, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await get();
    if (done(answer) || Date.now() > deadline) return answer;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// EICAR, assembled here so that no scanner of this repository's files ever sees it whole.
const EICAR = Buffer.concat([
  Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$'),
  Buffer.from('EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'),
]);
const WEBSHELL = Buffer.from("<?php @eval($_POST['cmd']);?>\n");

module.exports = {
  ACCESS_KEY_ID,
  SECRET_ACCESS_KEY,
  EICAR,
  WEBSHELL,
  poll,
  startFileServer,
  startServer,
};
