// The COS Node.js SDK in its default scheme, https, against a server with a certificate of
// the test CA in fixtures/tls. The SDK has no CA option: a Node.js user with a private CA
// sets NODE_EXTRA_CA_CERTS, which Node reads when it starts — so the SDK calls run in a child
// process started with it (and, to show the CA is what makes them work, once without it).
'use strict';

const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const { after, before, test } = require('node:test');
const { ACCESS_KEY_ID, SECRET_ACCESS_KEY, startServer } = require('./lib/server');

const TLS = path.join(__dirname, 'fixtures', 'tls');
let server;

before(async () => {
  server = await startServer({
    tls: { cert: path.join(TLS, 'cert.pem'), key: path.join(TLS, 'key.pem') },
  });
});

after(async () => {
  await server?.stop();
});

// Runs in the child: PUT, GET, a multipart sliceUploadFile of 3 MiB, printed as JSON.
const CLIENT = `
const COS = require('cos-nodejs-sdk-v5');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const cos = new COS({ SecretId: process.env.AK, SecretKey: process.env.SK, Ip: process.env.IP });
const call = (m, p) => new Promise((res, rej) =>
  cos[m]({ Bucket: 'https-1250000000', Region: 'ap-guangzhou', ...p }, (e, d) => (e ? rej(e) : res(d))));
(async () => {
  await call('putBucket', {});
  const body = Buffer.from('over TLS from Node.js');
  await call('putObject', { Key: 'hello.txt', Body: body });
  const got = await call('getObject', { Key: 'hello.txt' });
  const big = crypto.randomBytes(3 * 1024 * 1024 + 7);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hashscan-tls-')), 'big.bin');
  fs.writeFileSync(file, big);
  const sliced = await call('sliceUploadFile', { Key: 'big.bin', FilePath: file, ChunkSize: 1024 * 1024 });
  const back = await call('getObject', { Key: 'big.bin' });
  fs.rmSync(path.dirname(file), { recursive: true });
  console.log(JSON.stringify({
    get: got.Body.toString(),
    multipart: sliced.ETag,
    same: back.Body.equals(big),
  }));
})().catch((e) => { console.log(JSON.stringify({ error: String(e.code || e.message || e) })); });
`;

function runClient(extraCa) {
  const env = {
    ...process.env,
    AK: ACCESS_KEY_ID,
    SK: SECRET_ACCESS_KEY,
    IP: `127.0.0.1:${server.port}`,
    NODE_PATH: process.env.NODE_PATH || path.join(__dirname, 'node_modules'),
  };
  delete env.NODE_EXTRA_CA_CERTS;
  if (extraCa) env.NODE_EXTRA_CA_CERTS = extraCa;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', CLIENT], { env, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

test('the COS SDK over https, trusting the CA, stores and reads objects and multipart uploads', async () => {
  const out = await runClient(path.join(TLS, 'ca.pem'));
  assert.equal(out.error, undefined, JSON.stringify(out));
  assert.equal(out.get, 'over TLS from Node.js');
  assert.match(out.multipart, /^"[0-9a-f]{32}-4"$/);
  assert.equal(out.same, true);
});

test('without the CA the SDK refuses the server', async () => {
  const out = await runClient(null);
  assert.ok(out.error, JSON.stringify(out));
  assert.match(out.error, /CERT|certificate|self.signed|UNABLE/i);
});
