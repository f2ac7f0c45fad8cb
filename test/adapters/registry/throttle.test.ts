// The rate state on its own: a 429 without Retry-After paces that request's lane (half the rate it
// saw, then about +1/s per second of other answers), a 429 to a request sent before the last cut
// is not news, other lanes keep going, held turns leave one at a time in order, an abort frees its
// turn. Counts and order are asserted; the only spacing checked is the lane's own floor.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIN_LANE_RATE, Throttle, ThrottlePool } from '../../../lambdas/adapters/registry/throttle';

describe('registry throttle', () => {
  it('cuts a lane to half the sends it saw on a 429, once per cut, and leaves other lanes alone', async () => {
    // Prepare: eight PutImage requests out at once
    const throttle = new Throttle();
    const tickets = await Promise.all(Array.from({ length: 8 }, () => throttle.turn('PutImage', undefined)));
    assert.equal(throttle.rate('PutImage'), undefined, 'not paced before any 429');
    // Act: the first and the second answer are 429s without Retry-After
    throttle.settle(tickets[0]!, 429, false);
    throttle.settle(tickets[1]!, 429, false);
    // Assess: one cut (the second was sent before it), to 8 / 2
    assert.equal(throttle.rate('PutImage'), 4);
    assert.equal(throttle.rate('BatchGetImage'), undefined);
    // Act: a request sent after the cut is answered 429 too
    const later = await throttle.turn('PutImage', undefined);
    throttle.settle(later, 429, false);
    // Assess
    assert.equal(throttle.rate('PutImage'), 2);
  });

  it('grows a paced lane with each other answer; a 429 with Retry-After leaves the lanes alone', async () => {
    const throttle = new Throttle();
    const ticket = await throttle.turn('UploadLayerPart', undefined);
    throttle.settle(ticket, 429, false);
    assert.equal(throttle.rate('UploadLayerPart'), MIN_LANE_RATE, 'one send seen: half of one');
    throttle.settle(ticket, 201, false);
    assert.equal(throttle.rate('UploadLayerPart'), MIN_LANE_RATE + 1 / MIN_LANE_RATE);
    // A Retry-After is the registry-wide pause's (retry.ts), not a lane's.
    throttle.settle(await throttle.turn('CompleteLayerUpload', undefined), 429, true);
    assert.equal(throttle.rate('CompleteLayerUpload'), undefined);
  });

  it('pools one Throttle per ECR account and Region, and per host for other registries', () => {
    const pool = new ThrottlePool();
    const east = pool.for('111111111111.dkr.ecr.us-east-1.amazonaws.com');
    assert.equal(pool.for('111111111111.dkr.ecr.us-east-1.amazonaws.com'), east);
    assert.equal(pool.for('111111111111.dkr.ecr-fips.us-east-1.amazonaws.com'), east, 'its FIPS endpoint');
    assert.notEqual(pool.for('111111111111.dkr.ecr.us-west-2.amazonaws.com'), east, 'another Region');
    assert.notEqual(pool.for('222222222222.dkr.ecr.us-east-1.amazonaws.com'), east, 'another account');
    assert.equal(pool.for('127.0.0.1:5000'), pool.for('127.0.0.1:5000'));
    assert.notEqual(pool.for('127.0.0.1:5000'), pool.for('127.0.0.1:5001'));
  });

  it('never paces a lane below the floor it was given', async () => {
    // Prepare: a floor of 50/s (the default is MIN_LANE_RATE)
    const throttle = new Throttle({ minRate: 50 });
    // Act: one send seen, then 429s to it and to a later one
    throttle.settle(await throttle.turn('PutImage', undefined), 429, false);
    const cutAt = throttle.rate('PutImage');
    throttle.settle(await throttle.turn('PutImage', undefined), 429, false);
    // Assess: half of one send would be 0.5/s, and halving again 0.25/s
    assert.equal(cutAt, 50);
    assert.equal(throttle.rate('PutImage'), 50);
    assert.equal(new Throttle().lanePolicy.minRate, MIN_LANE_RATE);
  });

  it('lets held turns go one at a time, in order, at the lane pace; an abort frees its turn', async () => {
    // Prepare: forty sends seen, then a 429: 20 per second, 50 ms apart
    const throttle = new Throttle();
    const first = await Promise.all(Array.from({ length: 40 }, () => throttle.turn('PutImage', undefined)));
    throttle.settle(first[0]!, 429, false);
    assert.equal(throttle.rate('PutImage'), 20);
    const controller = new AbortController();
    const order: number[] = [];
    // Act
    const held = [0, 1, 2, 3].map((i) =>
      throttle.turn('PutImage', i === 2 ? controller.signal : undefined).then((ticket) => {
        order.push(i);
        return ticket.sentAt;
      }),
    );
    controller.abort(new Error('deadline'));
    const settled = await Promise.allSettled(held);
    // Assess
    assert.deepEqual(order, [0, 1, 3]);
    assert.equal(settled[2]?.status, 'rejected');
    assert.match(String((settled[2] as PromiseRejectedResult).reason), /deadline/);
    const times = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    // Timers may fire a millisecond before Date.now() reaches their time.
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 50 - 2, String(times));
  });
});
