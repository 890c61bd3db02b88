/**
 * The last few KB an instance wrote to a stream, for error messages (a failed
 * start shows the handler's stderr), plus line splitting for forwarding its
 * output to the orchestrator's log.
 */

/** Keeps the last `limit` bytes written. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit = 4096) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  /** The kept text, cut to whole lines at the start when it was truncated. */
  text(): string {
    const all = Buffer.concat(this.chunks);
    let text = all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
    if (all.length > this.limit) text = text.slice(text.indexOf('\n') + 1);
    return text.trimEnd();
  }
}

/** Calls `onLine` for each complete line of a stream (the rest when it ends). */
export function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString('utf8');
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) onLine(line.replace(/\r$/, ''));
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
    rest = '';
  });
}
