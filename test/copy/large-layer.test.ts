// A 1 GiB single-layer image copied between two real registries by the engine in a child process
// whose peak RSS is measured from outside. The memory bound is a correctness check — it fails if
// any stage holds a whole blob in memory — not a speed target (speed is `npm run bench:copy`).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runEngineChild } from '../../bench/support/measure';
import { addImage, ImageLayout, inspectRaw, pushLayout, sha256, type BuiltManifest } from '../support/images';
import { startRegistry, type RegistryServer } from '../support/registry-server';

const LAYER_BYTES = 1024 ** 3;
const RSS_BOUND_KB = 300 * 1024;

describe('copy engine with a 1 GiB layer', () => {
  let source: RegistryServer;
  let destination: RegistryServer;
  let image: BuiltManifest;

  before(async () => {
    [source, destination] = await Promise.all([startRegistry(), startRegistry()]);
    const layout = await ImageLayout.create();
    try {
      image = await addImage(layout, { layers: [LAYER_BYTES] });
      layout.tag(image.descriptor, 'big');
      await pushLayout(layout, 'big', `${source.host}/large/app:1`, source);
    } finally {
      await layout.remove();
    }
  });

  after(async () => {
    await Promise.all([source?.stop(), destination?.stop()]);
  });

  it(
    'streams it through in bounded memory and the copy is byte-identical',
    { timeout: 180_000 },
    async (t) => {
      // Act
      const run = await runEngineChild({
        source: `${source.host}/large/app:1`,
        destination: `${destination.host}/large/app:1`,
        sourceSide: { endpoint: source.url, credentials: source },
        destinationSide: { endpoint: destination.url, credentials: destination },
      });

      // Assess
      t.diagnostic(`copy ${(run.ms / 1000).toFixed(1)} s, peak RSS ${Math.round(run.maxRssKb / 1024)} MiB`);
      if (!run.report.ok) assert.fail(`copy failed: ${run.report.error.message}\n${run.stderr}`);
      assert.equal(run.report.outcome.digest, image.descriptor.digest);
      assert.equal(run.report.outcome.bytesCopied, LAYER_BYTES + image.config.size);
      const raw = await inspectRaw(`${destination.host}/large/app:1`, destination);
      assert.equal(sha256(raw), image.descriptor.digest);
      const layer = await fetch(`${destination.url}/v2/large/app/blobs/${image.layers[0]!.digest}`, {
        method: 'HEAD',
        headers: {
          authorization: `Basic ${Buffer.from(`${destination.username}:${destination.password}`).toString('base64')}`,
        },
      });
      assert.equal(layer.status, 200);
      assert.equal(layer.headers.get('content-length'), String(LAYER_BYTES));
      assert.ok(
        run.maxRssKb < RSS_BOUND_KB,
        `peak RSS ${Math.round(run.maxRssKb / 1024)} MiB for a 1 GiB layer: is a blob being buffered?`,
      );
    },
  );
});
