// The supervisor's worker command line carries the config's media and webhook settings: limits
// as flags, the webhook signing key in the environment only (never in argv, which `ps` shows).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { workerCommand } from '../../src/supervisor/command.js';
import { parseConfig } from '../../src/supervisor/config.js';

test('waveform.maxDurationSeconds becomes --max-duration; webhook.secret goes in the environment only', () => {
  const config = parseConfig(
    'workers: { waveform: { processes: 1 }, webhook: { processes: 1 } }\nsettings: { waveform: { maxDurationSeconds: 600 }, webhook: { secret: ' +
      's3cret-key-0123456789 }, cacheWarm: { allowedHosts: [hooks.example.com] } }\n',
    'geartrain.config.yaml',
  );
  const cmd = workerCommand('webhook', config.workers.webhook!, config.settings, ['127.0.0.1:4730'], 'info');
  assert.deepEqual(cmd.args.slice(cmd.args.indexOf('--max-duration'), cmd.args.indexOf('--max-duration') + 2), ['--max-duration', '600']);
  assert.ok(cmd.args.includes('hooks.example.com'));
  assert.equal(cmd.env.GEARTRAIN_WEBHOOK_SECRET, 's3cret-key-0123456789');
  assert.ok(!cmd.args.some((a) => a.includes('s3cret')), 'the key is not on the command line');
  assert.throws(() => parseConfig('settings: { waveform: { maxDurationSeconds: -1 } }\n', 'c.yaml'), /settings\.waveform\.maxDurationSeconds/);
  assert.throws(() => parseConfig('settings: { webhook: { secrte: x } }\n', 'c.yaml'), /settings\.webhook\.secrte/);
});
