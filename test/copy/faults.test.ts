// The copy engine under network and registry faults, injected by a proxy in front of real
// registries (source side and destination side): connection resets mid-blob and mid-upload,
// corrupted bytes, 429 with Retry-After, 503 bursts, lost answers, and persistent failures that
// exhaust the retries. Every case ends either with a byte-identical copy (checked with skopeo, an
// independent client) or with a typed retryable error — and never with the destination tag
// pointing at an image the destination cannot serve in full.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { copyWithEngine, type EngineCopyOutcome, type EngineCopyRequest } from '../../bench/support/engine';
import { RegistryClient } from '../../lambdas/adapters/registry-client';
import {
  DeniedError,
  PromoterError,
  RateLimitedError,
  RegistryUnavailableError,
} from '../../lambdas/core/errors';
import { startEcrModel, type EcrModel } from '../support/ecr-model';
import {
  startFaultProxy,
  type FaultProxy,
  type FaultRule,
  type ProxiedRequest,
} from '../support/fault-proxy';
import {
  addImage,
  addIndex,
  ImageLayout,
  inspectRaw,
  MEDIA,
  pushLayout,
  sha256,
  type Descriptor,
} from '../support/images';
import { startRegistry, type RegistryServer } from '../support/registry-server';

// Fast backoff: the cases test behaviour, not patience (Retry-After is still honoured in full).
const RETRY = { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 } as const;
const BIG_LAYER = 600 * 1024;

/** The first upload start answered 429 with Retry-After: 1 (the client then holds the registry ~1 s). */
const FIRST_UPLOAD_START_429: FaultRule = {
  name: '429',
  methods: ['POST'],
  path: /\/blobs\/uploads\/$/,
  times: 1,
  action: { kind: 'status', status: 429, retryAfterSeconds: 1 },
};

interface Expected {
  /** Undefined: the copy must succeed. */
  readonly error?: abstract new (...args: never[]) => PromoterError;
}

interface FaultCase {
  readonly name: string;
  /** Whose proxy the rules go to; `storage`: the presigned storage an ECR model sends blob reads to. */
  readonly side: 'source' | 'destination' | 'storage';
  /** Rules for that side's proxy; `big` is the digest of the largest layer of the image. */
  readonly rules: (image: SourceImage) => readonly FaultRule[];
  readonly expected: Expected;
  /** Extra checks on the rule counters of the faulted proxy. */
  readonly assess: (proxy: FaultProxy) => void;
  /** Blob transfers at once (engine default when omitted). */
  readonly blobJobs?: number;
  /** How blobs move (client defaults when omitted). */
  readonly transfer?: EngineCopyRequest['transfer'];
}

interface SourceImage {
  readonly digest: string;
  readonly big: string;
  readonly blobs: readonly Descriptor[];
}

/** Each case whose faults hit blob reads (`readSide`), run both ways of reading a blob: the
 * keep-alive pool (small blobs) and a connection of its own (large ones, http-download.ts; here
 * made to take every blob). */
const withBothReadPaths = (cases: readonly FaultCase[], readSide: FaultCase['side']): FaultCase[] =>
  cases.flatMap((c): FaultCase[] =>
    c.side === readSide
      ? [
          c,
          {
            ...c,
            name: `${c.name} (own-connection reads)`,
            transfer: { ...c.transfer, directDownloadBytes: 0 },
          },
        ]
      : [c],
  );

const injected = (name: string, count: number) => (proxy: FaultProxy) =>
  assert.equal(proxy.stats(name).injected, count, `${name}: faults injected`);
const onTime = (name: string, count: number) => (proxy: FaultProxy) => {
  assert.equal(proxy.stats(name).injected, count, `${name}: faults injected`);
  assert.equal(proxy.stats(name).early, 0, `${name}: retries that ignored Retry-After`);
};

const CASES: readonly FaultCase[] = [
  {
    // Prepare: a registry without streamed (PATCH) uploads, as some proxies and older registries
    // are; every blob is made to start with a PATCH (no one-request uploads).
    name: 'destination refuses PATCH uploads with 405: blobs go up as one PUT each',
    side: 'destination',
    rules: () => [
      {
        name: 'no-patch',
        methods: ['PATCH'],
        path: /\/blobs\/uploads\/./,
        action: { kind: 'status', status: 405 },
      },
    ],
    expected: {},
    blobJobs: 1,
    transfer: { monolithicUploadBytes: 0 },
    // One refused PATCH teaches the client; every later blob goes straight to the monolithic PUT.
    assess: injected('no-patch', 1),
  },
  {
    // Prepare: the opposite registry, which takes blob bytes only in a PATCH (a PUT with a body is
    // refused); every blob here is small enough to start with the one-request PUT.
    name: 'destination refuses blob PUTs carrying bytes with 415: blobs go up with PATCH',
    side: 'destination',
    rules: () => [
      {
        name: 'no-monolithic',
        methods: ['PUT'],
        path: /\/blobs\/uploads\/./,
        withBody: true,
        action: { kind: 'status', status: 415 },
      },
    ],
    expected: {},
    blobJobs: 1,
    // One refused PUT teaches the client; every later blob goes straight to POST, PATCH, PUT.
    assess: injected('no-monolithic', 1),
  },
  {
    name: 'source resets the connection mid-blob, twice',
    side: 'source',
    rules: (image) => [
      {
        name: 'reset',
        methods: ['GET'],
        path: new RegExp(`/blobs/${image.big}$`),
        times: 2,
        action: { kind: 'reset-response', afterBytes: 100_000 },
      },
    ],
    expected: {},
    assess: injected('reset', 2),
  },
  {
    name: 'source serves a corrupted blob once',
    side: 'source',
    rules: (image) => [
      {
        name: 'corrupt',
        methods: ['GET'],
        path: new RegExp(`/blobs/${image.big}$`),
        times: 1,
        action: { kind: 'corrupt-response', atByte: 300_000 },
      },
    ],
    expected: {},
    assess: injected('corrupt', 1),
  },
  {
    name: 'source rate-limits manifest reads with 429 and Retry-After: 1',
    side: 'source',
    rules: () => [
      {
        name: '429',
        methods: ['GET'],
        path: /\/manifests\//,
        times: 2,
        action: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      },
    ],
    expected: {},
    assess: onTime('429', 2),
  },
  {
    name: 'source answers 503 to a burst of blob reads',
    side: 'source',
    // Two, not three: all of a burst may land on one blob, whose retry budget (3 tries) must survive it.
    rules: () => [
      { name: '503', methods: ['GET'], path: /\/blobs\//, times: 2, action: { kind: 'status', status: 503 } },
    ],
    expected: {},
    assess: injected('503', 2),
  },
  {
    name: 'destination answers 503 to a burst of upload requests',
    side: 'destination',
    rules: () => [
      {
        name: '503',
        methods: ['POST', 'PATCH', 'PUT'],
        path: /\/blobs\/uploads\//,
        // Two: the whole burst may hit one blob's upload, whose retry budget (3 tries) must survive it.
        times: 2,
        action: { kind: 'status', status: 503 },
      },
    ],
    expected: {},
    assess: injected('503', 2),
  },
  {
    name: 'destination resets an upload after 64 KiB',
    side: 'destination',
    rules: () => [
      {
        name: 'reset-upload',
        methods: ['PATCH', 'PUT'],
        path: /\/blobs\/uploads\/./,
        times: 1,
        action: { kind: 'reset-request', afterBytes: 64 * 1024 },
      },
    ],
    expected: {},
    assess: injected('reset-upload', 1),
  },
  {
    name: 'destination rate-limits blob HEADs with 429 and Retry-After: 1',
    side: 'destination',
    rules: () => [
      {
        name: '429',
        methods: ['HEAD'],
        path: /\/blobs\//,
        times: 2,
        action: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      },
    ],
    expected: {},
    assess: onTime('429', 2),
  },
  {
    name: 'destination rate-limits upload starts with 429 and Retry-After: 1',
    side: 'destination',
    rules: () => [
      {
        name: '429',
        methods: ['POST'],
        path: /\/blobs\/uploads\/$/,
        times: 2,
        action: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      },
    ],
    expected: {},
    assess: onTime('429', 2),
    // Every upload starts with the same POST path: one transfer at a time, so a POST that comes
    // within the second is the retry of the refused one, not another blob's first try.
    blobJobs: 1,
  },
  {
    name: 'destination commits a blob upload but its answer is lost (503)',
    side: 'destination',
    rules: () => [
      {
        name: 'lost',
        methods: ['PUT'],
        path: /\/blobs\/uploads\/./,
        times: 1,
        action: { kind: 'status', status: 503, forward: true },
      },
    ],
    expected: {},
    assess: injected('lost', 1),
  },
  {
    name: 'destination stores a manifest but its answer is lost (503)',
    side: 'destination',
    rules: () => [
      {
        name: 'lost',
        methods: ['PUT'],
        path: /\/manifests\//,
        times: 1,
        action: { kind: 'status', status: 503, forward: true },
      },
    ],
    expected: {},
    assess: injected('lost', 1),
  },
  {
    name: 'source resets every read of one layer: retries run out',
    side: 'source',
    rules: (image) => [
      {
        name: 'reset',
        methods: ['GET'],
        path: new RegExp(`/blobs/${image.big}$`),
        action: { kind: 'reset-response', afterBytes: 100_000 },
      },
    ],
    expected: { error: RegistryUnavailableError },
    assess: (proxy) => assert.ok(proxy.stats('reset').injected >= RETRY.attempts),
  },
  {
    name: 'source keeps answering 429 for one layer: retries run out, each wait honoured',
    side: 'source',
    rules: (image) => [
      {
        name: '429',
        methods: ['GET'],
        path: new RegExp(`/blobs/${image.big}$`),
        action: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      },
    ],
    expected: { error: RateLimitedError },
    assess: (proxy) => {
      assert.ok(proxy.stats('429').injected >= RETRY.attempts);
      assert.equal(proxy.stats('429').early, 0);
    },
  },
  {
    name: 'destination refuses every PUT of the tag with 503: the tag never appears',
    side: 'destination',
    rules: () => [
      { name: 'tag', methods: ['PUT'], path: /\/manifests\/1$/, action: { kind: 'status', status: 503 } },
    ],
    expected: { error: RegistryUnavailableError },
    assess: (proxy) => assert.ok(proxy.stats('tag').injected >= RETRY.attempts),
  },
];

describe('copy engine under faults', () => {
  let source: RegistryServer;
  let destination: RegistryServer;
  let sourceProxy: FaultProxy;
  let destinationProxy: FaultProxy;
  let image: SourceImage;

  before(async () => {
    [source, destination] = await Promise.all([startRegistry(), startRegistry()]);
    [sourceProxy, destinationProxy] = await Promise.all([
      startFaultProxy({ upstream: source.url }),
      startFaultProxy({ upstream: destination.url }),
    ]);
    image = await pushFaultImage(source);
  });

  after(async () => {
    await Promise.all([sourceProxy?.stop(), destinationProxy?.stop()]);
    await Promise.all([source?.stop(), destination?.stop()]);
  });

  /** Copies the source image to `repository:1` through both proxies; the error when it fails. */
  const attemptCopy = (
    repository: string,
    options: Pick<FaultCase, 'blobJobs' | 'transfer'> = {},
  ): Promise<EngineCopyOutcome | Error> =>
    copyWithEngine({
      ...(options.blobJobs === undefined ? {} : { blobJobs: options.blobJobs }),
      ...(options.transfer === undefined ? {} : { transfer: options.transfer }),
      source: `${sourceProxy.host}/faults/app:1`,
      destination: `${destinationProxy.host}/${repository}:1`,
      sourceSide: { endpoint: sourceProxy.url, credentials: source },
      destinationSide: { endpoint: destinationProxy.url, credentials: destination },
      retry: RETRY,
    }).then(
      (result): EngineCopyOutcome | Error => result,
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );

  const RUNS = withBothReadPaths(CASES, 'source');

  RUNS.forEach((c, i) => {
    it(c.name, () =>
      runFaultCase(c, {
        faulted: c.side === 'source' ? sourceProxy : destinationProxy,
        clean: [c.side === 'source' ? destinationProxy : sourceProxy],
        repository: `faults/case-${i}`,
        copy: attemptCopy,
        image,
        destination,
      }),
    );
  });

  // RetryPolicy.attempts is documented as "total tries, the first included". A blob read that
  // keeps failing must not be tried attempts x attempts times (the HTTP layer's retries nested in
  // the engine's whole-transfer retries): against a rate-limiting registry that squares the load.
  it('tries a persistently failing blob read at most `attempts` times in all', async () => {
    // Prepare
    sourceProxy.setRules([
      {
        name: '503',
        methods: ['GET'],
        path: new RegExp(`/blobs/${image.big}$`),
        action: { kind: 'status', status: 503 },
      },
    ]);
    destinationProxy.setRules([]);
    // Act
    const outcome = await attemptCopy('faults/retry-budget');
    // Assess
    assert.ok(outcome instanceof RegistryUnavailableError, String(outcome));
    assert.equal(sourceProxy.stats('503').injected, RETRY.attempts, 'reads of the failing blob');
  });

  // A 429 tells the whole registry's client to slow down (ECR throttles per account and API, not
  // per blob): once one transfer got it, no other sends a request before the Retry-After is over.
  it('holds every request to a registry that answered 429 until its Retry-After is over', async () => {
    // Prepare: the first upload start is rate-limited; slow source reads keep the other transfer
    // busy long enough that, without the pause, it would go on sending during the wait.
    sourceProxy.setRules([]);
    sourceProxy.setBandwidth(1_000_000);
    destinationProxy.setRules([FIRST_UPLOAD_START_429]);
    // Act
    let outcome: EngineCopyOutcome | Error;
    try {
      outcome = await attemptCopy('faults/paused', { blobJobs: 2 });
    } finally {
      sourceProxy.setBandwidth(undefined);
    }
    // Assess
    if (outcome instanceof Error) throw outcome;
    const log = destinationProxy.requests();
    const limited = log.find((r) => r.fault === '429');
    assert.ok(limited !== undefined, 'the 429 was sent');
    const answeredAt = limited.arrivedAt + limited.ms;
    // 100 ms of slack for requests the client sent before it had read the 429.
    const during = log.filter((r) => r.arrivedAt > answeredAt + 100 && r.arrivedAt < answeredAt + 950);
    assert.deepEqual(
      during.map((r) => `${r.method} ${r.url}`),
      [],
      'requests sent while the registry had asked to wait',
    );
  });

  // When copyImage rejects, the copy is over: no transfer of it keeps running in the background
  // (in a Lambda it would resume inside the next invocation; in the CLI it holds the exit).
  it('stops every other transfer once the copy has failed', async () => {
    // Prepare: one layer fails fast for good; another is rate-limited (1 s waits) for good.
    sourceProxy.setRules([
      {
        name: 'fail',
        methods: ['GET'],
        path: new RegExp(`/blobs/${image.big}$`),
        action: { kind: 'status', status: 404 },
      },
      {
        name: 'slow',
        methods: ['GET'],
        path: new RegExp(`/blobs/${image.blobs[4]!.digest}$`),
        action: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      },
    ]);
    destinationProxy.setRules([]);
    // Act: the 404 may end the copy before the slow layer's first GET is even sent (blobs start in
    // parallel); such a run proves nothing, so it is repeated on a fresh repository, a few times at most.
    let outcome: unknown;
    let atFailure = 0;
    let afterwards = 0;
    for (let run = 0; run < 5 && atFailure === 0; run++) {
      const before = sourceProxy.stats('slow').matched;
      outcome = await attemptCopy(`faults/abandoned-${run}`);
      atFailure = sourceProxy.stats('slow').matched - before;
      await sleep(1500);
      afterwards = sourceProxy.stats('slow').matched - before;
    }
    // Assess
    assert.ok(outcome instanceof PromoterError && !outcome.retryable, String(outcome));
    assert.ok(atFailure >= 1, 'the rate-limited layer was being read when the copy failed');
    assert.equal(afterwards, atFailure, 'requests for the copy after it had failed');
  });

  // uploadBlob starts the source read while the upload session opens, not after it.
  it('reads the source blobs while their upload sessions are still being opened', async () => {
    // Prepare: the destination answers every upload start 300 ms late.
    sourceProxy.setRules([]);
    destinationProxy.setRules([
      {
        name: 'slow-start',
        methods: ['POST'],
        path: /\/blobs\/uploads\/$/,
        action: { kind: 'delay', ms: 300 },
      },
    ]);
    // Act
    const outcome = await attemptCopy('faults/read-ahead');
    // Assess: each blob's read arrived before its own upload session was answered.
    if (outcome instanceof Error) throw outcome;
    const sessionOf = (url: string): string => new URL(url, 'http://x').pathname;
    const log = destinationProxy.requests();
    const reads = sourceProxy.requests().filter((r) => r.method === 'GET' && r.url.includes('/blobs/'));
    assert.equal(reads.length, image.blobs.length);
    for (const read of reads) {
      const digest = read.url.split('/').pop()!;
      const finish = log.find(
        (r) => r.method === 'PUT' && r.url.includes(`digest=${encodeURIComponent(digest)}`),
      );
      assert.ok(finish !== undefined, `${digest} was uploaded`);
      const start = log.find(
        (r) =>
          r.method === 'POST' && r.location !== undefined && sessionOf(r.location) === sessionOf(finish.url),
      );
      assert.ok(start !== undefined, `the session of ${digest} was opened through the proxy`);
      const answeredAt = start.arrivedAt + start.ms;
      assert.ok(
        read.arrivedAt < answeredAt - 200,
        `${digest}: read ${answeredAt - read.arrivedAt} ms before its session`,
      );
    }
  });

  it('looks up the referrers of every manifest while the blobs are still moving', async () => {
    // Prepare: source reads at 1 MB/s, so the large layer takes ~0.6 s.
    sourceProxy.setRules([]);
    destinationProxy.setRules([]);
    sourceProxy.setBandwidth(1_000_000);
    // Act
    let outcome: EngineCopyOutcome | Error;
    try {
      outcome = await attemptCopy('faults/lookups');
    } finally {
      sourceProxy.setBandwidth(undefined);
    }
    // Assess: referrers API and cosign/fallback tags of the index and both platforms were asked
    // before the tag went up, not after it.
    if (outcome instanceof Error) throw outcome;
    const tagged = destinationProxy
      .requests()
      .find((r) => r.method === 'PUT' && r.url.endsWith('/manifests/1'));
    assert.ok(tagged !== undefined, 'the tag was written');
    const lookups = sourceProxy
      .requests()
      .filter((r) => r.url.includes('/referrers/') || r.url.includes('/manifests/sha256-'));
    // Per manifest: the referrers API, then the fallback tag (this registry has no API), and three
    // cosign tags.
    assert.equal(lookups.length, 3 * 5);
    assert.ok(
      lookups.every((r) => r.arrivedAt < tagged.arrivedAt),
      `lookups at ${lookups.map((r) => r.arrivedAt - tagged.arrivedAt).join(', ')} ms from the tag`,
    );
  });

  // Without a copy around it (no abort signal), a refused session must still close that read.
  it('closes the source read it started when the upload session is refused', async () => {
    // Prepare: the source at 100 KB/s (the large layer would take ~6 s); sessions refused for good.
    sourceProxy.setRules([]);
    sourceProxy.setBandwidth(100_000);
    destinationProxy.setRules([
      {
        name: 'denied',
        methods: ['POST'],
        path: /\/blobs\/uploads\/$/,
        action: { kind: 'status', status: 403 },
      },
    ]);
    const client = (registry: RegistryServer, proxy: FaultProxy): RegistryClient =>
      new RegistryClient({ registry: proxy.host, endpoint: proxy.url, credentials: registry, retry: RETRY });
    const from = client(source, sourceProxy);
    const to = client(destination, destinationProxy);
    const big = image.blobs.find((blob) => blob.digest === image.big)!;
    try {
      // Act
      const refused = await to
        .uploadBlob('faults/refused', big, () => from.openBlob('faults/app', big))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      // Assess: the read ends (closed by the client) long before its ~6 s at the cap.
      assert.ok(refused instanceof DeniedError, String(refused));
      const read = async (): Promise<ProxiedRequest | undefined> => {
        for (let waited = 0; waited < 3000; waited += 50) {
          const done = sourceProxy.requests().find((r) => r.url.endsWith(big.digest));
          if (done !== undefined) return done;
          await sleep(50);
        }
        return undefined;
      };
      const done = await read();
      assert.ok(done !== undefined, 'the source read was left running');
      assert.ok(done.responseBytes < big.size, `${done.responseBytes} of ${big.size} bytes read`);
    } finally {
      sourceProxy.setBandwidth(undefined);
    }
  });
});

/** A two-platform index pushed to `registry` as faults/app:1: 2 manifests, 2 configs, 4 layers, one
 * of them large enough to cut. */
async function pushFaultImage(registry: RegistryServer): Promise<SourceImage> {
  const layout = await ImageLayout.create();
  try {
    const amd = await addImage(layout, { layers: [BIG_LAYER, 20_000] });
    const arm = await addImage(layout, {
      layers: [150_000, 30_000],
      platform: { architecture: 'arm64', os: 'linux' },
    });
    const index = await addIndex(layout, [amd.descriptor, arm.descriptor]);
    layout.tag(index.descriptor, 'app');
    await pushLayout(layout, 'app', `${registry.host}/faults/app:1`, registry);
    return {
      digest: index.descriptor.digest,
      big: amd.layers[0]!.digest,
      blobs: [amd.config, ...amd.layers, arm.config, ...arm.layers],
    };
  } finally {
    await layout.remove();
  }
}

/** One case: its rules on the faulted proxy, none elsewhere, the copy, then either a byte-identical
 * tag or the expected retryable error and no tag; never a tag pointing at something missing. */
async function runFaultCase(
  c: FaultCase,
  world: {
    readonly faulted: FaultProxy;
    readonly clean: readonly FaultProxy[];
    readonly repository: string;
    readonly copy: (
      repository: string,
      options: Pick<FaultCase, 'blobJobs' | 'transfer'>,
    ) => Promise<EngineCopyOutcome | Error>;
    readonly image: SourceImage;
    readonly destination: RegistryServer;
  },
): Promise<void> {
  // Prepare
  const { faulted, repository, image, destination } = world;
  faulted.setRules(c.rules(image));
  for (const proxy of world.clean) proxy.setRules([]);

  // Act
  const outcome = await world.copy(repository, c);

  // Assess
  c.assess(faulted);
  if (c.expected.error === undefined) {
    if (outcome instanceof Error) throw outcome;
    assert.equal(outcome.digest, image.digest);
    assert.equal(outcome.blobsCopied, image.blobs.length);
    const raw = await inspectRaw(`${destination.host}/${repository}:1`, destination);
    assert.equal(sha256(raw), image.digest, 'destination tag serves the source bytes');
  } else {
    assert.ok(
      outcome instanceof c.expected.error,
      `expected ${c.expected.error.name}, got ${String(outcome)}`,
    );
    assert.equal(outcome.retryable, true);
  }
  const tag = await readTag(destination, repository, '1');
  if (c.expected.error !== undefined) assert.equal(tag.present, false, 'a failed copy leaves no tag');
  assert.deepEqual(tag.missing, [], 'everything the tag points at is in the destination');
}

// Where ECR answers otherwise than docker-registry, the same faults through ECR models
// (test/support/ecr-model.ts): blob bytes come from presigned storage, not the registry (a reset
// or corrupt read there); a 429 carries no Retry-After (TOOMANYREQUESTS, paced in its lane and
// retried apart from the attempts); PATCH is answered 201; a missing repository is NAME_UNKNOWN.
// The other faults meet the same code through the model as without it and are not run twice.
const ECR_CASES: readonly FaultCase[] = [
  {
    name: 'presigned storage resets a blob read mid-body, twice',
    side: 'storage',
    rules: (image) => [
      {
        name: 'reset',
        methods: ['GET'],
        path: new RegExp(`/${image.big.replace(':', '/')}$`),
        times: 2,
        action: { kind: 'reset-response', afterBytes: 100_000 },
      },
    ],
    expected: {},
    assess: injected('reset', 2),
  },
  {
    name: 'presigned storage serves a corrupted blob once',
    side: 'storage',
    rules: (image) => [
      {
        name: 'corrupt',
        methods: ['GET'],
        path: new RegExp(`/${image.big.replace(':', '/')}$`),
        times: 1,
        action: { kind: 'corrupt-response', atByte: 300_000 },
      },
    ],
    expected: {},
    assess: injected('corrupt', 1),
  },
  {
    // More 429s than the policy's attempts: they are the registry's pace, not faults of the request.
    name: 'destination answers upload starts 429 without Retry-After (TOOMANYREQUESTS), more often than the attempts',
    side: 'destination',
    rules: () => [
      {
        name: '429',
        methods: ['POST'],
        path: /\/blobs\/uploads\/$/,
        times: RETRY.attempts + 1,
        action: { kind: 'status', status: 429 },
      },
    ],
    expected: {},
    assess: injected('429', RETRY.attempts + 1),
    blobJobs: 1,
  },
  {
    name: 'destination resets a streamed upload (PATCH, answered 201 by ECR) after 64 KiB',
    side: 'destination',
    rules: () => [
      {
        name: 'reset-upload',
        methods: ['PATCH'],
        path: /\/blobs\/uploads\/./,
        times: 1,
        action: { kind: 'reset-request', afterBytes: 64 * 1024 },
      },
    ],
    expected: {},
    transfer: { monolithicUploadBytes: 0 },
    assess: injected('reset-upload', 1),
  },
];

describe('copy engine under faults, through ECR models', () => {
  let source: RegistryServer;
  let destination: RegistryServer;
  let sourceModel: EcrModel;
  let destinationModel: EcrModel;
  let sourceProxy: FaultProxy;
  let destinationProxy: FaultProxy;
  let storageProxy: FaultProxy;
  let image: SourceImage;

  before(async () => {
    [source, destination] = await Promise.all([startRegistry(), startRegistry()]);
    [sourceModel, destinationModel] = await Promise.all([
      startEcrModel({ upstream: source, accountId: '111111111111' }),
      startEcrModel({ upstream: destination, accountId: '222222222222', repositories: [] }),
    ]);
    [sourceProxy, destinationProxy, storageProxy] = await Promise.all([
      startFaultProxy({ upstream: sourceModel.url }),
      startFaultProxy({ upstream: destinationModel.url }),
      startFaultProxy({ upstream: sourceModel.storageUpstream }),
    ]);
    sourceModel.presignThrough(storageProxy.url);
    image = await pushFaultImage(source);
  });

  after(async () => {
    await Promise.all([sourceProxy?.stop(), destinationProxy?.stop(), storageProxy?.stop()]);
    await Promise.all([sourceModel?.stop(), destinationModel?.stop()]);
    await Promise.all([source?.stop(), destination?.stop()]);
  });

  const attemptCopy = (
    repository: string,
    options: Pick<FaultCase, 'blobJobs' | 'transfer'> = {},
  ): Promise<EngineCopyOutcome | Error> =>
    copyWithEngine({
      ...(options.blobJobs === undefined ? {} : { blobJobs: options.blobJobs }),
      ...(options.transfer === undefined ? {} : { transfer: options.transfer }),
      source: `${sourceProxy.host}/faults/app:1`,
      destination: `${destinationProxy.host}/${repository}:1`,
      sourceSide: { endpoint: sourceProxy.url, credentials: source },
      destinationSide: { endpoint: destinationProxy.url, credentials: destination },
      retry: RETRY,
      // A lane's floor of 0.5/s would space the paced retries 2 s apart; the cases test behaviour.
      lanePolicy: { minRate: 1000 },
    }).then(
      (result): EngineCopyOutcome | Error => result,
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );

  // Through ECR, blob reads go to the presigned storage: its faults hit both ways of reading.
  const RUNS = withBothReadPaths(ECR_CASES, 'storage');
  RUNS.forEach((c, i) => {
    it(c.name, () => {
      const repository = `faults/ecr-case-${i}`;
      destinationModel.createRepository(repository);
      const proxies = { source: sourceProxy, destination: destinationProxy, storage: storageProxy };
      return runFaultCase(c, {
        faulted: proxies[c.side],
        clean: Object.values(proxies).filter((p) => p !== proxies[c.side]),
        repository,
        copy: attemptCopy,
        image,
        destination,
      });
    });
  });

  it('does not retry NAME_UNKNOWN: each refused request is sent once, and the copy fails for good', async () => {
    // Prepare: a destination repository that was never created; one blob transfer at a time
    for (const proxy of [sourceProxy, destinationProxy, storageProxy]) proxy.setRules([]);
    const before = destinationModel.refusals().length;
    // Act
    const outcome = await attemptCopy('faults/never-created', { blobJobs: 1 });
    // Assess: the first upload start ends the copy; no refused request was sent again
    assert.ok(outcome instanceof PromoterError, String(outcome));
    assert.equal(outcome.retryable, false);
    assert.match(
      outcome.message,
      /NAME_UNKNOWN: The repository with name 'faults\/never-created' does not exist/,
    );
    const refused = destinationModel
      .refusals()
      .slice(before)
      .map((r) => `${r.method} ${r.path} ${r.code}`);
    assert.equal(refused.filter((r) => r.startsWith('POST ')).length, 1, 'upload starts refused');
    assert.deepEqual(refused, [...new Set(refused)], 'a request refused twice');
    const tag = await readTag(destination, 'faults/never-created', '1');
    assert.equal(tag.present, false);
  });
});

interface TagState {
  readonly present: boolean;
  /** Manifests and blobs the tag's image names that the registry cannot serve. */
  readonly missing: readonly string[];
}

/** Walks what `repository:tag` points at, straight at the registry (no proxy): every manifest by
 * digest and a HEAD on every blob. */
async function readTag(registry: RegistryServer, repository: string, tag: string): Promise<TagState> {
  const auth = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
  const accept = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');
  const missing: string[] = [];
  const walk = async (reference: string): Promise<boolean> => {
    const response = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, {
      headers: { authorization: auth, accept },
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    if (response.status === 404) return false;
    assert.equal(response.status, 200, `GET manifest ${reference}`);
    const manifest = JSON.parse(bytes.toString('utf8')) as {
      manifests?: readonly Descriptor[];
      config?: Descriptor;
      layers?: readonly Descriptor[];
    };
    for (const child of manifest.manifests ?? []) {
      if (!(await walk(child.digest))) missing.push(child.digest);
    }
    for (const blob of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])]) {
      const head = await fetch(`${registry.url}/v2/${repository}/blobs/${blob.digest}`, {
        method: 'HEAD',
        headers: { authorization: auth },
      });
      if (head.status !== 200) missing.push(blob.digest);
    }
    return true;
  };
  const present = await walk(tag);
  return { present, missing };
}
