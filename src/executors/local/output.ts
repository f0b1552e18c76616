/**
 * Turns a workload's stdout/stderr byte streams into timestamped log lines and enforces the output
 * limit. Bytes are counted across both streams; once the total would pass the limit, the bytes up
 * to it are still emitted, the rest is dropped and `push` returns false (the caller kills the
 * attempt). Lines longer than `maxLineBytes` are split (never inside a UTF-8 sequence); a trailing
 * "\r" is dropped; a last line without "\n" is emitted by `flush()`.
 */

export type OutputStream = "stdout" | "stderr";

export interface OutputCollectorOptions {
  limitBytes: number;
  maxLineBytes?: number;
  emit(stream: OutputStream, text: string, at: Date): void;
  now?: () => Date;
}

export const DEFAULT_MAX_LINE_BYTES = 8 * 1024;

const NEWLINE = 0x0a;

export class OutputCollector {
  private readonly limit: number;
  private readonly maxLine: number;
  private readonly emitLine: OutputCollectorOptions["emit"];
  private readonly now: () => Date;
  private readonly pending: Record<OutputStream, Buffer> = {
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
  };
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  private total = 0;
  private over = false;

  constructor(options: OutputCollectorOptions) {
    if (!(options.limitBytes >= 0)) throw new RangeError("limitBytes must be >= 0");
    this.limit = options.limitBytes;
    this.maxLine = Math.max(4, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.emitLine = options.emit;
    this.now = options.now ?? (() => new Date());
  }

  /** Bytes received and kept so far (never more than the limit). */
  get bytes(): number {
    return this.total;
  }

  /** True once output went past the limit. */
  get exceeded(): boolean {
    return this.over;
  }

  /** Feeds a chunk; returns false once the limit is exceeded (now or before). */
  push(stream: OutputStream, chunk: Buffer): boolean {
    if (this.over) return false;
    const at = this.now();
    let data = chunk;
    if (this.total + data.length > this.limit) {
      data = data.subarray(0, this.limit - this.total);
      this.over = true;
    }
    this.total += data.length;
    this.consume(stream, data, at);
    if (this.over) this.flushStream(stream, at);
    return !this.over;
  }

  /** Emits the unterminated last line of each stream. */
  flush(): void {
    const at = this.now();
    this.flushStream("stdout", at);
    this.flushStream("stderr", at);
  }

  private consume(stream: OutputStream, data: Buffer, at: Date): void {
    let buf = this.pending[stream].length > 0 ? Buffer.concat([this.pending[stream], data]) : data;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(NEWLINE, start);
      if (nl === -1) break;
      this.emitSplit(stream, buf.subarray(start, nl), at);
      start = nl + 1;
    }
    buf = buf.subarray(start);
    // Keep an unterminated tail, but never more than one line's worth.
    while (buf.length >= this.maxLine) {
      const cut = utf8Boundary(buf, this.maxLine);
      this.emitText(stream, buf.subarray(0, cut), at);
      buf = buf.subarray(cut);
    }
    this.pending[stream] = Buffer.from(buf);
  }

  private flushStream(stream: OutputStream, at: Date): void {
    const rest = this.pending[stream];
    this.pending[stream] = Buffer.alloc(0);
    if (rest.length > 0) this.emitSplit(stream, rest, at);
  }

  private emitSplit(stream: OutputStream, line: Buffer, at: Date): void {
    let rest = line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line;
    while (rest.length > this.maxLine) {
      const cut = utf8Boundary(rest, this.maxLine);
      this.emitText(stream, rest.subarray(0, cut), at);
      rest = rest.subarray(cut);
    }
    this.emitText(stream, rest, at);
  }

  private emitText(stream: OutputStream, bytes: Buffer, at: Date): void {
    this.emitLine(stream, this.decoder.decode(bytes), at);
  }
}

/**
 * Largest cut position <= max that does not fall inside a UTF-8 sequence (falls back to max when
 * the bytes are not UTF-8 at all).
 */
export function utf8Boundary(buf: Buffer, max: number): number {
  if (buf.length <= max) return buf.length;
  for (let cut = max; cut > max - 4 && cut > 0; cut--) {
    const b = buf[cut];
    if (b === undefined || (b & 0xc0) !== 0x80) return cut;
  }
  return max;
}
