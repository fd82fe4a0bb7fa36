// The email worker against a real SMTP server started here (smtp-server), messages parsed back
// with mailparser; the outbox when no SMTP is configured; refusals of bad addresses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { emailWorker } from '../../src/workers/email.js';
import { withWorkers } from '../helpers/workers.js';

async function smtpServer(t: import('node:test').TestContext, opts: { rejectRcpt?: string } = {}) {
  const received: ParsedMail[] = [];
  const envelopes: string[][] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(addr, _s, cb) {
      if (opts.rejectRcpt && addr.address === opts.rejectRcpt) return cb(Object.assign(new Error('550 mailbox unavailable'), { responseCode: 550 }));
      cb();
    },
    onData(stream, session, cb) {
      envelopes.push(session.envelope.rcptTo.map((r) => r.address));
      simpleParser(stream).then((m) => {
        received.push(m);
        cb();
      }, cb);
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as import('node:net').AddressInfo).port;
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `smtp://127.0.0.1:${port}`, received, envelopes };
}

test('sends a template through SMTP: variables filled, escaped in HTML, attachment included', async (t) => {
  const smtp = await smtpServer(t);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-mail-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const attachment = path.join(dir, 'report.txt');
  await writeFile(attachment, 'attached bytes');
  const { call } = await withWorkers(t, [{ factory: emailWorker }], { email: { smtpUrl: smtp.url, from: 'Geartrain <robot@example.com>' } });
  const r = await call('email', {
    to: ['Ann <ann@example.com>', 'bob@example.com'],
    template: 'thumbnails-done',
    vars: { count: 3, failed: 1, outputs: 9, input: '/photos/<script>', outDir: '/out', runId: 'r1' },
    attachments: [{ path: attachment }],
  });
  assert.match(r.messageId, /@/);
  assert.deepEqual(r.accepted, ['ann@example.com', 'bob@example.com']);
  assert.equal(smtp.received.length, 1);
  const m = smtp.received[0]!;
  assert.equal(m.subject, 'Thumbnails ready: 3 images, 1 failed');
  assert.equal(m.from!.text, '"Geartrain" <robot@example.com>');
  assert.match(m.text!, /Images done: +3\nImages failed: +1\nFiles written: +9\n\nFrom: \/photos\/<script>/);
  assert.match(m.html as string, /<code>\/photos\/&#60;script&#62;<\/code>/, 'variables are escaped in HTML');
  assert.ok(!(m.html as string).includes('<script>'));
  assert.equal(m.attachments.length, 1);
  assert.equal(m.attachments[0]!.filename, 'report.txt');
  assert.equal(m.attachments[0]!.content.toString(), 'attached bytes');
});

test('plain text and subject without a template; both shipped templates render', async (t) => {
  const smtp = await smtpServer(t);
  const { call } = await withWorkers(t, [{ factory: emailWorker }], { email: { smtpUrl: smtp.url } });
  await call('email', { to: 'ops@example.com', subject: 'Hello', text: 'plain body' });
  await call('email', { to: 'ops@example.com', template: 'upload-ready', vars: { file: 'a.mp4', kind: 'video', outputs: 3, outDir: '/o', runId: 'r' } });
  assert.equal(smtp.received[0]!.subject, 'Hello');
  assert.equal(smtp.received[0]!.text!.trimEnd(), 'plain body');
  assert.equal(smtp.received[1]!.subject, 'Your video a.mp4 is ready');
  assert.match(smtp.received[1]!.text!, /3 files are ready/);
});

test('without SMTP the message is written to the outbox as a parseable .eml', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-outbox-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { call } = await withWorkers(t, [{ factory: emailWorker }], { email: { outboxDir: dir } });
  const r = await call('email', { to: 'x@example.com', subject: 'Offline', html: '<p>hi</p>' });
  assert.equal(path.dirname(r.outbox), dir);
  assert.deepEqual(await readdir(dir), [path.basename(r.outbox)], 'one file, no temp file left');
  const m = await simpleParser(await readFile(r.outbox));
  assert.equal(m.subject, 'Offline');
  assert.equal((m.to as { text: string }).text, 'x@example.com');
  assert.equal((m.html as string).trimEnd(), '<p>hi</p>');
});

test('header injection, bad addresses, missing variables and templates are refused; the worker goes on', async (t) => {
  const smtp = await smtpServer(t);
  const { call, failure } = await withWorkers(t, [{ factory: emailWorker }], { email: { smtpUrl: smtp.url } });
  assert.equal(await failure('email', { to: 'a@example.com\r\nBcc: victim@example.com', subject: 's', text: 't' }), 'GT_EMAIL_INVALID: email.to contains a line break or NUL: header injection refused');
  assert.equal(await failure('email', { to: 'a@example.com', subject: 'hi\nBcc: v@example.com', text: 't' }), 'GT_EMAIL_INVALID: email.subject contains a line break or NUL: header injection refused');
  assert.equal(await failure('email', { to: 'a@example.com, b@example.com', subject: 's', text: 't' }), 'GT_EMAIL_INVALID: email.to is not a valid email address: "a@example.com, b@example.com"');
  assert.equal(await failure('email', { to: ['ok@example.com', 'nope'], subject: 's', text: 't' }), 'GT_EMAIL_INVALID: email.to[1] is not a valid email address: "nope"');
  assert.equal(await failure('email', { to: 'a@example.com', template: 'upload-ready', vars: { file: 'x' } }), 'GT_EMAIL_INVALID: Template upload-ready uses {{kind}} but email.vars has no kind');
  assert.equal(await failure('email', { to: 'a@example.com', template: '../etc/passwd' }), 'GT_PAYLOAD_INVALID: Expected a template name of lower-case letters, digits and - for email.template but received ../etc/passwd of type string');
  assert.match(await failure('email', { to: 'a@example.com', template: 'nothing-here' }), /^GT_EMAIL_INVALID: No template nothing-here in .*fixtures\/email/);
  assert.equal(await failure('email', { to: 'a@example.com', subject: 's' }), 'GT_PAYLOAD_INVALID: Expected one of text, html or template for email body but received undefined');
  assert.equal(await failure('email', { to: 'a@example.com', subject: 's', text: 't', colour: 1 }), 'GT_PAYLOAD_INVALID: Expected one of the fields to, cc, bcc, vars, attachments, replyTo, from, subject, text, html, template for email.colour but received 1 of type number');
  assert.equal(smtp.received.length, 0, 'nothing was sent');
  await call('email', { to: 'a@example.com', subject: 'still works', text: 't' });
  assert.equal(smtp.received.length, 1);
});

test('an SMTP refusal or an unreachable server fails the job with GT_EMAIL_FAILED (retried)', async (t) => {
  const smtp = await smtpServer(t, { rejectRcpt: 'gone@example.com' });
  const { call, failure } = await withWorkers(t, [{ factory: emailWorker }], { email: { smtpUrl: smtp.url } });
  assert.match(await failure('email', { to: 'gone@example.com', subject: 's', text: 't' }), /^GT_EMAIL_FAILED: Sending mail to gone@example.com failed: .*550/);
  await call('email', { to: 'here@example.com', subject: 'next', text: 't' });
  assert.equal(smtp.received.at(-1)!.subject, 'next');

  const down = await withWorkers(t, [{ factory: emailWorker }], { email: { smtpUrl: 'smtp://127.0.0.1:1' } });
  assert.match(await down.failure('email', { to: 'a@example.com', subject: 's', text: 't' }), /^GT_EMAIL_FAILED: Sending mail to a@example.com failed: .*ECONNREFUSED/);
});
