// The official Volcengine Node.js OpenAPI client (`@volcengine/openapi`, `Service` with
// `createJSONAPI`) against hashscan's nta dialect. Its signer leaves `host` out of the signed
// headers, as Volcengine's gateway allows.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { after, before, test } = require('node:test');
const { Service } = require('@volcengine/openapi');
const {
  ACCESS_KEY_ID,
  SECRET_ACCESS_KEY,
  WEBSHELL,
  poll,
  startFileServer,
  startServer,
} = require('./lib/server');

const VERSION = '2024-07-30';
let server;
let files;

before(async () => {
  server = await startServer();
  files = await startFileServer();
});

after(async () => {
  await files?.close();
  await server?.stop();
});

function nta(secret = SECRET_ACCESS_KEY) {
  const service = new Service({
    serviceName: 'nta',
    region: 'cn-beijing',
    host: `127.0.0.1:${server.port}`,
    protocol: 'http:',
    defaultVersion: VERSION,
    accessKeyId: ACCESS_KEY_ID,
    secretKey: secret,
  });
  return {
    create: service.createJSONAPI('CreateFileDetection'),
    get: service.createJSONAPI('GetFileDetection'),
  };
}

test('a web shell by URL is detected; the answer has the nta shape', async () => {
  const api = nta();
  const data = Buffer.concat([WEBSHELL, Buffer.from(`// ${crypto.randomUUID()}\n`)]);
  const url = files.serve(`/${crypto.randomUUID()}/shell.php`, data);
  const created = await api.create({ SignURL: url });
  assert.equal(created.ResponseMetadata.Action, 'CreateFileDetection');
  assert.equal(created.ResponseMetadata.Version, VERSION);
  assert.equal(created.ResponseMetadata.Service, 'nta');
  assert.equal(created.ResponseMetadata.Region, 'cn-beijing');
  assert.ok(created.ResponseMetadata.RequestId);
  const key = created.Result.QueryKey;
  assert.ok(key && key.length <= 64);
  const done = await poll(
    () => api.get({ QueryKey: key }),
    (r) => r.Result && r.Result.Finish !== 0 && r.Result.Finish !== 1,
  );
  assert.equal(done.Result.Finish, 2);
  assert.equal(done.Result.FileSecType, 2);
  assert.equal(done.Result.VirusDesc, 'WebShell');
  assert.equal(done.Result.FileMd5, crypto.createHash('md5').update(data).digest('hex'));
  assert.equal(done.Result.FileSize, data.length);
});

test('a missing file ends Finish -1', async () => {
  const api = nta();
  const created = await api.create({ SignURL: files.serve('/x', Buffer.from('x')).replace('/x', '/missing') });
  const done = await poll(
    () => api.get({ QueryKey: created.Result.QueryKey }),
    (r) => r.Result && r.Result.Finish === -1,
  );
  assert.equal(done.Result.Finish, -1);
});

test('a wrong secret is SignatureDoesNotMatch in the nta error shape', async () => {
  const answer = await nta(`wrong${SECRET_ACCESS_KEY.slice(5)}`).get({ QueryKey: 'abc' });
  // The client resolves with the body of an error answer.
  assert.equal(answer.ResponseMetadata.Error.Code, 'SignatureDoesNotMatch');
  assert.equal(answer.Result, undefined);
});

test('a missing parameter is MissingParameter', async () => {
  const answer = await nta().create({});
  assert.equal(answer.ResponseMetadata.Error.Code, 'MissingParameter');
});
