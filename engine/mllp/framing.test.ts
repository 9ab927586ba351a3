import { describe, expect, it } from 'vitest';
import { CR, FS, FrameTooLargeError, MllpDecoder, VT, frame } from './framing.js';
import { MllpListener } from './listener.js';
import { RawClient, adt, memoryLogger, onCleanup, sleep, waitFor } from '../../test/helpers/mllp.js';

async function startListener(opts: Partial<ConstructorParameters<typeof MllpListener>[0]> = {}): Promise<{ listener: MllpListener; port: number }> {
  const listener = new MllpListener({ host: '127.0.0.1', port: 0, ...opts });
  const port = await listener.start();
  onCleanup(() => listener.close());
  return { listener, port };
}

describe('MllpDecoder', () => {
  it('frames 0x0B ... 0x1C 0x0D', () => {
    const f = frame('MSH|^~\\&|A');
    expect(f[0]).toBe(VT);
    expect(f.subarray(-2)).toEqual(Buffer.from([FS, CR]));
    expect(new MllpDecoder().push(f).map(String)).toEqual(['MSH|^~\\&|A']);
  });

  it('reassembles a frame fed one byte at a time, and splits several frames in one chunk', () => {
    const d = new MllpDecoder();
    const bytes = Buffer.concat([frame('ONE'), frame('TWO'), frame('THREE')]);
    const out: string[] = [];
    for (const b of bytes) out.push(...d.push(Buffer.from([b])).map(String));
    expect(out).toEqual(['ONE', 'TWO', 'THREE']);
    expect(d.discardedBytes).toBe(0);
    expect(new MllpDecoder().push(bytes).map(String)).toEqual(['ONE', 'TWO', 'THREE']);
  });

  it('counts bytes outside frames and abandoned partial frames, tolerates a missing CR', () => {
    const d = new MllpDecoder();
    const out = d.push(Buffer.concat([Buffer.from('junk'), frame('A'), Buffer.from('\n\n'), Buffer.from([VT]), Buffer.from('partial'), frame('B'), Buffer.from([VT, 0x43, FS, VT, 0x44, FS, CR])]));
    expect(out.map(String)).toEqual(['A', 'B', 'C', 'D']);
    // 4 (junk) + 2 (LF LF) + 8 (VT + "partial")
    expect(d.discardedBytes).toBe(14);
    expect(d.partial).toBe(false);
  });

  it('throws FrameTooLargeError past the limit but keeps the frames completed before it', () => {
    const d = new MllpDecoder(16);
    expect(() => d.push(Buffer.concat([frame('small'), frame('x'.repeat(40))]))).toThrow(FrameTooLargeError);
    const d2 = new MllpDecoder(16);
    let caught: unknown;
    try {
      d2.push(Buffer.concat([frame('small'), frame('x'.repeat(40))]));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FrameTooLargeError);
    expect((caught as FrameTooLargeError).frames.map(String)).toEqual(['small']);
    // exactly at the limit is fine
    expect(new MllpDecoder(16).push(frame('y'.repeat(16))).map(String)).toEqual(['y'.repeat(16)]);
  });
});

describe('MLLP framing over a real socket', () => {
  it('reassembles a message written byte by byte with small delays', async () => {
    const { listener, port } = await startListener();
    const client = await RawClient.connect(port);
    const bytes = frame(adt('BYTE1'));
    for (let i = 0; i < bytes.length; i++) {
      client.write(bytes.subarray(i, i + 1));
      // A pause every few bytes forces separate TCP segments without making the test slow.
      if (i % 8 === 0) await sleep(1);
    }
    const ack = await client.next();
    expect(ack.get('MSA-1')).toBe('AA');
    expect(ack.get('MSA-2')).toBe('BYTE1');
    expect(listener.stats.frames).toBe(1);
    expect(listener.stats.discardedBytes).toBe(0);
  });

  it('splits the frame boundary itself across chunks (FS | CR | VT in separate writes)', async () => {
    const { port } = await startListener();
    const client = await RawClient.connect(port);
    const a = frame(adt('SPLIT1'));
    const b = frame(adt('SPLIT2'));
    client.write(a.subarray(0, a.length - 1));
    await sleep(5);
    client.write(a.subarray(a.length - 1));
    await sleep(5);
    client.write(b.subarray(0, 1));
    await sleep(5);
    client.write(b.subarray(1));
    expect((await client.next()).get('MSA-2')).toBe('SPLIT1');
    expect((await client.next()).get('MSA-2')).toBe('SPLIT2');
  });

  it('handles many messages in one chunk and ACKs them in order', async () => {
    const { listener, port } = await startListener();
    const client = await RawClient.connect(port);
    const ids = Array.from({ length: 20 }, (_, i) => `MULTI${i}`);
    client.write(Buffer.concat(ids.map((id) => frame(adt(id)))));
    const acks: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const ack = await client.next();
      expect(ack.get('MSA-1')).toBe('AA');
      acks.push(ack.get('MSA-2'));
    }
    expect(acks).toEqual(ids);
    expect(listener.stats.acks).toBe(ids.length);
  });

  it('discards and counts bytes outside frames, logging the count without message content', async () => {
    const mem = memoryLogger();
    const { listener, port } = await startListener({ logger: mem.logger });
    const client = await RawClient.connect(port);
    const junk = 'PID|1||SECRET-MRN-778899||SMITH^JOHN\r';
    client.write(Buffer.concat([Buffer.from(junk), frame(adt('AFTERJUNK', { patient: 'PRIVATE^PERSON' })), Buffer.from('\n\n\n')]));
    const ack = await client.next();
    expect(ack.get('MSA-1')).toBe('AA');
    expect(ack.get('MSA-2')).toBe('AFTERJUNK');
    await waitFor(() => listener.stats.discardedBytes === junk.length + 3, 'discardedBytes to count junk + 3 LF');
    // The discard is logged while the connection is still open, with the count.
    await waitFor(() => mem.lines().some((l) => typeof l.discardedBytes === 'number'), 'a discardedBytes log line');
    await client.close();
    await waitFor(() => listener.stats.connections === 0, 'the connection to close');
    const lines = mem.lines().filter((l) => typeof l.discardedBytes === 'number');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.at(-1)!.discardedBytes).toBe(junk.length + 3);
    const all = mem.text();
    for (const phi of ['SECRET-MRN-778899', 'SMITH', 'PRIVATE', 'MRN-AFTERJUNK', 'PID|']) expect(all).not.toContain(phi);
  });

  it('keeps a connection usable after a frame restarted mid-way (VT inside a frame)', async () => {
    const { listener, port } = await startListener();
    const client = await RawClient.connect(port);
    client.write(Buffer.concat([Buffer.from([VT]), Buffer.from('MSH|^~\\&|TRUNCATED'), frame(adt('RESTART1'))]));
    const ack = await client.next();
    expect(ack.get('MSA-2')).toBe('RESTART1');
    expect(listener.stats.discardedBytes).toBe(1 + 'MSH|^~\\&|TRUNCATED'.length);
    expect(listener.stats.frames).toBe(1);
  });
});
