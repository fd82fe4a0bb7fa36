// Summarise a V8 .cpuprofile (from `node --cpu-prof`): self time per function, top N. Enough
// to see where a server's time goes without opening DevTools.

import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HotSpot {
  fn: string;
  where: string;
  selfPct: number;
}

export function hotSpots(file: string, top = 15): HotSpot[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byNode = new Map<number, ProfileNode>(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byNode.get(p.samples[i]!);
    const dt = p.timeDeltas[i] ?? 0;
    if (!node) continue;
    total += dt;
    const { functionName, url, lineNumber } = node.callFrame;
    const fn = functionName || '(anonymous)';
    const where = url ? `${shorten(url)}:${lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const e = self.get(key) ?? { fn, where, us: 0 };
    e.us += dt;
    self.set(key, e);
  }
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ fn: e.fn, where: e.where, selfPct: (100 * e.us) / (total || 1) }));
}

function shorten(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const i = u.indexOf('/dist/');
  if (i >= 0) return u.slice(i + 1);
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm);
  return u.startsWith('node:') ? u : path.basename(u);
}
