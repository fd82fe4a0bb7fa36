// The repository speaks only of the product: no dated asides in README.md, docs/, src/, test/,
// bench/ or examples/; every relative link in the docs resolves; every file a comment names
// exists. The matchers are tested first, on the kinds of text they must catch and let pass.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { commentLines, datedAsides, fileReferences, ROOT, read, referenceExists, relativeLinks, textFiles } from '../helpers/prose.js';

const PROSE_DIRS = ['README.md', 'docs', 'src', 'test', 'bench', 'examples', 'scripts', 'fixtures', '.ci'];

// The examples the matchers must catch are put together from their words at run time, so this
// file holds no dated aside of its own and is checked like every other.
const SESSION = 'session';
const ISSUE = 'issue';
const UNTIL = 'until';
const USED = ['used', 'to'].join(' ');
const MACHINE = 'machine';
const VM = 'VM';
const EARLIER = ['previous', 'ly'].join('');

test('the dated-aside matcher catches numbered work periods, issue numbers and machine diaries', () => {
  const dated = [
    `the cache keeps every entry (before ${SESSION} 3 only the first 100)`,
    `// ${UNTIL[0]!.toUpperCase()}${UNTIL.slice(1)} ${SESSION} 3 the cache dropped the rest.`,
    `// Target (${ISSUE} 4): ≥ 0.9× the plain loop.`,
    `done (${ISSUE} 2); target met`,
    `see ${ISSUE} #12`,
    `0.97× on ${SESSION} 3's run, 1.27× on ${SESSION} 2's`,
    `${SESSION[0]!.toUpperCase()}${SESSION.slice(1)} 3: one index per owner.`,
    `the same bench in ${SESSION}s 2 and 3`,
    `a write on the 2-core bench ${VM} costs more`,
    `Measured on this 2-core ${MACHINE} (CPU time per image)`,
    `ratios on the ${MACHINE} before`,
    `The cache ${USED} cost 40% of that CPU`,
    `Those ${USED} live for the whole commit`,
    `${UNTIL} recently the stub was slower`,
    `${EARLIER} counted twice`,
    `in this ${SESSION} the queue is faster`,
  ];
  for (const line of dated) assert.ok(datedAsides(line).length > 0, `not caught: ${line}`);
});

test('the dated-aside matcher lets ordinary English and code identifiers pass', () => {
  const ordinary = [
    'wait until the worker is ready',
    'retried with backoff until it has used --max-attempts',
    'held until 10,000 are queued',
    "it is kept in the tab's sessionStorage and removed from the URL",
    'import { WorkerSession } from "./worker-session.js"; class ClientSession {}',
    'src/client/client-session.ts keeps one session per server',
    'for (const s of this.sessions) s.stopReconnecting();',
    "await c.query(`SET SESSION sql_mode = '${SQL_MODE}'`);",
    'Sessions run READ COMMITTED, so rows read but not matching are unlocked at once.',
    'an `nc` session for the raw text protocol',
    `the key is ${USED} sign the token; the flag is also ${USED} pick a store`,
    'libvips has one error buffer for the process (lovell/sharp#902)',
    'a worker issues GRAB_JOB when it wakes',
    'on a 2-core VM a write that wakes a sleeping peer costs more',
    'the machine it runs on',
  ];
  for (const line of ordinary) assert.deepEqual(datedAsides(line), [], `caught: ${line}`);
});

test('README.md, docs, src, test, bench and examples hold no dated aside', () => {
  const found: string[] = [];
  for (const f of textFiles(PROSE_DIRS)) {
    for (const a of datedAsides(read(f))) found.push(`${f}:${a.line}: ${a.what}: "${a.text}"`);
  }
  assert.deepEqual(found, [], 'history belongs in git log; write what the code does, in the present tense');
});

test('the link extractor finds relative links and leaves URLs, anchors and code alone', () => {
  const md = [
    'See [the server](docs/server.md#limits) and [errors](errors.md).',
    '[site](https://example.com/a.md), [top](#usage), `[not](a-link.md)`',
    '```md\n[inside](a-fence.md)\n```',
    '[ref]: ../bench/README.md',
  ].join('\n');
  assert.deepEqual(relativeLinks(md), ['docs/server.md', 'errors.md', '../bench/README.md']);
});

test('every relative link in README.md and docs/*.md resolves to a file', () => {
  const docs = ['README.md', ...textFiles(['docs']).filter((f) => f.endsWith('.md')), 'bench/README.md'];
  assert.ok(docs.length > 3, 'docs/ holds the documentation');
  const broken: string[] = [];
  for (const f of docs) {
    for (const target of relativeLinks(read(f))) {
      if (!existsSync(path.join(ROOT, path.dirname(f), target))) broken.push(`${f}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});

test('the package ships README.md, docs/ and every file their relative links point at', () => {
  const pack = spawnSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const shipped = new Set((JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  const docs = ['README.md', ...textFiles(['docs']).filter((f) => f.endsWith('.md'))];
  const missing = docs.filter((f) => !shipped.has(f));
  for (const f of docs) {
    for (const target of relativeLinks(read(f))) {
      const file = path.posix.normalize(path.posix.join(path.posix.dirname(f), target));
      if (!shipped.has(file) && ![...shipped].some((s) => s.startsWith(`${file.replace(/\/$/, '')}/`))) missing.push(`${f}: ${target}`);
    }
  }
  assert.deepEqual(missing, [], 'links on the package page must reach files in the package');
});

test('the reference extractor finds the files a comment names', () => {
  assert.deepEqual(fileReferences(' sharp does best with two images in flight (DESIGN.md); more only queues.'), ['DESIGN.md']);
  assert.deepEqual(fileReferences(' the builder (define.ts) or a JSON/YAML file (load.ts)'), ['define.ts', 'load.ts']);
  assert.deepEqual(fileReferences(' test/unit/errors.test.ts checks that each code is documented.'), ['test/unit/errors.test.ts']);
  assert.deepEqual(fileReferences(' see bench/lib/ and https://github.com/lovell/sharp/blob/main/lib/is.js, @ffprobe-installer/ffprobe'), ['bench/lib/']);
  assert.equal(referenceExists('src/pipelines/types.ts', 'load.ts'), false, 'bench/load.ts is not in src/');
  assert.equal(referenceExists('src/server/joblog.ts', 'lease.ts'), true, 'src/store/lease.ts');
  assert.equal(referenceExists('src/supervisor/config.ts', 'DESIGN.md'), false);
  assert.equal(referenceExists('src/errors.ts', 'test/unit/errors-docs.test.ts'), false);
  assert.equal(referenceExists('src/supervisor/process.ts', 'guard.js'), true, 'guard.ts, built to guard.js');
  assert.deepEqual(fileReferences(' the Node.js process'), []);
});

test('every file a comment in src, test, bench or examples names exists', () => {
  const missing: string[] = [];
  for (const f of textFiles(['src', 'test', 'bench', 'examples', 'scripts'])) {
    if (!/\.(?:ts|mjs|js)$/.test(f)) continue;
    for (const c of commentLines(read(f))) {
      for (const name of fileReferences(c.text)) if (!referenceExists(f, name)) missing.push(`${f}:${c.line}: ${name}`);
    }
  }
  assert.deepEqual(missing, []);
});
