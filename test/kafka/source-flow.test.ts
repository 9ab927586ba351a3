import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adt } from '../helpers/channel.js';
import { eventually } from '../helpers/http-sink.js';
import { httpSink, sleep, startEngine } from '../helpers/engine.js';
import type { Intake, Outcome } from '../../engine/channel/types.js';
import { committedOffset, deleteTestTopics, kafkaSource, readTopic, requireBroker, TEST_BROKERS, topicWith, uniqueTopic } from './helpers.js';

/* Review findings 1, 2, 7 and 10 (issue 5): the Kafka source's flow control, retry cap, stop and dead letters. */

beforeAll(() => requireBroker());
afterAll(() => deleteTestTopics());

describe('kafka source backpressure', () => {
  it('pauses at maxBacklog while the destination is down, and completes once it is back', async () => {
    const total = 600;
    const maxBacklog = 60;
    const topic = await topicWith(Array.from({ length: total }, (_, i) => ({ key: `P${i % 50}`, value: adt(`B${i}`, `P${i % 50}`) })));
    const { sink, url } = await httpSink();
    sink.respond = () => ({ status: 503 }); // down: every delivery is retried
    const groupId = uniqueTopic('bp');
    const engine = await startEngine({
      name: 'bp',
      source: { kafka: { topics: topic, groupId, brokers: TEST_BROKERS, maxBacklog, maxInFlight: 16, commitInterval: 20 } },
      destinations: { out: { http: { url }, queue: { maxAttempts: 100_000, backoff: { initial: 100, max: 300, factor: 2 } } } },
    });
    const stored = async (): Promise<number> => (await engine.store.search({ channel: 'bp', limit: total * 2 })).length;
    // The backlog counts messages at the intake too, so fetching stops somewhere between half the mark and the mark.
    await eventually(async () => (await stored()) >= maxBacklog / 2, 20_000, 'the backlog filled');
    await sleep(2500); // without flow control, all 600 are stored within this time (reproduced: all 3000)
    const held = await stored();
    const committed = (await committedOffset(groupId, topic, 0)) ?? 0n;
    process.stdout.write(`backpressure: destination down, maxBacklog ${maxBacklog}: ${held}/${total} stored, committed offset ${committed}\n`);
    // The mark plus what was already at the intake when fetching paused (maxInFlight) and the fetched batch in the stream.
    expect(held).toBeLessThanOrEqual(maxBacklog + 16 + 10);
    expect(held).toBeGreaterThanOrEqual(maxBacklog / 2);
    expect(committed).toBeLessThanOrEqual(BigInt(held));

    sink.respond = () => ({ status: 200 }); // back: the queue drains and consumption resumes
    await eventually(async () => (await stored()) === total, 45_000, `all ${total} stored`);
    await eventually(async () => sink.bodies.length >= total, 45_000, `all ${total} delivered`);
    await eventually(async () => (await committedOffset(groupId, topic, 0)) === BigInt(total), 10_000, 'offsets at the end');
  }, 90_000);
});

describe('kafka source stuck records', () => {
  it('gives a record the channel cannot store up after maxIntakeAttempts: dead-lettered with a fixed reason, committed past', async () => {
    const topic = await topicWith([{ key: 'A', value: 'ok-0' }, { key: 'A', value: 'stuck' }, { key: 'B', value: 'ok-2' }, { key: 'A', value: 'ok-3' }]);
    const dlq = `${topic}.dlq`;
    const groupId = uniqueTopic('stuck');
    let stuckAttempts = 0;
    const accepted: string[] = [];
    const intake: Intake = async (raw) => {
      const value = Buffer.from(raw).toString();
      // The text quotes the payload, as Node 20's JSON.parse error does: it must not reach the DLT.
      if (value === 'stuck') { stuckAttempts++; return { status: 'error', ackCode: 'AE', text: `store down near "${value} MRN 12345"` }; }
      accepted.push(value);
      return { status: 'accepted', ackCode: 'AA' };
    };
    await kafkaSource({ topics: topic, groupId, maxIntakeAttempts: 3, deadLetterTopic: dlq }).start(intake);
    await eventually(async () => (await committedOffset(groupId, topic, 0)) === 4n, 20_000, 'committed past the stuck record');
    expect(stuckAttempts).toBe(3);
    expect(accepted.sort()).toEqual(['ok-0', 'ok-2', 'ok-3']);
    const [dead] = await readTopic(dlq, 1);
    expect(dead?.value.toString()).toBe('stuck');
    expect(dead?.headers['sluice-error']).toBe('not-stored');
    expect(dead?.headers['sluice-source']).toBe(`${topic}/0/1`);
  });

  it('puts only a fixed reason into the dead-letter header of a rejected record, never the error text', async () => {
    const topic = await topicWith([{ key: 'A', value: '{"resourceType": "Patient", "name": "Jane Doe' }]);
    const dlq = `${topic}.dlq`;
    const intake: Intake = async (raw) => ({ status: 'rejected', ackCode: 'AR', text: `Unexpected end of JSON input: ${Buffer.from(raw).toString()}` });
    await kafkaSource({ topics: topic, deadLetterTopic: dlq }).start(intake);
    const [dead] = await readTopic(dlq, 1);
    expect(dead?.headers['sluice-error']).toBe('rejected');
    expect(JSON.stringify(dead?.headers)).not.toMatch(/Jane/);
  });
});

describe('kafka source stop', () => {
  it('starts no intake call once stop() began: records queued behind a key are left to re-delivery', async () => {
    const topic = await topicWith(Array.from({ length: 40 }, (_, i) => ({ key: 'same', value: String(i) })));
    let calls = 0;
    let stopCalled = false;
    let callsAfterStop = 0;
    let resolveFirst!: () => void;
    const first = new Promise<void>((r) => { resolveFirst = r; });
    const intake: Intake = async (): Promise<Outcome> => {
      calls++;
      if (stopCalled) callsAfterStop++;
      resolveFirst();
      await sleep(100); // one key: the others wait in its lane
      return { status: 'accepted', ackCode: 'AA' };
    };
    const source = kafkaSource({ topics: topic, maxInFlight: 40 });
    await source.start(intake);
    await first;
    await sleep(150);
    stopCalled = true;
    await source.stop();
    const atStop = calls;
    await sleep(300);
    expect(callsAfterStop).toBe(0);
    expect(calls).toBe(atStop);
    expect(calls).toBeLessThan(40);
  });
});
