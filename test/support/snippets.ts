// Code snippets of README.md and docs/*.md as programs. Every ```ts and
// ```js fence is a complete program that imports only from the package; a
// ```text fence right after one (blank lines between allowed) is what it
// prints. A snippet that opens a TUN device needs root and /dev/net/tun.
import { readdirSync, readFileSync } from 'node:fs';

export interface Snippet {
  /** e.g. README.md#3 (the third program in README.md). */
  id: string;
  /** A file-name-safe form of id. */
  slug: string;
  lang: 'ts' | 'js';
  code: string;
  /** Expected stdout, when the document shows it. */
  prints?: string;
  needsTun: boolean;
  /** Line of the opening fence (1-based), for messages. */
  line: number;
}

const FENCE = /^```(\w*)\s*$/;

export function extractSnippets(file: string, text: string): Snippet[] {
  const lines = text.split('\n');
  const out: Snippet[] = [];
  let n = 0;
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (open === null) continue;
    const lang = open[1] ?? '';
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j]!)) j++;
    const body = lines.slice(i + 1, j).join('\n');
    if (lang === 'ts' || lang === 'js') {
      n++;
      const id = `${file}#${n}`;
      const s: Snippet = { id, slug: id.replace(/[^A-Za-z0-9]+/g, '-'), lang, code: `${body}\n`, needsTun: /\bTunDevice\b/.test(body), line: i + 1 };
      let k = j + 1;
      while (k < lines.length && lines[k]!.trim() === '') k++;
      if (k < lines.length && /^```text\s*$/.test(lines[k]!)) {
        let e = k + 1;
        while (e < lines.length && !/^```\s*$/.test(lines[e]!)) e++;
        s.prints = `${lines.slice(k + 1, e).join('\n')}\n`;
      }
      out.push(s);
    }
    i = j;
  }
  return out;
}

/** Every snippet of README.md and docs/*.md under `root`. */
export function allSnippets(root: string): Snippet[] {
  const docs = ['README.md', ...readdirSync(`${root}/docs`).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  return docs.flatMap((f) => extractSnippets(f, readFileSync(`${root}/${f}`, 'utf8')));
}
