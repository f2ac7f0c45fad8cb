// Read slabs of large downloads are reused, and only when that is safe: a slab is read into again
// once every piece handed on from it was released (releaseChunk), which the upload path does once
// the socket has taken a piece. A piece nobody releases keeps its bytes for good.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { openDownload, releaseChunk } from '../../lambdas/adapters/http-download';
import { openExchange, readAnswer } from '../../lambdas/adapters/http-exchange';

const BODY = randomBytes(6 * 1024 * 1024 + 5);
const download = { headers: { accept: '*/*' }, idleTimeoutMs: 5000 } as const;
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function pieces(stream: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks;
}

const sharesMemory = (a: readonly Buffer[], b: readonly Buffer[]): boolean => {
  const buffers = new Set(a.map((piece) => piece.buffer));
  return b.some((piece) => buffers.has(piece.buffer));
};

describe('download slabs', () => {
  let server: Server;
  let base: string;
  /** sha256 of each upload the server received. */
  const received: string[] = [];
  before(async () => {
    server = createServer((request, response) => {
      if (request.method === 'PUT') {
        const hash = createHash('sha256');
        request.on('data', (chunk: Buffer) => hash.update(chunk));
        request.on('end', () => {
          received.push(hash.digest('hex'));
          response.writeHead(201).end();
        });
        return;
      }
      response.writeHead(200, { 'content-length': String(BODY.length) }).end(BODY);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reads into a slab again once every piece from it was released', async () => {
    // Prepare
    const first = await pieces(await openDownload(new URL(`${base}/blob`), download));
    assert.equal(sha(Buffer.concat(first)), sha(BODY));
    // Act
    for (const piece of first) releaseChunk(piece);
    const second = await pieces(await openDownload(new URL(`${base}/blob`), download));
    // Assess
    assert.equal(sha(Buffer.concat(second)), sha(BODY));
    assert.ok(sharesMemory(first, second), "the second download read into none of the first one's slabs");
  });

  it('never reads into a slab whose pieces are not all released, so kept pieces keep their bytes', async () => {
    // Prepare: the first piece of every slab stays with its reader.
    const kept = await pieces(await openDownload(new URL(`${base}/blob`), download));
    const firstOfSlab = new Set<ArrayBufferLike>();
    for (const piece of kept) {
      if (firstOfSlab.has(piece.buffer)) releaseChunk(piece);
      else firstOfSlab.add(piece.buffer);
    }
    // Act: more downloads, all released.
    const later: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      const next = await pieces(await openDownload(new URL(`${base}/blob`), download));
      assert.equal(sha(Buffer.concat(next)), sha(BODY));
      for (const piece of next) releaseChunk(piece);
      later.push(...next);
    }
    // Assess
    assert.equal(sharesMemory(kept, later), false);
    assert.equal(sha(Buffer.concat(kept)), sha(BODY));
  });

  it('gets its slabs back from an upload that streamed them, once the socket took each piece', async () => {
    // Prepare: a download streamed as a request body, as a blob copy does.
    const seen: Buffer[] = [];
    const message = await openDownload(new URL(`${base}/blob`), download);
    const watched = message.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, done): void {
          seen.push(chunk);
          done(null, chunk);
        },
      }),
    );
    // Act
    const answer = await readAnswer(
      await openExchange(new URL(`${base}/upload`), {
        method: 'PUT',
        headers: { 'content-length': String(BODY.length) },
        body: watched,
        idleTimeoutMs: 5000,
      }),
      1024,
    );
    const next = await pieces(await openDownload(new URL(`${base}/blob`), download));
    // Assess
    assert.equal(answer.status, 201);
    assert.equal(received.at(-1), sha(BODY));
    assert.equal(sha(Buffer.concat(next)), sha(BODY));
    assert.ok(sharesMemory(seen, next), 'the upload released none of its pieces');
  });
});
