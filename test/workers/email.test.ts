// The email worker through a real job server, against a real SMTP server started here
// (smtp-server), messages parsed back with mailparser; the outbox when no SMTP is configured;
// refusals of bad addresses, header injection and bad templates, after which the worker goes on.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { type AddressObject, type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import { isRetryable } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { emailWorker } from '../../src/workers/email.js';
import type { WorkerSettings } from '../../src/workers/types.js';
import { freePort } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';
import { conforms } from './result-schema.js';

// The worker reads these when its settings do not say; the tests must not depend on the shell's.
delete process.env.GEARTRAIN_SMTP_URL;
delete process.env.GEARTRAIN_MAIL_FROM;

interface SmtpOptions {
  /** RCPT TO of this address is refused with 550. */
  rejectRcpt?: string;
  /** The first message's DATA is never answered. */
  stallFirst?: boolean;
}

interface Received {
  mail: ParsedMail;
  /** The envelope's RCPT TO addresses (Bcc recipients are only here). */
  rcpt: string[];
}

/**
 * A real SMTP server on port 0 and the email worker sending to it. The server is closed after
 * the workers, so the worker's pooled connection is gone before the server waits for it.
 */
async function mailWorkers(t: TestContext, smtpOpts: SmtpOptions = {}, settings: WorkerSettings = {}, timeoutMs?: number) {
  const received: Received[] = [];
  let messages = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(addr, _session, cb) {
      if (addr.address === smtpOpts.rejectRcpt) return cb(Object.assign(new Error('5.1.1 mailbox unavailable'), { responseCode: 550 }));
      cb();
    },
    onData(stream: SMTPServerDataStream, session, cb) {
      if (smtpOpts.stallFirst && messages++ === 0) return stream.resume(); // read it, never answer
      const rcpt = session.envelope.rcptTo.map((r) => r.address);
      simpleParser(stream).then((mail) => {
        received.push({ mail, rcpt });
        cb();
      }, cb);
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  const w = await withWorkers(t, [{ factory: emailWorker, ...(timeoutMs !== undefined && { timeoutMs }) }], {
    ...settings,
    email: { smtpUrl: url, ...settings.email },
  });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { ...w, received };
}

async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const addressText = (a: AddressObject | AddressObject[] | undefined): string => (Array.isArray(a) ? a.map((x) => x.text).join(', ') : (a?.text ?? ''));

test('sends a template through SMTP: variables filled, escaped in HTML, raw in text; cc, bcc, reply-to and attachments', async (t) => {
  const dir = await tempDir(t, 'gt-mail-');
  const report = path.join(dir, 'report.txt');
  const data = path.join(dir, 'data.bin');
  await writeFile(report, 'attached bytes');
  await writeFile(data, Buffer.from([0, 1, 2, 255]));
  const m = await mailWorkers(t, {}, { email: { from: 'Geartrain <robot@example.com>' } });
  const r = await m.call('email', {
    to: ['Ann <ann@example.com>', 'bob@example.com'],
    cc: 'carol@example.com',
    bcc: ['hidden@example.com'],
    replyTo: 'support@example.com',
    template: 'thumbnails-done',
    vars: { count: 3, failed: 1, outputs: 9, failures: '  bad.jpg: GT_MEDIA_INVALID: …', input: '/photos/<script>"&\'', outDir: '/out', runId: 'r1' },
    attachments: [{ path: report }, { path: data, filename: 'renamed.bin' }],
  });
  conforms('email', r);
  assert.match(r.messageId, /^<.+@.+>$/);
  assert.deepEqual(r.accepted, ['ann@example.com', 'bob@example.com', 'carol@example.com', 'hidden@example.com']);
  assert.deepEqual(r.rejected, []);

  assert.equal(m.received.length, 1);
  const { mail, rcpt } = m.received[0]!;
  assert.deepEqual(rcpt, ['ann@example.com', 'bob@example.com', 'carol@example.com', 'hidden@example.com']);
  assert.equal(mail.messageId, r.messageId);
  assert.equal(mail.subject, 'Thumbnails ready: 3 images, 1 failed');
  assert.equal(addressText(mail.from), '"Geartrain" <robot@example.com>');
  assert.equal(addressText(mail.to), '"Ann" <ann@example.com>, bob@example.com');
  assert.equal(addressText(mail.cc), 'carol@example.com');
  assert.equal(addressText(mail.replyTo), 'support@example.com');
  assert.equal(mail.bcc, undefined, 'Bcc is not a header of the sent message');
  assert.match(mail.text!, /Images done: +3\nImages failed: +1\nFiles written: +9\n\nFrom: \/photos\/<script>"&'\nInto: \/out/);
  assert.ok((mail.html as string).includes('<code>/photos/&lt;script&gt;&quot;&amp;&#39;</code>'), 'variables are escaped in HTML');
  assert.ok(!(mail.html as string).includes('<script>'));
  assert.deepEqual(
    mail.attachments.map((a) => [a.filename, a.content.toString('hex')]),
    [
      ['report.txt', Buffer.from('attached bytes').toString('hex')],
      ['renamed.bin', '000102ff'],
    ],
  );
});

test('plain text, HTML only, and the upload-ready template; a folder of own templates', async (t) => {
  const own = await tempDir(t, 'gt-templates-');
  await writeFile(path.join(own, 'Weekly_report.txt'), 'Hello {{ name }}, {{n}} jobs.');
  const m = await mailWorkers(t, {}, { email: { templatesDir: own } });
  await m.call('email', { to: 'ops@example.com', subject: 'Hello', text: 'plain body' });
  await m.call('email', { to: 'ops@example.com', subject: 'Markup', html: '<p>only <b>html</b></p>' });
  await m.call('email', { to: 'ops@example.com', subject: 'Weekly', template: 'Weekly_report', vars: { name: 'Ann & Bob', n: 7 } });
  assert.equal(m.received[0]!.mail.subject, 'Hello');
  assert.equal(m.received[0]!.mail.text!.trimEnd(), 'plain body');
  assert.equal(m.received[0]!.mail.html, false);
  assert.equal((m.received[1]!.mail.html as string).trimEnd(), '<p>only <b>html</b></p>');
  assert.equal(m.received[2]!.mail.text!.trimEnd(), 'Hello Ann & Bob, 7 jobs.', 'text parts are not escaped');
  assert.equal(
    await m.failure('email', { to: 'ops@example.com', template: 'Weekly_report', vars: { name: 'x', n: 1 } }),
    'GT_EMAIL_INVALID: Template Weekly_report has no Weekly_report.subject: give email.subject',
  );

  const shipped = await mailWorkers(t);
  await shipped.call('email', {
    to: 'owner@example.com',
    template: 'upload-ready',
    vars: { file: 'a.mp4', kind: 'video', count: 3, outputs: 'https://cdn.example.com/a-720p.mp4', runId: 'r' },
  });
  const mail = shipped.received[0]!.mail;
  assert.equal(mail.subject, 'Your video a.mp4 is ready');
  assert.match(mail.text!, /Your upload a\.mp4 \(video\) has been processed: 3 files are ready\./);
  assert.match(mail.html as string, /<h1>a\.mp4 is ready<\/h1>/);
});

test('without SMTP the message is written to the outbox as a parseable .eml, Bcc kept', async (t) => {
  const dir = await tempDir(t, 'gt-outbox-');
  const outbox = path.join(dir, 'outbox');
  const attachment = path.join(dir, 'a.txt');
  await writeFile(attachment, 'in the eml');
  const { call } = await withWorkers(t, [{ factory: emailWorker }], { email: { outboxDir: outbox } });
  const r = conforms(
    'email',
    await call('email', { to: 'x@example.com', bcc: 'y@example.com', subject: 'Offline', html: '<p>hi</p>', attachments: [{ path: attachment }] }),
  );
  assert.equal(r.accepted, undefined);
  assert.equal(path.dirname(r.outbox), outbox);
  assert.match(r.outbox, /\.eml$/);
  assert.deepEqual(await readdir(outbox), [path.basename(r.outbox)], 'one file, no temp file left');
  const mail = await simpleParser(await readFile(r.outbox));
  assert.equal(mail.messageId, r.messageId);
  assert.equal(mail.subject, 'Offline');
  assert.equal(addressText(mail.to), 'x@example.com');
  assert.equal(addressText(mail.bcc), 'y@example.com');
  assert.equal(addressText(mail.from), 'geartrain@localhost');
  assert.equal((mail.html as string).trimEnd(), '<p>hi</p>');
  assert.equal(mail.attachments[0]!.content.toString(), 'in the eml');

  const second = await call('email', { to: 'x@example.com', subject: 'Again', text: 't' });
  assert.notEqual(second.outbox, r.outbox);
  assert.equal((await readdir(outbox)).length, 2);
});

test('header injection, bad addresses, bad templates and attachments are refused by name; the worker goes on', async (t) => {
  const dir = await tempDir(t, 'gt-mail-bad-');
  const allowed = path.join(dir, 'allowed');
  const m = await mailWorkers(t, {}, { allowPaths: [allowed] });
  const ok = { to: 'a@example.com', subject: 's', text: 't' };
  const cases: [unknown, string][] = [
    [{ ...ok, to: 'a@example.com\r\nBcc: victim@example.com' }, 'GT_EMAIL_INVALID: email.to contains a line break or NUL: header injection refused'],
    [{ ...ok, cc: ['c@example.com', 'd@example.com\nX-Evil: 1'] }, 'GT_EMAIL_INVALID: email.cc[1] contains a line break or NUL: header injection refused'],
    [{ ...ok, bcc: 'b@example.com\r' }, 'GT_EMAIL_INVALID: email.bcc contains a line break or NUL: header injection refused'],
    [{ ...ok, replyTo: 'r@example.com\n' }, 'GT_EMAIL_INVALID: email.replyTo contains a line break or NUL: header injection refused'],
    [{ ...ok, from: 'Eve\n <e@example.com>' }, 'GT_EMAIL_INVALID: email.from contains a line break or NUL: header injection refused'],
    [{ ...ok, subject: 'hi\nBcc: v@example.com' }, 'GT_EMAIL_INVALID: email.subject contains a line break or NUL: header injection refused'],
    [
      { ...ok, attachments: [{ path: '/x', filename: 'a\r\n.txt' }] },
      'GT_EMAIL_INVALID: email.attachments[0].filename contains a line break or NUL: header injection refused',
    ],
    [{ ...ok, to: 'a@example.com, b@example.com' }, 'GT_EMAIL_INVALID: email.to is not a valid email address: "a@example.com, b@example.com"'],
    [{ ...ok, to: ['ok@example.com', 'nope'] }, 'GT_EMAIL_INVALID: email.to[1] is not a valid email address: "nope"'],
    [{ ...ok, to: 'a@-bad-.com' }, 'GT_EMAIL_INVALID: email.to is not a valid email address: "a@-bad-.com"'],
    [{ ...ok, to: [] }, 'GT_PAYLOAD_INVALID: Expected an address or an array of 1 to 100 addresses for email.to but received [] of type array'],
    [{ subject: 's', text: 't' }, 'GT_PAYLOAD_INVALID: Expected an address or an array of 1 to 100 addresses for email.to but received undefined'],
    [
      { to: 'a@example.com', template: 'upload-ready', vars: { file: 'x', kind: 'image' } },
      'GT_EMAIL_INVALID: Template upload-ready uses {{count}}, {{outputs}}, {{runId}} but email.vars has no count, outputs, runId',
    ],
    [
      { to: 'a@example.com', template: '../etc/passwd' },
      'GT_PAYLOAD_INVALID: Expected a template name of letters, digits, - and _ (at most 64) for email.template but received ../etc/passwd of type string',
    ],
    [
      { to: 'a@example.com', template: '.hidden' },
      'GT_PAYLOAD_INVALID: Expected a template name of letters, digits, - and _ (at most 64) for email.template but received .hidden of type string',
    ],
    [
      { to: 'a@example.com', template: 'upload-ready', text: 't' },
      'GT_PAYLOAD_INVALID: Expected either template or text/html, not both for email.template but received upload-ready of type string',
    ],
    [{ ...ok, vars: { a: 1 } }, 'GT_PAYLOAD_INVALID: Expected vars only with a template for email.vars but received {"a":1} of type object'],
    [
      { to: 'a@example.com', template: 'upload-ready', vars: { file: { nested: 1 } } },
      'GT_PAYLOAD_INVALID: Expected string, number or boolean for email.vars.file but received {"nested":1} of type object',
    ],
    [{ to: 'a@example.com', subject: 's' }, 'GT_PAYLOAD_INVALID: Expected one of text, html or template for email body but received undefined'],
    [
      { to: 'a@example.com', text: 't' },
      'GT_PAYLOAD_INVALID: Expected a subject (or a template with a .subject file) for email.subject but received undefined',
    ],
    [
      { ...ok, colour: 1 },
      'GT_PAYLOAD_INVALID: Expected one of the fields to, cc, bcc, vars, attachments, replyTo, from, subject, text, html, template for email.colour but ' +
        'received 1 of type number',
    ],
    [{ ...ok, attachments: [{ path: path.join(allowed, 'missing.pdf') }] }, `GT_INPUT_NOT_FOUND: Input ${path.join(allowed, 'missing.pdf')}: no such file`],
    [
      { ...ok, attachments: [{ path: '/etc/passwd' }] },
      `GT_PATH_NOT_ALLOWED: email.attachments[0].path /etc/passwd is not allowed: it is outside the allowed folders (${allowed})`,
    ],
    ['not json', 'GT_PAYLOAD_INVALID: Expected a JSON object for email payload but received not json of type string'],
  ];
  for (const [payload, expected] of cases) assert.equal(await m.failure('email', payload), expected, JSON.stringify(payload));
  assert.match(
    await m.failure('email', { to: 'a@example.com', template: 'nothing-here' }),
    /^GT_EMAIL_INVALID: No template nothing-here in .*fixtures\/email \(expected nothing-here\.txt or nothing-here\.html\)$/,
  );
  assert.equal(m.received.length, 0, 'nothing was sent');

  await m.call('email', { ...ok, to: 'Zoë <zoe@bücher.example>', subject: 'still works' });
  assert.equal(m.received.length, 1);
  assert.equal(m.received[0]!.mail.subject, 'still works');
  assert.deepEqual(m.received[0]!.rcpt, ['zoe@bücher.example'], 'an internationalised domain is accepted');
});

test('a refused recipient or an unreachable server fails the job with GT_EMAIL_FAILED (retryable); the next job works', async (t) => {
  assert.equal(isRetryable('GT_EMAIL_FAILED'), true);
  assert.equal(isRetryable('GT_EMAIL_INVALID'), false);
  const m = await mailWorkers(t, { rejectRcpt: 'gone@example.com' });
  assert.match(
    await m.failure('email', { to: 'gone@example.com', subject: 's', text: 't' }),
    /^GT_EMAIL_FAILED: Sending mail to gone@example.com failed: .*550 5\.1\.1 mailbox unavailable/,
  );
  const partly = conforms('email', await m.call('email', { to: ['gone@example.com', 'here@example.com'], subject: 'partly', text: 't' }));
  assert.deepEqual([partly.accepted, partly.rejected], [['here@example.com'], ['gone@example.com']]);
  await m.call('email', { to: 'here@example.com', subject: 'next', text: 't' });
  assert.deepEqual(
    m.received.map((r) => [r.mail.subject, r.rcpt]),
    [
      ['partly', ['here@example.com']],
      ['next', ['here@example.com']],
    ],
  );

  const port = await freePort(); // nothing listens there
  const down = await withWorkers(t, [{ factory: emailWorker }], { email: { smtpUrl: `smtp://127.0.0.1:${port}` } });
  assert.match(
    await down.failure('email', { to: 'a@example.com', subject: 's', text: 't' }),
    /^GT_EMAIL_FAILED: Sending mail to a@example.com failed: .*ECONNREFUSED/,
  );
  assert.match(await down.failure('email', { to: 'a@example.com', subject: 's', text: 't' }), /^GT_EMAIL_FAILED: /, 'and again: nothing is stuck');
});

test('a server that never answers DATA: the job times out, its send is aborted, the next job goes through', async (t) => {
  const m = await mailWorkers(t, { stallFirst: true }, {}, 1000);
  // The worker answers WORK_FAIL at its timeout, which carries no text.
  assert.match(await m.failure('email', { to: 'a@example.com', subject: 'stalled', text: 't' }), /^Job email \(.+\) failed$/);
  await m.call('email', { to: 'a@example.com', subject: 'after the stall', text: 't' });
  assert.deepEqual(
    m.received.map((r) => r.mail.subject),
    ['after the stall'],
  );
});

test('a bad SMTP URL is refused when the worker starts, without showing the password', () => {
  assert.throws(() => emailWorker({ email: { smtpUrl: 'localhost:25' } }, silentLogger), {
    code: 'GT_INVALID_ARGUMENT',
    message: 'Expected an smtp:// or smtps:// URL for email.smtpUrl but received localhost:25 of type string',
  });
  assert.throws(() => emailWorker({ email: { smtpUrl: 'http://user:secret@mail.example.com' } }, silentLogger), {
    message: 'Expected an smtp:// or smtps:// URL for email.smtpUrl but received http://***@mail.example.com of type string',
  });
  assert.throws(() => emailWorker({ email: { from: 'not an address' } }, silentLogger), {
    code: 'GT_EMAIL_INVALID',
    message: 'the email.from setting is not a valid email address: "not an address"',
  });
});
