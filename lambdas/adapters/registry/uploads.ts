// Blob uploads over the registry transport: a cross-repository mount when the registry can, else
// one upload session (POST, then one PUT with the bytes, or a streamed PATCH and a closing PUT).
// The session's Location is the registry's word: on another origin it is reached without the
// registry's credentials (auth.ts).
import type { Readable } from 'node:stream';
import { PromoterError, RegistryRequestError } from '../../core/errors';
import type { Descriptor } from '../../core/manifest';
import type { HttpAnswer } from '../http-exchange';
import { describeRef, promoterCause, pullScope, pushScope } from './exchange';
import type { RegistryTransport } from './transport';

export type BlobUploadResult = 'mounted' | 'uploaded';

/**
 * Puts a blob into `repository`: mounted from `mountFrom` (same registry) when the registry can,
 * else streamed from `open()`: a blob of known size up to `monolithicUploadBytes` (by default
 * every one) as POST then one PUT carrying the bytes, the way containerd pushes; otherwise (or a
 * blob of unknown size) the way crane does it: POST, one streamed PATCH, a closing PUT `?digest=`
 * (ECR answers the PATCH with 201 rather than 202; both are fine). A registry that refuses one
 * form (405, 400...) gets the other, for this blob and every later one.
 */
export async function uploadBlob(
  transport: RegistryTransport,
  repository: string,
  descriptor: Descriptor,
  open: () => Promise<Readable>,
  monolithicUploadBytes: number,
  mountFrom?: string,
): Promise<BlobUploadResult> {
  const what = `blob upload ${describeRef(transport.registry, repository, descriptor.digest)}`;
  const query = mountFrom === undefined ? '' : `?mount=${descriptor.digest}&from=${mountFrom}`;
  // The source read starts while the session opens: one round trip less per blob (on ECR also
  // the redirect to S3). Not before a mount, which usually needs no read at all.
  const ahead = mountFrom === undefined ? openAhead(open) : undefined;
  let location: string;
  try {
    const started = await transport.send({
      method: 'POST',
      url: `/v2/${repository}/blobs/uploads/${query}`,
      repository,
      scopes:
        mountFrom === undefined ? [pushScope(repository)] : [pushScope(repository), pullScope(mountFrom)],
      what,
      api: 'InitiateLayerUpload',
    });
    if (mountFrom !== undefined && started.status === 201) return 'mounted';
    location = uploadLocation(transport, started, repository);
  } catch (e: unknown) {
    ahead?.discard();
    throw e;
  }
  const state = transport.state;
  const method = uploadMethodFor(state.uploadMethod, descriptor.size, monolithicUploadBytes);
  try {
    await streamUpload(transport, repository, descriptor, location, ahead?.take ?? open, method, what);
  } catch (e: unknown) {
    const refused =
      descriptor.size >= 0 &&
      state.uploadMethod === undefined &&
      e instanceof RegistryRequestError &&
      e.status !== undefined &&
      [400, 405, 415, 416, 501].includes(e.status);
    if (!refused) throw e;
    state.uploadMethod = method === 'PUT' ? 'PATCH' : 'PUT';
    return uploadBlob(transport, repository, descriptor, open, monolithicUploadBytes);
  }
  return 'uploaded';
}

/** PUT (the bytes in one request) or PATCH (then a closing PUT) for a blob of `size` bytes. */
function uploadMethodFor(
  learnt: 'PUT' | 'PATCH' | undefined,
  size: number,
  monolithicUploadBytes: number,
): 'PUT' | 'PATCH' {
  if (size < 0) return 'PATCH';
  if (learnt !== undefined) return learnt;
  return size <= monolithicUploadBytes ? 'PUT' : 'PATCH';
}

/** One upload session: the streamed body (PATCH then closing PUT, or one PUT), verified. */
async function streamUpload(
  transport: RegistryTransport,
  repository: string,
  descriptor: Descriptor,
  location: string,
  open: () => Promise<Readable>,
  method: 'PATCH' | 'PUT',
  what: string,
): Promise<void> {
  const finish = (at: string): string => {
    const url = new URL(at);
    url.searchParams.set('digest', descriptor.digest);
    return url.toString();
  };
  let streamed: HttpAnswer;
  // What broke the source stream, if anything: that, not the aborted request, is the failure.
  let sourceError: unknown;
  let body: Readable | undefined;
  try {
    body = await open();
    // The source's own failures are PromoterErrors (see blobs.ts); anything else is the upload
    // connection's failure passed back to the source by pipeline().
    body.once('error', (e: unknown) => {
      if (e instanceof PromoterError) sourceError = e;
    });
    streamed = await transport.send({
      method,
      url: method === 'PUT' ? finish(location) : location,
      repository,
      scopes: [pushScope(repository)],
      headers: {
        'content-type': 'application/octet-stream',
        ...(descriptor.size >= 0 ? { 'content-length': String(descriptor.size) } : {}),
      },
      body,
      what,
      // A one-request upload (PUT) is ECR's closing call; a PATCH is a part.
      api: method === 'PUT' ? 'CompleteLayerUpload' : 'UploadLayerPart',
      replayable: false,
      timeoutMs: null,
    });
  } catch (e: unknown) {
    // Frees the session when nothing was sent yet; after a partial body the registry may refuse
    // (stale upload state) and expires the session itself. The blob is never committed either way.
    // A source read the upload never took (a failure before it was sent) is closed, not left open.
    body?.destroy();
    await cancelUpload(transport, location, repository);
    throw sourceError ?? promoterCause(e) ?? e;
  }
  if (method === 'PUT') return;

  await transport.send({
    method: 'PUT',
    url: finish(uploadLocation(transport, streamed, repository, location)),
    repository,
    scopes: [pushScope(repository)],
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(0),
    what,
    api: 'CompleteLayerUpload',
    replayable: false,
  });
}

async function cancelUpload(
  transport: RegistryTransport,
  location: string,
  repository: string,
): Promise<void> {
  try {
    await transport.send({
      method: 'DELETE',
      url: location,
      repository,
      scopes: [pushScope(repository)],
      what: 'cancel upload',
      accept: [404, 405],
      replayable: false,
    });
  } catch {
    // Best effort: registries expire abandoned uploads on their own.
  }
}

function uploadLocation(
  transport: RegistryTransport,
  response: HttpAnswer,
  repository: string,
  previous?: string,
): string {
  const location = response.header('location');
  if (location === null) {
    if (previous !== undefined) return previous;
    throw new RegistryRequestError(
      `${transport.registry} started a blob upload in ${repository} without a Location header`,
      transport.details(repository, response.status),
    );
  }
  return transport.resolve(location);
}

/**
 * Calls `open()` now. `take` hands the stream over once (later calls open again); `discard` closes
 * it when it is not wanted after all.
 */
function openAhead(open: () => Promise<Readable>): { take: () => Promise<Readable>; discard: () => void } {
  let pending: Promise<Readable> | undefined = open().then((stream) => {
    // An error before the taker listens must not go unheard; the stream keeps it (`errored`) and
    // the taker's pipeline reports it.
    stream.on('error', () => undefined);
    return stream;
  });
  pending.catch(() => undefined);
  const hand = (): Promise<Readable> | undefined => {
    const handed = pending;
    pending = undefined;
    return handed;
  };
  return {
    take: () => hand() ?? open(),
    discard: () => {
      void hand()?.then(
        (stream) => stream.destroy(),
        () => undefined,
      );
    },
  };
}
