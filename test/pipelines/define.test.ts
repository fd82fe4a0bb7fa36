// Pipeline definitions: expressions, the checks run before anything starts (each error names
// the step and the field), and the same structure loaded from JSON and YAML.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it, test } from 'node:test';
import { pipeline } from '../../src/pipelines/builder.js';
import { checkPipeline, loadPipelineFile } from '../../src/pipelines/define.js';
import { compile, render } from '../../src/pipelines/expr.js';
import { ROOT } from '../helpers/servers.js';

const scope = {
  input: { files: [{ path: '/a.jpg' }, { path: '/b.jpg' }] },
  steps: { probe: { result: { kind: 'image', width: 640 } } },
  options: { n: 3 },
  run: { id: 'r1', out: '/out' },
};

test('expressions: paths, literals, comparisons, logic', () => {
  assert.equal(compile("steps.probe.result.kind == 'image'")(scope), true);
  assert.equal(compile("steps.probe.result.kind != 'image' || options.n >= 3")(scope), true);
  assert.equal(compile('!(steps.probe.result.width > 1000) && true')(scope), true);
  assert.equal(compile('input.files[1].path')(scope), '/b.jpg');
  assert.equal(compile('input.files.length')(scope), 2);
  assert.equal(compile('input.files.constructor')(scope), undefined, 'only own properties, nothing from prototypes');
  assert.equal(compile('steps.nothing.result.kind')(scope), undefined);
  assert.throws(() => compile('a ='), /unexpected "="/);
  assert.throws(() => compile("'open"), /unterminated string/);
});

test('templates keep the type of a whole expression and interpolate inside text', () => {
  const out = render({ list: '${{ input.files }}', text: 'run ${{ run.id }} to ${{ run.out }}/x', n: '${{ options.n }}', fixed: [1, true] }, scope) as Record<
    string,
    unknown
  >;
  assert.deepEqual(out.list, scope.input.files);
  assert.equal(out.text, 'run r1 to /out/x');
  assert.equal(out.n, 3);
  assert.deepEqual(out.fixed, [1, true]);
});

const base = { name: 'p', input: 'json' };

test('needs default to the step before; explicit needs make parallel branches', () => {
  const def = checkPipeline({
    ...base,
    steps: [
      { id: 'a', fn: 'f', payload: {} },
      { id: 'b', fn: 'f', payload: {} },
      { id: 'c', fn: 'f', needs: ['a'], payload: {} },
    ],
  });
  assert.deepEqual(
    def.steps.map((s) => s.needs),
    [[], ['a'], ['a']],
  );
});

test('invalid definitions give errors naming the step and the field', () => {
  const cases: [unknown, string][] = [
    [{ ...base, steps: [{ id: 'a', fn: 'f', needs: ['zz'], payload: {} }] }, 'Pipeline p: steps[0] (a).needs[0]: unknown step "zz" (steps: a)'],
    [
      {
        ...base,
        steps: [
          { id: 'a', fn: 'f', needs: ['b'], payload: {} },
          { id: 'b', fn: 'f', needs: ['a'], payload: {} },
        ],
      },
      'Pipeline p: steps a → b → a form a cycle',
    ],
    [
      { ...base, steps: [{ id: 'a', fn: 'f', priority: 'urgent', payload: {} }] },
      'Pipeline p: Expected one of high, normal, low for steps[0].priority but received urgent of type string',
    ],
    [
      { ...base, steps: [{ id: 'a', fn: 'f', retry: -1, payload: {} }] },
      'Pipeline p: Expected integer between 0 and 10 for steps[0].retry but received -1 of type number',
    ],
    [
      { ...base, steps: [{ id: 'a', fn: 'f', payload: {}, colour: 'red' }] },
      'Pipeline p: Expected one of the fields id, fn, needs, forEach, when, payload, onFailure, priority, retry, timeoutMs, concurrency for ' +
        'steps[0].colour but received red of type string',
    ],
    [
      {
        ...base,
        steps: [
          { id: 'a', fn: 'f', payload: { x: '${{ steps.b.result }}' } },
          { id: 'b', fn: 'f', payload: {} },
        ],
      },
      'Pipeline p: steps[0] (a).payload.x: refers to step "b", which is not one it needs (directly or through others)',
    ],
    [
      { ...base, steps: [{ id: 'a', fn: 'f', payload: { x: '${{ item.path }}' } }] },
      'Pipeline p: steps[0] (a).payload.x: "item" is only defined in a step with forEach',
    ],
    [
      { ...base, steps: [{ id: 'a', fn: 'f', when: 'env.HOME', payload: {} }] },
      'Pipeline p: steps[0] (a).when: unknown name "env" in "env.HOME" (known: input, options, run, steps, item, index)',
    ],
    [{ ...base, steps: [{ id: 'a', fn: 'f', when: '${{ a == }}', payload: {} }] }, 'Pipeline p: steps[0] (a).when: cannot parse "${{ a == }}": unexpected end'],
    [
      {
        ...base,
        steps: [
          { id: 'a', fn: 'f', payload: {} },
          { id: 'a', fn: 'g', payload: {} },
        ],
      },
      'Pipeline p: steps[1].id "a" is used by two steps',
    ],
    [{ ...base, steps: [] }, 'Pipeline p: Expected array of 1 to 200 items for steps but received [] of type array'],
    [
      { ...base, input: 'stdin', steps: [{ id: 'a', fn: 'f', payload: {} }] },
      'Pipeline p: Expected one of folder, file, json for input but received stdin of type string',
    ],
    [{ ...base, steps: [{ id: 'a', fn: 'f' }] }, 'Pipeline p: Expected a JSON payload template for steps[0].payload but received undefined'],
    [
      { ...base, result: '${{ steps.a.result }}', steps: [{ id: 'a', fn: 'f', payload: {} }] },
      'Pipeline p: result must be a function (TypeScript pipelines only)',
    ],
    [
      { ...base, steps: [{ id: 'a', fn: 'f', payload: {}, itemKey: 'item.id' }] },
      'Pipeline p: steps[0].itemKey must be a function (TypeScript pipelines only)',
    ],
    [
      { ...base, steps: [{ id: 'a b', fn: 'f', payload: {} }] },
      'Pipeline p: Expected a step id: a letter, then letters, digits, "-" and "_" (at most 64) for steps[0].id but received a b of type string',
    ],
    ['steps: []', 'Pipeline pipeline: Expected a JSON object for the pipeline but received steps: [] of type string'],
  ];
  for (const [def, message] of cases) {
    assert.throws(
      () => checkPipeline(def),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'GT_PIPELINE_INVALID');
        assert.equal(err.message, message);
        return true;
      },
    );
  }
});

test('the builder checks the definition when it is built', () => {
  const b = pipeline('bad', { input: 'file' })
    .fn('f')
    // @ts-expect-error: "missing" is not a step declared before this one
    .step('a', { fn: 'f', needs: ['missing'], payload: () => ({}) });
  assert.throws(() => b.build(), /unknown step "missing"/);
  const ok = pipeline('good', { input: 'file' })
    .fn('f')
    .fn('g')
    .step('a', { fn: 'f', payload: (s) => ({ p: s.input.path }) })
    .step('b', { fn: 'g', forEach: (s) => [s.steps.a?.result], payload: '${{ item }}', priority: 'low' })
    .build();
  assert.equal(ok.steps[1]!.priority, 'low');
});

test('the same pipeline loads from JSON and from YAML', async () => {
  const dir = path.join(ROOT, 'fixtures/pipelines');
  const fromJson = await loadPipelineFile(path.join(dir, 'resize-and-report.json'));
  const fromYaml = await loadPipelineFile(path.join(dir, 'resize-and-report.yaml'));
  assert.deepEqual(fromYaml, fromJson);
  assert.equal(fromJson.steps[0]!.priority, 'high');
  assert.deepEqual(fromJson.steps[1]!.needs, ['thumbs']);
});

test('a broken file names the file and what is wrong', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-def-'));
  try {
    await writeFile(path.join(dir, 'broken.yaml'), 'name: x\nsteps: [\n');
    await assert.rejects(
      loadPipelineFile(path.join(dir, 'broken.yaml')),
      (err: Error & { code?: string }) => err.code === 'GT_PIPELINE_INVALID' && err.message.startsWith('Pipeline broken.yaml: not valid YAML'),
    );
    await assert.rejects(
      loadPipelineFile(path.join(dir, 'missing.json')),
      (err: Error & { code?: string }) => err.code === 'GT_PIPELINE_NOT_FOUND' && /missing\.json/.test(err.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a pipeline file with a field of the wrong type gets one message naming the path, the expected and the received value', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-def-'));
  try {
    const file = path.join(dir, 'wrong.yaml');
    await writeFile(
      file,
      '# yaml-language-server: $schema=../schemas/pipeline.json\nname: wrong\ninput: json\nsteps:\n  - { id: a, fn: f, payload: {} }\n  - { id: b, fn: ' +
        'f, retry: two, payload: {} }\n',
    );
    await assert.rejects(loadPipelineFile(file), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'GT_PIPELINE_INVALID');
      assert.equal(err.message, 'Pipeline wrong: Expected integer between 0 and 10 for steps[1].retry but received two of type string');
      return true;
    });
    await writeFile(
      path.join(dir, 'ok.json'),
      JSON.stringify({ $schema: '../schemas/pipeline.json', name: 'ok', input: 'json', steps: [{ id: 'a', fn: 'f', payload: {} }] }),
    );
    assert.equal((await loadPipelineFile(path.join(dir, 'ok.json'))).name, 'ok', 'a JSON file may name its schema');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('expressions are checked on their parsed form', () => {
  const folder = { name: 'p', input: 'folder', options: { owner: { description: 'who' } } };
  const refused = (def: unknown, message: string): void => {
    assert.throws(
      () => checkPipeline(def),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'GT_PIPELINE_INVALID');
        assert.equal(err.message, message);
        return true;
      },
    );
  };

  it('a name inside a string literal is text, not a reference', () => {
    const def = checkPipeline({
      ...base,
      steps: [
        { id: 'a', fn: 'f', payload: {} },
        { id: 'b', fn: 'f', when: '${{ steps.a.result.kind == \'an image\' || steps.a.result.kind == "env.HOME" }}', payload: { t: "${{ 'x.y' }}" } },
      ],
    });
    assert.equal(def.steps.length, 2);
  });

  it('an unknown field of run, input, item, options or a step is refused, naming it', () => {
    const thumbs = (payload: unknown, extra: object = {}) => ({
      ...folder,
      steps: [{ id: 't', fn: 'thumbnail', forEach: '${{ input.files }}', payload, ...extra }],
    });
    refused(
      thumbs({ outDir: '${{ run.outt }}/${{ item.dir }}' }),
      'Pipeline p: steps[0] (t).payload.outDir: run has no field "outt" in "${{ run.outt }}/${{ item.dir }}" (fields: id, out)',
    );
    refused(
      thumbs({ input: '${{ item.pth }}' }),
      'Pipeline p: steps[0] (t).payload.input: item has no field "pth" in "${{ item.pth }}" (fields: path, rel, dir, name, ext, outputBase, size, mtimeMs)',
    );
    refused(thumbs({ n: '${{ input.file }}' }), 'Pipeline p: steps[0] (t).payload.n: input has no field "file" in "${{ input.file }}" (fields: dir, files)');
    refused(thumbs({ to: '${{ options.ownr }}' }), 'Pipeline p: steps[0] (t).payload.to: options has no field "ownr" in "${{ options.ownr }}" (fields: owner)');
    refused(
      { ...base, steps: [{ id: 'a', fn: 'f', payload: { x: '${{ options.x }}' } }] },
      'Pipeline p: steps[0] (a).payload.x: options has no field "x" in "${{ options.x }}" (the pipeline declares no options)',
    );
    refused(
      {
        ...base,
        steps: [
          { id: 'a', fn: 'f', payload: {} },
          { id: 'b', fn: 'f', payload: { x: '${{ steps.a.results }}' } },
        ],
      },
      'Pipeline p: steps[1] (b).payload.x: steps.a has no field "results" in "${{ steps.a.results }}" (fields: result, failed, status, failures)',
    );
    refused(
      {
        ...base,
        steps: [
          { id: 'a', fn: 'f', forEach: '${{ input }}', payload: {} },
          { id: 'b', fn: 'f', when: 'steps.a.result.kind', payload: {} },
        ],
      },
      'Pipeline p: steps[1] (b).when: steps.a has no field "result" in "steps.a.result.kind" (fields: results, failed, status, failures)',
    );
    refused(
      { ...folder, input: 'file', steps: [{ id: 'a', fn: 'f', payload: { x: 'p=${{ input.path.x }}' } }] },
      'Pipeline p: steps[0] (a).payload.x: input.path has no fields (reading "x") in "p=${{ input.path.x }}"',
    );
  });

  it('known fields pass: run, input, item of input.files, declared options, steps, lengths and indexes', () => {
    const def = checkPipeline({
      ...folder,
      steps: [
        {
          id: 't',
          fn: 'thumbnail',
          forEach: '${{ input.files }}',
          payload: { input: '${{ item.path }}', outDir: '${{ run.out }}/${{ item.dir }}', name: '${{ item.outputBase }}', i: '${{ index }}' },
        },
        {
          id: 'm',
          fn: 'email',
          when: '${{ steps.t.failed == 0 && input.files.length > 0 }}',
          payload: { to: '${{ options.owner }}', text: '${{ steps.t.results.length }} ${{ input.files[0].name }} ${{ run.id }} ${{ steps.t.failures }}' },
        },
      ],
    });
    assert.equal(def.steps.length, 2);
  });
});
