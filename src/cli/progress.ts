// A one-line progress display for long jobs: written to stderr with `\r`,
// only on a terminal and never under --json, so pipes, files and
// machine-readable output stay clean. Wall-clock throttled (cli/ may read
// the real clock).
import { performance } from 'node:perf_hooks';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  private shown = false;
  private last = -Infinity;
  private text = '';

  /** `out` null: a progress that shows nothing. */
  constructor(
    private readonly out: ProgressStream | null,
    private readonly minIntervalMs = 150,
  ) {}

  /** Progress on `stream` when it is a terminal and the output is not --json; otherwise none. */
  static forStream(stream: ProgressStream, opts: { json?: boolean } = {}): Progress {
    return new Progress(stream.isTTY === true && !opts.json ? stream : null);
  }

  /** Progress on stderr when it is a terminal and the output is not --json. */
  static forStderr(opts: { json?: boolean } = {}): Progress {
    return Progress.forStream(process.stderr, opts);
  }

  /** A progress that never shows anything. */
  static none(): Progress {
    return new Progress(null);
  }

  get active(): boolean {
    return this.out !== null;
  }

  /** Show `text` (throttled unless `force`). */
  update(text: string, force = false): void {
    if (this.out === null) return;
    const now = performance.now();
    if (!force && now - this.last < this.minIntervalMs) return;
    this.last = now;
    const cols = this.out.columns || 80; // 0 when the terminal size is unknown
    this.text = text.length >= cols ? `${text.slice(0, cols - 2)}…` : text;
    this.out.write(`\r${this.text}\x1b[K`);
    this.shown = true;
  }

  /** Remove the line (before printing anything else). */
  clear(): void {
    if (this.out === null || !this.shown) return;
    this.out.write('\r\x1b[K');
    this.shown = false;
  }

  /**
   * Clear the progress line before every write to `stream` (stdout) and
   * show it again after a write that ends a line, so output printed while a
   * job runs (benchmarks print their own lines) never lands behind it.
   * Returns the function that undoes this.
   */
  around(stream: NodeJS.WriteStream): () => void {
    if (this.out === null) return () => {};
    const original = stream.write;
    const self = this;
    stream.write = function (this: NodeJS.WriteStream, ...args: Parameters<NodeJS.WriteStream['write']>): boolean {
      const wasShown = self.shown;
      self.clear();
      const r = (original as (...a: unknown[]) => boolean).apply(this, args);
      const chunk = args[0];
      if (wasShown && typeof chunk === 'string' && chunk.endsWith('\n')) self.update(self.text, true);
      return r;
    } as NodeJS.WriteStream['write'];
    return () => {
      stream.write = original;
    };
  }
}

/** "1.2 GB", "340.0 MB", "12.0 kB", "999 B" (SI, as --bytes is typed). */
export function formatBytes(n: number): string {
  for (const [u, f] of [['GB', 1e9], ['MB', 1e6], ['kB', 1e3]] as const) if (n >= f) return `${(n / f).toFixed(1)} ${u}`;
  return `${n} B`;
}
