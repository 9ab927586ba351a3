/**
 * simple-hl7 (v3.3) ships CommonJS without types. These are the few shapes the benchmarks
 * use, loaded through createRequire so the `any` stays at this one boundary.
 */
import { createRequire } from 'node:module';
import type net from 'node:net';

export interface SimpleSegment {
  name: string;
  getField(index: number, repetition?: number): string;
  getComponent(field: number, component: number, subcomponent?: number): string;
}

export interface SimpleMessage {
  header: SimpleSegment;
  getSegment(name: string): SimpleSegment | undefined;
  getSegments(name: string): SimpleSegment[];
  toString(): string;
}

export interface SimpleParser {
  parse(text: string): SimpleMessage;
}

export interface SimpleRes {
  ack: SimpleMessage;
  end(): void;
}

export interface SimpleApp {
  use(fn: (req: { msg: SimpleMessage }, res: SimpleRes, next: () => void) => void): void;
  use(fn: (err: unknown, req: unknown, res: SimpleRes, next: () => void) => void): void;
  /** Returns the TcpServer; its `server` is the net.Server. */
  start(port: number, encoding?: string): { server: net.Server | null };
  stop(): void;
}

export interface SimpleHl7 {
  Parser: new (opts?: { segmentSeperator?: string }) => SimpleParser;
  tcp(): SimpleApp;
}

const require = createRequire(import.meta.url);
export const simpleHl7 = require('simple-hl7') as SimpleHl7;
