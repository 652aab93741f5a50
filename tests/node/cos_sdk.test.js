// The official Tencent COS Node.js SDK (`cos-nodejs-sdk-v5`) against hashscan's COS dialect,
// in its IP mode (`Ip: '127.0.0.1:PORT'`: requests go to this server with the bucket's COS
// host in the Host header, as the Python suite's IP/port mode).
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { after, before, test } = require('node:test');
const COS = require('cos-nodejs-sdk-v5');
const { ACCESS_KEY_ID, SECRET_ACCESS_KEY, startServer } = require('./lib/server');

const BUCKET = 'nodesdk-1250000000';
const REGION = 'ap-guangzhou';
let server;
let cos;

// The SDK's callback API as promises: resolves with the data, rejects with the error.
function call(method, params) {
  return new Promise((resolve, reject) => {
    cos[method]({ Bucket: BUCKET, Region: REGION, ...params }, (err, data) =>
      err ? reject(err) : resolve(data),
    );
  });
}

before(async () => {
  server = await startServer();
  cos = new COS({
    SecretId: ACCESS_KEY_ID,
    SecretKey: SECRET_ACCESS_KEY,
    Protocol: 'http:',
    Ip: `127.0.0.1:${server.port}`,
  });
  await call('putBucket', {});
});

after(async () => {
  await server?.stop();
});

const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');

test('put, head, get with a range, delete', async () => {
  const key = `objects/${crypto.randomUUID()}.txt`;
  const body = Buffer.from('hashscan from the COS Node.js SDK\n');
  const put = await call('putObject', { Key: key, Body: body, ContentType: 'text/plain' });
  assert.equal(put.statusCode, 200);
  assert.equal(put.ETag, `"${md5(body)}"`);
  const head = await call('headObject', { Key: key });
  assert.equal(head.headers['content-length'], String(body.length));
  assert.equal(head.headers['content-type'], 'text/plain');
  const got = await call('getObject', { Key: key });
  assert.deepEqual(got.Body, body);
  const part = await call('getObject', { Key: key, Range: 'bytes=0-7' });
  assert.equal(part.statusCode, 206);
  assert.equal(part.Body.toString(), 'hashscan');
  await call('deleteObject', { Key: key });
  await assert.rejects(call('headObject', { Key: key }), (e) => e.statusCode === 404);
});

test('getBucketLocation answers the region the bucket was created in', async () => {
  const got = await call('getBucketLocation', {});
  assert.equal(got.LocationConstraint, REGION);
  await assert.rejects(
    call('getBucketLocation', { Bucket: 'nosuchbucket-1250000000' }),
    (e) => e.statusCode === 404 && e.code === 'NoSuchBucket',
  );
});

test('conditional reads answer 304 and 412', async () => {
  const key = `objects/${crypto.randomUUID()}.txt`;
  const body = Buffer.from('conditional\n');
  await call('putObject', { Key: key, Body: body });
  const etag = `"${md5(body)}"`;
  const notModified = await call('headObject', { Key: key, IfNoneMatch: etag }).catch((e) => e);
  assert.equal(notModified.statusCode, 304);
  await assert.rejects(call('getObject', { Key: key, IfMatch: '"0123"' }), (e) => {
    assert.equal(e.statusCode, 412);
    assert.equal(e.code, 'PreconditionFailed');
    return true;
  });
  const ok = await call('getObject', { Key: key, IfMatch: etag });
  assert.deepEqual(ok.Body, body);
});

test('object tagging', async () => {
  const key = `objects/${crypto.randomUUID()}.txt`;
  await call('putObject', { Key: key, Body: Buffer.from('x') });
  await call('putObjectTagging', {
    Key: key,
    Tags: [
      { Key: 'verdict', Value: 'clean' },
      { Key: 'engine', Value: 'hashscan' },
    ],
  });
  const tags = await call('getObjectTagging', { Key: key });
  const byKey = Object.fromEntries(tags.Tags.map((t) => [t.Key, t.Value]));
  assert.deepEqual(byKey, { engine: 'hashscan', verdict: 'clean' });
  await call('deleteObjectTagging', { Key: key });
  const none = await call('getObjectTagging', { Key: key });
  assert.deepEqual(none.Tags, []);
});

test('DELETE Multiple Objects, quiet and not', async () => {
  const keys = [0, 1, 2].map((i) => `multi/${crypto.randomUUID()}-${i}`);
  for (const k of keys) await call('putObject', { Key: k, Body: Buffer.from(k) });
  const loud = await call('deleteMultipleObject', { Objects: keys.slice(0, 2).map((Key) => ({ Key })) });
  assert.deepEqual(loud.Deleted.map((d) => d.Key).sort(), keys.slice(0, 2).sort());
  assert.deepEqual(loud.Error, []);
  const quiet = await call('deleteMultipleObject', { Objects: [{ Key: keys[2] }], Quiet: true });
  assert.deepEqual(quiet.Deleted, []);
  for (const k of keys) {
    await assert.rejects(call('headObject', { Key: k }), (e) => e.statusCode === 404);
  }
});

test('a wrong secret is SignatureDoesNotMatch', async () => {
  const wrong = new COS({
    SecretId: ACCESS_KEY_ID,
    SecretKey: `wrong${SECRET_ACCESS_KEY.slice(5)}`,
    Protocol: 'http:',
    Ip: `127.0.0.1:${server.port}`,
  });
  const err = await new Promise((resolve) =>
    wrong.headBucket({ Bucket: BUCKET, Region: REGION }, (e) => resolve(e)),
  );
  assert.equal(err.statusCode, 403);
});

// Multipart upload: sliceUploadFile and uploadFile split a file into parts (1 MiB here) and
// upload them concurrently; sliceUploadFile first looks for an upload of the key to resume
// (multipartList, multipartListPart). The object read back must be the file.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function tempFile(bytes) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hashscan-node-')), 'body.bin');
  fs.writeFileSync(file, bytes);
  return file;
}

function multipartEtag(bytes, partSize) {
  const md5s = [];
  for (let i = 0; i < bytes.length; i += partSize) {
    md5s.push(crypto.createHash('md5').update(bytes.subarray(i, i + partSize)).digest());
  }
  return `"${md5(Buffer.concat(md5s))}-${md5s.length}"`;
}

for (const method of ['sliceUploadFile', 'uploadFile']) {
  test(`${method} of a 12 MiB file is a multipart upload that reads back whole`, async () => {
    const bytes = crypto.randomBytes(12 * 1024 * 1024 + 321);
    const file = tempFile(bytes);
    const key = `multipart/${crypto.randomUUID()} ${method}.bin`;
    const params = { Key: key, FilePath: file, ChunkSize: 1024 * 1024, ContentType: 'application/x-node' };
    if (method === 'uploadFile') params.SliceSize = 1024 * 1024; // multipart above 1 MiB
    const done = await call(method, params);
    assert.equal(done.statusCode, 200);
    assert.equal(done.ETag, multipartEtag(bytes, 1024 * 1024));
    const head = await call('headObject', { Key: key });
    assert.equal(head.headers['content-length'], String(bytes.length));
    assert.equal(head.headers['content-type'], 'application/x-node');
    assert.equal(head.ETag, multipartEtag(bytes, 1024 * 1024));
    const got = await call('getObject', { Key: key });
    assert.ok(got.Body.equals(bytes));
    const left = await call('multipartList', { Prefix: key });
    assert.deepEqual(left.Upload, []);
    fs.rmSync(path.dirname(file), { recursive: true });
  });
}

test('sliceUploadFile resumes an upload whose parts are there', async () => {
  const bytes = crypto.randomBytes(3 * 1024 * 1024 + 5);
  const file = tempFile(bytes);
  const key = `multipart/${crypto.randomUUID()}.bin`;
  const init = await call('multipartInit', { Key: key });
  const first = await call('multipartUpload', {
    Key: key,
    UploadId: init.UploadId,
    PartNumber: 1,
    Body: bytes.subarray(0, 1024 * 1024),
  });
  assert.equal(first.ETag, `"${md5(bytes.subarray(0, 1024 * 1024))}"`);
  const listed = await call('multipartListPart', { Key: key, UploadId: init.UploadId });
  assert.deepEqual(
    listed.Part.map((p) => [p.PartNumber, p.Size]),
    [['1', String(1024 * 1024)]],
  );
  await call('sliceUploadFile', { Key: key, FilePath: file, ChunkSize: 1024 * 1024 });
  const got = await call('getObject', { Key: key });
  assert.ok(got.Body.equals(bytes));
  // The upload the SDK resumed is the one completed.
  await assert.rejects(call('multipartListPart', { Key: key, UploadId: init.UploadId }), (e) => {
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'NoSuchUpload');
    return true;
  });
  fs.rmSync(path.dirname(file), { recursive: true });
});

test('multipartAbort removes the upload; a wrong part list is InvalidPart', async () => {
  const key = `multipart/${crypto.randomUUID()}.bin`;
  const init = await call('multipartInit', { Key: key });
  await call('multipartUpload', { Key: key, UploadId: init.UploadId, PartNumber: 1, Body: Buffer.from('x') });
  await assert.rejects(
    call('multipartComplete', { Key: key, UploadId: init.UploadId, Parts: [{ PartNumber: 1, ETag: '"00"' }] }),
    (e) => {
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, 'InvalidPart');
      return true;
    },
  );
  await call('multipartAbort', { Key: key, UploadId: init.UploadId });
  const left = await call('multipartList', { Prefix: key });
  assert.deepEqual(left.Upload, []);
});
