// What the runner checks of domain payloads before submitting them: the workers' own payload
// check, and which items would write the same file.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPayload, outputConflicts, plannedOutputs } from '../../src/pipelines/payloads.js';

const thumb = (input: string, name?: string) => ({ input, outDir: '/out', sizes: [{ width: 320, format: 'webp' }], ...(name ? { name } : {}) });

test("planned outputs follow the workers' naming", () => {
  assert.deepEqual(plannedOutputs('thumbnail', thumb('/in/a.jpg')), ['/out/a-320w.webp']);
  assert.deepEqual(plannedOutputs('thumbnail', thumb('/in/a.jpg', 'a.jpg')), ['/out/a.jpg-320w.webp']);
  assert.deepEqual(plannedOutputs('transcode', { input: '/in/c.mov', outDir: '/out', profiles: ['mp4-720p'], poster: true }), [
    '/out/c-720p.mp4',
    '/out/c-poster.jpg',
  ]);
  assert.equal(plannedOutputs('t-other', {}), undefined);
  assert.equal(plannedOutputs('thumbnail', { input: '/in/a.jpg' }), undefined, "an invalid payload is the job's to report");
});

test('items writing one file conflict, also when the names differ only in case', () => {
  const items = [
    { key: 'a.JPG', label: 'a.JPG', payload: thumb('/in/a.JPG', 'a.JPG') },
    { key: 'a.jpg', label: 'a.jpg', payload: thumb('/in/a.jpg', 'a.jpg') },
    { key: 'b.jpg', label: 'b.jpg', payload: thumb('/in/b.jpg') },
  ];
  const c = outputConflicts('thumbnail', items);
  assert.deepEqual([...c.keys()], ['a.JPG', 'a.jpg']);
  assert.equal(
    c.get('a.jpg')!.message,
    'a.JPG and a.jpg would both write /out/a.JPG-320w.webp and /out/a.jpg-320w.webp (one file where case is ignored); give each its own name (item.outputBase)',
  );
  assert.equal(outputConflicts('thumbnail', items.slice(1)).size, 0);
});

test('a payload is checked as the worker checks it', () => {
  assert.throws(
    () => checkPayload('thumbnail', { ...thumb('/a.jpg'), sizes: [{ width: 200, format: 'gif' }] }),
    /Expected one of jpeg, webp, avif, png for thumbnail.sizes\[0\].format but received gif/,
  );
  assert.equal(checkPayload('t-other', { anything: 1 }), undefined);
});
