// docs/api.md as data: for each entry point (a "## `tsip/...`" heading), the
// names its table lists, whether each exists at runtime (any kind but
// `type` and `interface`), and the entry points it re-exports whole
// (a line "Re-exports everything in `tsip/a`, `tsip/b`.").
export interface ApiName {
  name: string;
  kind: string;
  runtime: boolean;
}

export interface ApiEntry {
  entry: string;
  names: ApiName[];
  reexports: string[];
}

const TYPE_KINDS = new Set(['type', 'interface']);

export function parseApiDoc(md: string): ApiEntry[] {
  const out: ApiEntry[] = [];
  let cur: ApiEntry | null = null;
  for (const line of md.split('\n')) {
    const h = /^## `(tsip(?:\/[a-z-]+)?)`/.exec(line);
    if (h) {
      cur = { entry: h[1]!, names: [], reexports: [] };
      out.push(cur);
      continue;
    }
    if (cur === null) continue;
    if (/^#{1,2} /.test(line)) {
      cur = null;
      continue;
    }
    if (line.startsWith('Re-exports everything in ')) {
      cur.reexports.push(...[...line.matchAll(/`(tsip(?:\/[a-z-]+)?)`/g)].map((m) => m[1]!));
      continue;
    }
    const row = /^\| `([A-Za-z_$][\w$]*)` \| ([a-z]+) \|/.exec(line);
    if (row) cur.names.push({ name: row[1]!, kind: row[2]!, runtime: !TYPE_KINDS.has(row[2]!) });
  }
  return out;
}
