import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { adt, channelConfig, tempEngineConfig } from '../../test/helpers/channel.js';
import { canConnect, FAST_QUEUE, freePort, httpPort, httpSink, messageOf, mllpPort, mllpSender, onClose, slowSink, startEngine, untilStatus } from '../../test/helpers/engine.js';
import { eventually } from '../../test/helpers/http-sink.js';
import { Engine } from '../engine.js';
import { silentLogger } from '../log.js';
import { openStore } from '../store/index.js';

/** Binds a plain TCP server on the port (throws EADDRINUSE if something still holds it). */
async function bindable(port: number): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', () => resolve()); });
  await new Promise<void>((r) => server.close(() => r()));
}

describe('pause and start', () => {
  it('paused: new MLLP connections are refused while queued deliveries continue; started again: accepted', async () => {
    const port = await freePort();
    const { sink, url } = await httpSink();
    let down = true;
    sink.respond = () => ({ status: down ? 503 : 200 });
    const engine = await startEngine({ source: { mllp: { port } }, destinations: { out: { http: { url }, queue: FAST_QUEUE } } });
    const channel = engine.channel('test')!;
    const first = mllpSender(port);
    expect((await first.send(adt('P1', 'MRN1'))).code).toBe('AA');
    await first.close();
    const p1 = await messageOf(engine.store, 'P1');
    await untilStatus(engine.store, p1.id, 'QUEUED');

    await channel.pause();
    expect(channel.state).toBe('paused');
    expect(await canConnect(port)).toBe(false);
    down = false;
    await untilStatus(engine.store, p1.id, 'SENT'); // the queue kept going while paused
    expect(sink.bodies).toHaveLength(1);

    await channel.start();
    expect(channel.state).toBe('started');
    expect(mllpPort(engine)).toBe(port);
    expect((await mllpSender(port).send(adt('P2', 'MRN2'))).code).toBe('AA');
    await untilStatus(engine.store, (await messageOf(engine.store, 'P2')).id, 'SENT');
    expect(sink.bodies).toHaveLength(2);
  });

  it('paused: the HTTP source stops answering; started again: it takes messages', async () => {
    const port = await freePort();
    const { url } = await httpSink();
    const engine = await startEngine({ source: { http: { port } }, destinations: { out: { http: { url } } } });
    expect(httpPort(engine)).toBe(port);
    await engine.channel('test')!.pause();
    await expect(fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: adt('HP1', 'MRN1') })).rejects.toThrow();
    await engine.channel('test')!.start();
    expect((await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: adt('HP2', 'MRN1') })).status).toBe(200);
    expect(await engine.store.search({ channel: 'test' })).toHaveLength(1);
  });
});

describe('deploy and undeploy', () => {
  it('undeploy frees the MLLP port and forgets the channel', async () => {
    const { url } = await httpSink();
    const engine = await startEngine({ source: { mllp: { port: 0 } }, destinations: { out: { http: { url } } } });
    const port = mllpPort(engine);
    expect((await mllpSender(port).send(adt('U1', 'MRN1'))).code).toBe('AA');
    await expect(bindable(port)).rejects.toThrow(/EADDRINUSE/);
    await engine.undeploy('test');
    await bindable(port);
    expect(engine.channel('test')).toBeUndefined();
    expect(engine.intakeOf('test')).toBeUndefined();
    await expect(engine.undeploy('test')).rejects.toThrow(/no channel named "test"/);
  });

  it('undeploy frees the HTTP port; the same config deploys again on it', async () => {
    const port = await freePort();
    const { url } = await httpSink();
    const t = { source: { http: { port } }, destinations: { out: { http: { url } } } };
    const engine = await startEngine(t);
    await engine.undeploy('test');
    await bindable(port);
    await engine.deploy(channelConfig(t)).start();
    expect((await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: adt('U2', 'MRN1') })).status).toBe(200);
  });

  it('deploys and starts a new channel while another runs, and refuses a second one of the same name', async () => {
    const a = await httpSink();
    const b = await httpSink();
    const engine = await startEngine({ name: 'one', source: { mllp: { port: 0 } }, destinations: { out: { http: { url: a.url } } } });
    const toOne = mllpSender(mllpPort(engine, 'one'));
    await toOne.send(adt('N1', 'MRN1'));

    const two = engine.deploy(channelConfig({ name: 'two', source: { mllp: { port: 0 } }, destinations: { out: { http: { url: b.url } } } }));
    expect(two.state).toBe('stopped');
    await two.start();
    expect(() => engine.deploy(channelConfig({ name: 'two', source: { mllp: { port: 0 } }, destinations: { out: { http: { url: b.url } } } }))).toThrow(/already deployed/);
    await mllpSender(mllpPort(engine, 'two')).send(adt('N2', 'MRN2'));
    await toOne.send(adt('N3', 'MRN3')); // the first channel's connection was not disturbed

    await eventually(() => a.sink.bodies.length === 2 && b.sink.bodies.length === 1, 5_000, 'deliveries on both channels');
    expect(engine.list().map((c) => c.name)).toEqual(['one', 'two']);
    expect((await engine.store.search({ channel: 'two' })).map((m) => m.controlId)).toEqual(['N2']);
  });
});

describe('engine stop', () => {
  // DestinationQueue.stop waits for attempts in flight before aborting them; before that
  // fix the request was cut off and the message re-sent on the next start.
  it('lets an in-flight slow delivery finish; the message ends SENT', async () => {
    const slow = await slowSink(300);
    const config = await tempEngineConfig();
    const engine = await Engine.open(config, silentLogger);
    onClose(() => engine.stop());
    await engine.deploy(channelConfig({ source: { mllp: { port: 0 } }, destinations: { out: { http: { url: slow.url } } } })).start();
    await mllpSender(mllpPort(engine)).send(adt('S1', 'MRN1'));
    await eventually(() => slow.started() === 1, 5_000, 'delivery under way');
    const stopping = Date.now();
    await engine.stop();
    const took = Date.now() - stopping;

    const store = await openStore({ dataDir: config.dataDir });
    onClose(() => store.close());
    const [m] = await store.search({ channel: 'test', controlId: 'S1' });
    const detail = await store.get(m!.id);
    expect({ status: detail!.status, delivery: detail!.deliveries[0]?.status, took: took >= 200 }).toEqual({ status: 'SENT', delivery: 'SENT', took: true });
  });

  it('stops every channel: sources closed, nothing accepted afterwards', async () => {
    const { url } = await httpSink();
    const engine = await startEngine([
      { name: 'a', source: { mllp: { port: 0 } }, destinations: { out: { http: { url } } } },
      { name: 'b', source: { http: { port: 0 } }, destinations: { out: { http: { url } } } },
    ]);
    const mllp = mllpPort(engine, 'a');
    const http = httpPort(engine, 'b');
    await engine.stop();
    expect(engine.list().map((c) => c.state)).toEqual(['stopped', 'stopped']);
    expect(await canConnect(mllp)).toBe(false);
    expect(await canConnect(http)).toBe(false);
  });
});

describe('bounded backlog', () => {
  it('at maxBacklog, a new message waits before it is stored (its ACK held back) and goes through once deliveries drain', async () => {
    const { sink, url } = await httpSink();
    let down = true;
    sink.respond = () => ({ status: down ? 503 : 200 });
    const engine = await startEngine({ source: { mllp: { port: 0 } }, maxBacklog: 3, destinations: { out: { http: { url }, queue: FAST_QUEUE } } });
    const senders = [1, 2, 3, 4].map(() => mllpSender(mllpPort(engine)));
    onClose(() => Promise.all(senders.map((s) => s.close())).then(() => undefined));
    // Three patients: three deliveries retrying at once fill the backlog.
    for (const [i, mrn] of ['MRN1', 'MRN2', 'MRN3'].entries()) expect((await senders[i]!.send(adt(`B${i + 1}`, mrn))).code).toBe('AA');
    await eventually(async () => engine.channel('test')!.backlog() === 3, 5_000, 'three deliveries retrying');

    let acked = false;
    const fourth = senders[3]!.send(adt('B4', 'MRN4')).then((ack) => { acked = true; return ack; });
    await new Promise((r) => setTimeout(r, 400));
    expect(acked).toBe(false);
    expect(await engine.store.search({ channel: 'test', controlId: 'B4' })).toEqual([]); // not stored yet

    down = false;
    expect((await fourth).code).toBe('AA');
    await untilStatus(engine.store, (await messageOf(engine.store, 'B4')).id, 'SENT');
    expect(sink.requests).toBeGreaterThanOrEqual(4);
  });

  it('a message still waiting when the MLLP handler timeout passes gets AE and is not stored', async () => {
    const { sink, url } = await httpSink();
    sink.respond = () => ({ status: 503 });
    const engine = await startEngine({ source: { mllp: { port: 0, handlerTimeout: 300 } }, maxBacklog: 1, destinations: { out: { http: { url }, queue: FAST_QUEUE } } });
    const sender = mllpSender(mllpPort(engine));
    onClose(() => sender.close());
    expect((await sender.send(adt('T1', 'MRN1'))).code).toBe('AA');
    await eventually(async () => engine.channel('test')!.backlog() === 1, 5_000, 'one delivery retrying');
    expect((await sender.send(adt('T2', 'MRN2'))).code).toBe('AE');
    await new Promise((r) => setTimeout(r, 100));
    expect(await engine.store.search({ channel: 'test', controlId: 'T2' })).toEqual([]);
  });
});

describe('bounded backlog and shutdown', () => {
  it('stop() does not hang on an HTTP intake waiting for room: the waiting POST gets 503 and nothing is stored', async () => {
    const { sink, url } = await httpSink();
    sink.respond = () => ({ status: 503 });
    const engine = await startEngine({ source: { http: { port: 0 } }, maxBacklog: 1, destinations: { out: { http: { url }, queue: FAST_QUEUE } } });
    const post = (id: string, mrn: string) => fetch(`http://127.0.0.1:${httpPort(engine)}/`, { method: 'POST', body: adt(id, mrn) });
    expect((await post('S1', 'MRN1')).status).toBe(200);
    await eventually(async () => engine.channel('test')!.backlog() === 1, 5_000, 'one delivery retrying');
    const waiting = post('S2', 'MRN2');
    await new Promise((r) => setTimeout(r, 200));
    const stopped = engine.channel('test')!.stop().then(() => 'stopped');
    expect(await Promise.race([stopped, new Promise((r) => setTimeout(() => r('hung'), 4_000))])).toBe('stopped');
    expect((await waiting).status).toBe(503);
    expect(await engine.store.search({ channel: 'test', controlId: 'S2' })).toEqual([]);
  });

  it('a channel destination waiting for room in a full target channel does not hold up stopping the sender channel', async () => {
    const { sink, url } = await httpSink();
    sink.respond = () => ({ status: 503 });
    // b's delivery never gives up within the test, so b stays full: only a's abort can end the wait.
    const engine = await startEngine([
      { name: 'a', source: { mllp: { port: 0 } }, destinations: { b: { channel: { channel: 'b' }, queue: FAST_QUEUE } } },
      { name: 'b', source: { mllp: { port: 0 } }, maxBacklog: 1, destinations: { out: { http: { url }, queue: { ...FAST_QUEUE, maxAttempts: 100_000 } } } },
    ]);
    const sender = mllpSender(mllpPort(engine, 'a'));
    onClose(() => sender.close());
    expect((await sender.send(adt('C1', 'MRN1'))).code).toBe('AA');
    expect((await sender.send(adt('C2', 'MRN2'))).code).toBe('AA');
    await eventually(async () => engine.channel('b')!.backlog() === 1 && engine.channel('a')!.backlog() >= 1, 5_000, 'b full, a waiting');
    // a's queue lets the attempt run for its drain time (10 s), then aborts it.
    const stopped = engine.channel('a')!.stop().then(() => 'stopped');
    expect(await Promise.race([stopped, new Promise((r) => setTimeout(() => r('hung'), 15_000))])).toBe('stopped');
    // The hand-off that waited never reached b, and is still owed by a (QUEUED), for its next start.
    expect(await engine.store.search({ channel: 'b', controlId: 'C2' })).toEqual([]);
    const c2 = await engine.store.get((await messageOf(engine.store, 'C2', 'a')).id);
    expect(c2!.deliveries[0]).toMatchObject({ destination: 'b', status: 'QUEUED' });
  }, 25_000);
});

describe('http source connection cap', () => {
  it('closes connections beyond maxConnections, so requests waiting for room stay bounded', async () => {
    const { sink, url } = await httpSink();
    sink.respond = () => ({ status: 503 });
    const engine = await startEngine({ source: { http: { port: 0, maxConnections: 1 } }, maxBacklog: 1, destinations: { out: { http: { url }, queue: FAST_QUEUE } } });
    const port = httpPort(engine);
    const post = (id: string, mrn: string) => new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', reject);
      req.end(adt(id, mrn));
    });
    expect(await post('K1', 'MRN1')).toBe(200);
    await eventually(async () => engine.channel('test')!.backlog() === 1, 5_000, 'one delivery retrying');
    const waiting = post('K2', 'MRN2').catch((e: Error) => e.message); // holds the one connection
    await new Promise((r) => setTimeout(r, 200));
    await expect(post('K3', 'MRN3')).rejects.toThrow(/socket hang up|ECONNRESET/);
    await engine.channel('test')!.stop();
    expect(await waiting).toBe(503);
  });
});
