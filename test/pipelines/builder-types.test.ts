// The typed builder's types. Each `@ts-expect-error` line is a proof: the type check of this file
// fails if the line compiles. The tests at run time assert the build-time errors that go with
// them and that the typed pipelines build.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import Type from 'typebox';
import { pipeline } from '../../src/pipelines/builder.js';
import type { InputFile } from '../../src/pipelines/input.js';
import type { BuiltinFunctions } from '../../src/schema/workers.js';

type ProbeResult = BuiltinFunctions['probe']['result'];
type ThumbnailResult = BuiltinFunctions['thumbnail']['result'];

/** True when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when the two types are the same. */
const same = <A, B>(proof: Equal<A, B>): boolean => proof;

test("a later step sees each earlier step with its function's result type; a fan-out sees results and its item", () => {
  const def = pipeline('typed', { input: 'folder' })
    .step('probe', { fn: 'probe', payload: (s) => ({ input: s.input.dir }) })
    .step('thumbs', {
      fn: 'thumbnail',
      forEach: (s) => s.input.files,
      when: (s) => same<typeof s.steps.probe.result, ProbeResult | undefined>(true) && s.steps.probe.result?.kind === 'image',
      payload: (s) => {
        same<typeof s.item, InputFile>(true);
        return { input: s.item.path, outDir: s.run.out, sizes: [{ width: 100, format: 'webp' }] };
      },
    })
    .step('mail', {
      fn: 'email',
      payload: (s) => {
        same<typeof s.steps.thumbs.results, ThumbnailResult[]>(true);
        return { to: 'ops@example.com', text: `${s.steps.thumbs.results.length} images, ${s.steps.probe.result?.format ?? '?'}` };
      },
    })
    .build();
  assert.deepEqual(
    def.steps.map((s) => [s.id, s.needs]),
    [
      ['probe', []],
      ['thumbs', ['probe']],
      ['mail', ['thumbs']],
    ],
  );
});

test('(a) a step that is not an ancestor is a type error, and the same reference is refused when the pipeline is built', () => {
  const b = pipeline('refs', { input: 'json' })
    .step('one', { fn: 'probe', payload: { input: '/media/a.jpg' } })
    .step('two', {
      fn: 'probe',
      needs: [],
      payload: (s) => ({
        // @ts-expect-error: `one` is not an ancestor of `two` (needs: [])
        input: s.steps.one.result?.format ?? '',
      }),
    });
  assert.ok(b.build());
  const asExpression = pipeline('refs', { input: 'json' })
    .step('one', { fn: 'probe', payload: { input: '/media/a.jpg' } })
    .step('two', { fn: 'probe', needs: [], payload: { input: '${{ steps.one.result.format }}' } });
  assert.throws(() => asExpression.build(), {
    code: 'GT_PIPELINE_INVALID',
    message: 'Pipeline refs: steps[1] (two).payload.input: refers to step "one", which is not one it needs (directly or through others)',
  });
  const later = pipeline('refs', { input: 'json' })
    // @ts-expect-error: `needs` names only steps declared before
    .step('one', { fn: 'probe', needs: ['nowhere'], payload: { input: '/media/a.jpg' } });
  assert.throws(() => later.build(), { code: 'GT_PIPELINE_INVALID', message: 'Pipeline refs: steps[0] (one).needs[0]: unknown step "nowhere" (steps: one)' });
});

test('(b) a payload field of the wrong type for a built-in function is a type error', () => {
  const b = pipeline('payloads', { input: 'file' }).step('thumb', {
    fn: 'thumbnail',
    // @ts-expect-error: a thumbnail size's width is a number (the error names sizes[0].width)
    payload: (s) => ({ input: s.input.path, outDir: '/out', sizes: [{ width: '320', format: 'webp' }] }),
  });
  assert.ok(b.build(), 'the worker refuses it at run time (preflight.ts), the type check before');
  pipeline('payloads', { input: 'file' }).step('thumb', {
    fn: 'thumbnail',
    // @ts-expect-error: a template has the payload's shape too: sizes is a list
    payload: { input: '${{ input.path }}', outDir: '/out', sizes: 320 },
  });
});

test('(c) reading a field the probe result lacks is a type error', () => {
  pipeline('fields', { input: 'file' })
    .step('probe', { fn: 'probe', payload: (s) => ({ input: s.input.path }) })
    .step('after', {
      fn: 'webhook',
      // @ts-expect-error: a probe result has kind, format, width … but no colour
      when: (s) => s.steps.probe.result?.colour === 'red',
      payload: (s) => ({ url: 'https://example.com/hook', body: { kind: s.steps.probe.result?.kind } }),
    })
    .build();
});

test('a declared function gives its steps the payload and result types of its schemas', () => {
  const def = pipeline('custom', { input: 'json', options: { width: { description: 'px', default: 320, schema: Type.Integer({ minimum: 1 }) } } })
    .fn('resize-custom', { payload: Type.Object({ width: Type.Integer() }), result: Type.Object({ url: Type.String() }) })
    .fn('tell-anyone')
    .step('resize', { fn: 'resize-custom', payload: (s) => ({ width: s.options.width }) })
    .step('tell', {
      fn: 'tell-anyone',
      payload: (s) => {
        same<typeof s.steps.resize.result, { url: string } | undefined>(true);
        same<typeof s.options.width, number>(true);
        return { url: s.steps.resize.result?.url };
      },
    })
    .build();
  assert.deepEqual(Object.keys(def.functions ?? {}), ['resize-custom', 'tell-anyone']);
  pipeline('custom', { input: 'json' })
    // @ts-expect-error: a function neither built in nor declared (a typo) cannot be called
    .step('resize', { fn: 'resize-costum', payload: {} });
  pipeline('custom', { input: 'json' })
    .fn('resize-custom', { payload: Type.Object({ width: Type.Integer() }) })
    // @ts-expect-error: the declared payload's width is a number
    .step('resize', { fn: 'resize-custom', payload: { width: 'wide' } });
});
