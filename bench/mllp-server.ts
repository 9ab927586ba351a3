/**
 * One MLLP server for bench/mllp.ts, run in its own process so the client does not share
 * its event loop. Usage: node --import tsx bench/mllp-server.ts <sluice|simple-hl7|medplum|echo>
 *
 * Prints `PORT <n>` once listening on 127.0.0.1. Reads commands on stdin: `cpu` prints
 * `CPU <user microseconds> <system microseconds>`; end of stdin (the parent exiting) stops the process.
 */
import { closeSync, fdatasync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Hl7Server, type Hl7MessageEvent } from '@medplum/hl7';
import { buildAck } from '../engine/hl7/index.js';
import { MllpListener, defaultReply } from '../engine/mllp/index.js';
import { frame } from '../engine/mllp/framing.js';
import { CEILING_KINDS, SERVER_KINDS, type CeilingKind, type ServerKind } from './lib/mllp-kinds.js';
import { simpleHl7 } from './lib/simple-hl7.js';

/** The fixed reply of the echo ceiling: a minimal but valid ACK. */
const ECHO_ACK = frame('MSH|^~\\&|ECHO|BENCH|||20240101000000||ACK^A01^ACK|1|P|2.5.1\rMSA|AA|1\r');

/**
 * simple-hl7 and @medplum/hl7 call `server.listen(port)`, which binds every interface.
 * In this process only, a listen call with a port and no host gets 127.0.0.1.
 */
function forceLoopback(): void {
  const original = net.Server.prototype.listen;
  net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]): net.Server {
    if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
    return (original as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof original;
}

function listening(server: net.Server | null | undefined): Promise<number> {
  if (!server) throw new Error('server did not start');
  return new Promise((resolve, reject) => {
    const done = (): void => {
      const a = server.address();
      if (a && typeof a === 'object') resolve(a.port);
      else reject(new Error('no address'));
    };
    if (server.listening) done();
    else { server.once('listening', done); server.once('error', reject); }
  });
}

/**
 * The durable-listener ceilings: messages that arrive in one tick are appended to a file with
 * one write, synchronously on the event loop as SQLite does, and only then ACKed.
 * - `append`: no fsync (survives SIGKILL);
 * - `fsync`: one fdatasync per write, on the event loop (what SQLite's FULL commit does);
 * - `pipelined`: the fdatasync runs on libuv's thread pool and the event loop goes on reading
 *   and appending; a batch is ACKed when an fdatasync started after its write returns. Several
 *   may be in flight, so no batch waits for an earlier batch's flush to finish first. This
 *   is the best any listener that fsyncs before its ACK can do on this disk.
 */
function appendingListener(sync: 'none' | 'inline' | 'pipelined'): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-append-'));
  const fd = openSync(path.join(dir, 'journal'), 'a');
  process.once('exit', () => { closeSync(fd); rmSync(dir, { recursive: true, force: true }); });
  let pending: { raw: Buffer; done: () => void }[] = [];
  const flush = (): void => {
    const batch = pending;
    pending = [];
    writeSync(fd, Buffer.concat(batch.map((p) => p.raw)));
    const ack = (): void => { for (const p of batch) p.done(); };
    if (sync === 'pipelined') {
      fdatasync(fd, (error) => { if (error) throw error; ack(); });
      return;
    }
    if (sync === 'inline') fdatasyncSync(fd);
    ack();
  };
  const listener = new MllpListener({
    host: '127.0.0.1',
    port: 0,
    handler: (inbound) => {
      if (!inbound.message) return defaultReply(inbound);
      const message = inbound.message;
      return new Promise((resolve) => {
        if (pending.length === 0) setImmediate(flush);
        pending.push({ raw: Buffer.from(inbound.raw), done: () => resolve(buildAck(message, { code: 'AA' })) });
      });
    },
  });
  return listener.start();
}

async function start(kind: ServerKind | CeilingKind): Promise<number> {
  switch (kind) {
    case 'sluice-append':
      return appendingListener('none');
    case 'sluice-fsync':
      return appendingListener('inline');
    case 'sluice-fsync-pipelined':
      return appendingListener('pipelined');
    case 'sluice': {
      const listener = new MllpListener({
        host: '127.0.0.1',
        port: 0,
        handler: (inbound) => (inbound.message ? buildAck(inbound.message, { code: 'AA' }) : defaultReply(inbound)),
      });
      return listener.start();
    }
    case 'simple-hl7': {
      forceLoopback();
      const app = simpleHl7.tcp();
      // The ACK (res.ack) is built by the server for every message; the handler only sends it.
      app.use((_req: { msg: unknown }, res: { end(): void }) => res.end());
      const tcp = app.start(0);
      return listening(tcp.server);
    }
    case 'medplum': {
      forceLoopback();
      const server = new Hl7Server((connection) => {
        connection.addEventListener('message', (event: Hl7MessageEvent) => connection.send(event.message.buildAck()));
      });
      server.start(0);
      return listening(server.server);
    }
    case 'echo': {
      const server = net.createServer((socket) => {
        socket.setNoDelay(true);
        // FS (0x1C) ends a frame; the CR after it may arrive in the next chunk, so count FS.
        socket.on('data', (chunk: Buffer) => {
          for (let i = chunk.indexOf(0x1c); i >= 0; i = chunk.indexOf(0x1c, i + 1)) socket.write(ECHO_ACK);
        });
        socket.on('error', () => socket.destroy());
      });
      server.listen(0, '127.0.0.1');
      return listening(server);
    }
  }
}

async function main(): Promise<void> {
  const kind = process.argv[2] as ServerKind | CeilingKind;
  if (![...SERVER_KINDS, ...CEILING_KINDS].includes(kind)) {
    process.stderr.write(`usage: mllp-server.ts <${[...SERVER_KINDS, ...CEILING_KINDS].join('|')}>\n`);
    process.exit(2);
  }
  const port = await start(kind);
  process.stdout.write(`PORT ${port}\n`);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'cpu') {
      const u = process.cpuUsage();
      process.stdout.write(`CPU ${u.user} ${u.system}\n`);
    }
  });
  rl.on('close', () => process.exit(0));
}

void main();
