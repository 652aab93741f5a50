// The classic Alibaba Cloud POP client (`@alicloud/pop-core`, RPC style) against hashscan's Sas
// dialect. It sends a POST's parameters as an application/x-www-form-urlencoded body (no
// query) with a V2 (HMAC-SHA1) signature over all of them.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { after, before, test } = require('node:test');
const { RPCClient } = require('@alicloud/pop-core');
const {
  ACCESS_KEY_ID,
  EICAR,
  SECRET_ACCESS_KEY,
  WEBSHELL,
  poll,
  startFileServer,
  startServer,
} = require('./lib/server');

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

function client(secret = SECRET_ACCESS_KEY) {
  return new RPCClient({
    accessKeyId: ACCESS_KEY_ID,
    accessKeySecret: secret,
    endpoint: server.url,
    apiVersion: '2018-12-03',
  });
}

const POST = { method: 'POST', timeout: 30000 };
const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');

async function resultOf(c, key) {
  const r = await poll(
    () => c.request('GetFileDetectResult', { HashKeyList: [key], Type: 0 }, POST),
    (a) => a.ResultList[0].Result !== 3,
  );
  return r.ResultList[0];
}

test('a web shell by download URL is detected through form-body parameters', async () => {
  const c = client();
  const data = Buffer.concat([WEBSHELL, Buffer.from(`// ${crypto.randomUUID()}\n`)]);
  const key = md5(data);
  const url = files.serve(`/${crypto.randomUUID()}/shell.php`, data);
  const created = await c.request(
    'CreateFileDetect',
    { HashKey: key, DownloadUrl: url, Type: 0 },
    POST,
  );
  assert.equal(created.HashKey, key);
  assert.ok(created.RequestId);
  const item = await resultOf(c, key);
  assert.equal(item.HashKey, key);
  assert.equal(item.Result, 1);
  assert.equal(item.VirusType, 'WebShell');
  assert.ok(item.Score > 80, `score ${item.Score}`);
});

test('EICAR by URL is Engtest, a clean file is result 0', async () => {
  const c = client();
  const eicar = Buffer.concat([EICAR, Buffer.from(crypto.randomUUID())]);
  const clean = Buffer.from(`Just a plain text file ${crypto.randomUUID()}\n`);
  for (const [data, name] of [[eicar, 'e.com'], [clean, 'c.txt']]) {
    await c.request(
      'CreateFileDetect',
      { HashKey: md5(data), DownloadUrl: files.serve(`/${crypto.randomUUID()}/${name}`, data), Type: 0 },
      POST,
    );
  }
  const bad = await resultOf(c, md5(eicar));
  assert.equal(bad.Result, 1);
  assert.equal(bad.VirusType, 'Engtest');
  const good = await resultOf(c, md5(clean));
  assert.equal(good.Result, 0);
});

test('the call counter counts form-body calls', async () => {
  const c = client();
  const before = (await c.request('GetFileDetectApiInvokeInfo', {}, POST)).Data;
  await c.request('GetFileDetectApiInvokeInfo', {}, POST);
  const after = (await c.request('GetFileDetectApiInvokeInfo', {}, POST)).Data;
  assert.equal(after.InvokeCount, before.InvokeCount + 2);
  assert.equal(after.TimeUnit, 'SECONDS');
});

test('GET with the parameters in the query works too', async () => {
  const info = await client().request('GetFileDetectApiInvokeInfo', {}, { method: 'GET' });
  assert.ok(info.Data.AuthCount > 0);
});

test('a wrong secret is SignatureDoesNotMatch', async () => {
  await assert.rejects(
    client(`wrong${SECRET_ACCESS_KEY.slice(5)}`).request('GetFileDetectApiInvokeInfo', {}, POST),
    (e) => {
      assert.equal(e.code, 'SignatureDoesNotMatch');
      assert.equal(e.data?.httpStatusCode ?? e.statusCode ?? 400, 400);
      return true;
    },
  );
});

test('bad parameters get the API error, not a signature error', async () => {
  await assert.rejects(
    client().request('GetFileDetectResult', { HashKeyList: ['not-a-hash'], Type: 0 }, POST),
    (e) => {
      assert.notEqual(e.code, 'SignatureDoesNotMatch');
      assert.match(e.code, /Invalid/);
      return true;
    },
  );
  // A form body without a signature is refused in Alibaba's format.
  const r = await fetch(`${server.url}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=GetFileDetectApiInvokeInfo&Version=2018-12-03',
  });
  assert.equal(r.status, 400);
  const body = await r.json();
  assert.equal(body.Code, 'MissingSignature');
  assert.ok(body.RequestId && body.Message);
});
