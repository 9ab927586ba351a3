/** MLLP framing: <VT> message <FS><CR> (0x0B ... 0x1C 0x0D). */
export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

export function frame(payload: Buffer | string): Buffer {
  if (typeof payload === 'string') {
    // One allocation: encode the text straight into the framed buffer.
    const len = Buffer.byteLength(payload, 'utf8');
    const out = Buffer.allocUnsafe(len + 3);
    out[0] = VT;
    out.write(payload, 1, 'utf8');
    out[len + 1] = FS;
    out[len + 2] = CR;
    return out;
  }
  const out = Buffer.allocUnsafe(payload.length + 3);
  out[0] = VT;
  payload.copy(out, 1);
  out[payload.length + 1] = FS;
  out[payload.length + 2] = CR;
  return out;
}

export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';
  /**
   * Whole frames that ended earlier in the same chunk, before the oversized one. They were
   * received in full and in order, so the caller should still handle (and ACK) them.
   */
  frames: Buffer[] = [];
  constructor(readonly limit: number) {
    super(`MLLP frame exceeds the limit of ${limit} bytes`);
  }
}

/**
 * Incremental MLLP decoder. Feed it TCP chunks in order; it returns whole frames.
 * Handles frames split across chunks and several frames in one chunk. Bytes outside a
 * frame are discarded and counted. A frame ends at FS; the CR after it is expected but
 * tolerated when missing, since some senders omit it. A VT inside a frame means the
 * sender restarted, so the partial frame is discarded (and counted) and a new one begins.
 */
export class MllpDecoder {
  private parts: Buffer[] = [];
  private size = 0;
  private inFrame = false;
  private expectCr = false;
  /** Bytes thrown away because they were outside any frame or in an abandoned partial frame. */
  discardedBytes = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /**
   * Returns the frames completed by this chunk. Throws FrameTooLargeError past the limit;
   * the error carries the frames completed earlier in the chunk.
   */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.expectCr) {
        this.expectCr = false;
        if (chunk[i] === CR) { i++; continue; }
      }
      if (!this.inFrame) {
        const start = chunk.indexOf(VT, i);
        if (start < 0) { this.discardedBytes += n - i; break; }
        this.discardedBytes += start - i;
        this.inFrame = true;
        i = start + 1;
        continue;
      }
      const fs = chunk.indexOf(FS, i);
      const vt = chunk.indexOf(VT, i);
      if (vt >= 0 && (fs < 0 || vt < fs)) {
        // A new start before this frame ended: abandon the partial frame.
        this.discardedBytes += this.size + (vt - i) + 1;
        this.reset();
        this.inFrame = true;
        i = vt + 1;
        continue;
      }
      const end = fs < 0 ? n : fs;
      if (end > i) {
        try {
          this.append(chunk.subarray(i, end));
        } catch (err) {
          if (err instanceof FrameTooLargeError) err.frames = frames;
          throw err;
        }
      }
      if (fs < 0) break;
      frames.push(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size));
      this.reset();
      this.expectCr = true;
      i = fs + 1;
    }
    return frames;
  }

  /** True while a frame has started but not ended. */
  get partial(): boolean {
    return this.inFrame;
  }

  private append(part: Buffer): void {
    this.size += part.length;
    if (this.size > this.maxFrameBytes) {
      this.reset();
      throw new FrameTooLargeError(this.maxFrameBytes);
    }
    // No copy: Node hands each 'data' event a buffer it never reuses.
    this.parts.push(part);
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
    this.inFrame = false;
  }
}
