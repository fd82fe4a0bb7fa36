// `email` {to, subject?, text?|html?|template?, vars?, cc?, bcc?, replyTo?, from?, attachments?}
// → {messageId, accepted?, rejected?, outbox?}: mail through a pooled SMTP transport when a URL is
// configured, otherwise an .eml file in the outbox folder (and the log says where). Addresses and
// the subject are checked at the boundary, so a payload cannot inject headers.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { domainToASCII } from 'node:url';
import type { SendMailOptions, Transporter } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import { gtError, invalidArgument, invalidPayload } from '../errors.js';
import { DEFAULT_TEMPLATES_DIR, TEMPLATE_NAME, renderTemplate, type TemplateVars } from './email-template.js';
import { writeAtomic } from './files.js';
import { redactUrls } from './redact.js';
import { AllowedPaths, type InputFile } from './paths.js';
import type { DomainWorker, DomainWorkerFactory, JobContext } from './types.js';
import { Fields, itemFields } from './validate.js';

export { DEFAULT_TEMPLATES_DIR } from './email-template.js';

export interface EmailPayload {
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo?: string;
  from?: string;
  subject?: string;
  text?: string;
  html?: string;
  template?: string;
  vars: TemplateVars;
  attachments: { path: string; filename?: string }[];
}

export interface EmailResult {
  messageId: string;
  /** Recipients the SMTP server accepted. */
  accepted?: string[];
  /** Recipients it refused while accepting others (all refused fails the job instead). */
  rejected?: string[];
  /** The .eml file written when no SMTP server is configured. */
  outbox?: string;
}

const MAX_RECIPIENTS = 100;
const MAX_ATTACHMENTS = 20;
/** Within the job's 60 s: a dead or stalling server fails the job instead of outliving it. */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

const LOCAL_PART = /^[^\s@<>()[\]",;:\\]+$/;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const HEADER_BREAK = /[\r\n\0]/;

function refuseHeaderBreak(value: string, field: string): void {
  if (HEADER_BREAK.test(value)) throw gtError('GT_EMAIL_INVALID', `${field} contains a line break or NUL: header injection refused`);
}

/** One address, `a@b.c` or `Name <a@b.c>` (internationalised domains allowed); no lists, no groups. */
function address(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 320) throw invalidPayload('an email address', field, value);
  refuseHeaderBreak(value, field);
  const parsed = addressparser(value);
  const one = parsed.length === 1 ? parsed[0] : undefined;
  const addr = (one && 'address' in one ? one.address : undefined) ?? '';
  const at = addr.lastIndexOf('@');
  const domain = at > 0 ? domainToASCII(addr.slice(at + 1)) : '';
  if (!LOCAL_PART.test(addr.slice(0, at)) || !HOSTNAME.test(domain)) {
    throw gtError('GT_EMAIL_INVALID', `${field} is not a valid email address: "${value}"`);
  }
  return value;
}

/** A field holding one address or an array of them. */
function addresses(f: Fields, field: string, required: boolean): string[] {
  const raw = f.raw(field);
  if (raw === undefined && !required) return [];
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0 || list.length > MAX_RECIPIENTS) {
    throw invalidPayload(`an address or an array of 1 to ${MAX_RECIPIENTS} addresses`, f.name(field), raw);
  }
  return list.map((v, i) => address(v, Array.isArray(raw) ? `${f.name(field)}[${i}]` : f.name(field)));
}

function attachment(value: unknown, name: string): EmailPayload['attachments'][number] {
  const a = itemFields(value, name);
  const item: EmailPayload['attachments'][number] = { path: a.filePath('path') };
  const filename = a.optString('filename', { maxLength: 255 });
  if (filename !== undefined) {
    refuseHeaderBreak(filename, a.name('filename'));
    item.filename = filename;
  }
  a.done();
  return item;
}

/**
 * nodemailer itself, loaded with the first message: it is about a hundred modules, and every
 * process that has the email worker among its workers (a `pipeline run` of the built-in
 * thumbnails pipeline, whose notify step is an email) would otherwise load them at start.
 */
let mailer: Promise<typeof import('nodemailer')> | null = null;
const loadMailer = (): Promise<typeof import('nodemailer')> => (mailer ??= import('nodemailer'));

/** Refuse anything but an smtp:// or smtps:// URL with a host (at start, not at the first message). */
function checkSmtpUrl(url: string): void {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') || u.hostname === '') {
    throw invalidArgument('an smtp:// or smtps:// URL', 'email.smtpUrl', redactUrls(url));
  }
}

export const emailWorker: DomainWorkerFactory = (settings, log): DomainWorker<EmailPayload, EmailResult> => {
  // `||`: an empty setting or variable (GEARTRAIN_SMTP_URL=) means "not set".
  const smtpUrl = settings.email?.smtpUrl || process.env.GEARTRAIN_SMTP_URL || undefined;
  const defaultFrom = address(settings.email?.from || process.env.GEARTRAIN_MAIL_FROM || 'geartrain@localhost', 'the email.from setting');
  const templatesDir = settings.email?.templatesDir ?? DEFAULT_TEMPLATES_DIR;
  const outboxDir = path.resolve(settings.email?.outboxDir ?? '.geartrain/outbox');
  const allowed = new AllowedPaths(settings.allowPaths);
  if (smtpUrl) checkSmtpUrl(smtpUrl);
  // Made with the first message. With an SMTP URL, a pooled transport (query parameters of the
  // URL, `?pool=false&socketTimeout=…`, override these options); without one, a stream
  // transport that only builds the raw message (Bcc kept, so the file is complete).
  let transport: Promise<Transporter> | null = null;
  const transporter = (): Promise<Transporter> =>
    (transport ??= loadMailer().then((nodemailer) =>
      smtpUrl ? nodemailer.createTransport({ ...SMTP_TIMEOUTS, url: smtpUrl, pool: true }) : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }),
    ));
  if (smtpUrl) log.info({ smtp: redactUrls(smtpUrl) }, 'email: sending through SMTP');
  else log.info({ outbox: outboxDir }, 'email: no SMTP URL set (GEARTRAIN_SMTP_URL / --smtp); messages go to the outbox');

  return {
    name: 'email',
    timeoutMs: 60_000,

    parse(raw) {
      const f = Fields.of(raw, 'email');
      const p: EmailPayload = {
        to: addresses(f, 'to', true),
        cc: addresses(f, 'cc', false),
        bcc: addresses(f, 'bcc', false),
        vars: f.optRecord('vars') ?? {},
        attachments: f.optArray('attachments', attachment, { max: MAX_ATTACHMENTS }) ?? [],
      };
      const replyTo = f.raw('replyTo');
      const from = f.raw('from');
      if (replyTo !== undefined) p.replyTo = address(replyTo, f.name('replyTo'));
      if (from !== undefined) p.from = address(from, f.name('from'));
      const subject = f.optString('subject', { maxLength: 998 });
      if (subject !== undefined) {
        refuseHeaderBreak(subject, f.name('subject'));
        p.subject = subject;
      }
      const text = f.optString('text', { maxLength: 1_000_000 });
      const html = f.optString('html', { maxLength: 1_000_000 });
      const template = f.optString('template', { maxLength: 64 });
      f.done();
      if (template !== undefined) {
        if (!TEMPLATE_NAME.test(template)) throw invalidPayload('a template name of letters, digits, - and _', f.name('template'), template);
        if (text !== undefined || html !== undefined) throw invalidPayload('either template or text/html, not both', f.name('template'), template);
        p.template = template;
      } else {
        if (text === undefined && html === undefined) throw invalidPayload('one of text, html or template', 'email body', undefined);
        if (f.has('vars')) throw invalidPayload('vars only with a template', f.name('vars'), f.raw('vars'));
        if (subject === undefined) throw invalidPayload('a subject (or a template with a .subject file)', f.name('subject'), undefined);
        if (text !== undefined) p.text = text;
        if (html !== undefined) p.html = html;
      }
      return p;
    },

    async run(p, ctx) {
      let { subject, text, html } = p;
      if (p.template !== undefined) {
        const t = await renderTemplate(templatesDir, p.template, p.vars);
        ({ text, html } = t);
        subject ??= t.subject;
        if (subject === undefined) throw gtError('GT_EMAIL_INVALID', `Template ${p.template} has no ${p.template}.subject: give email.subject`);
      }
      // Each attachment is a regular file (empty is fine: it is not media) under the allowed
      // folders, read through the descriptor that was checked; all are closed after the send.
      const opened: InputFile[] = [];
      try {
        for (const [i, a] of p.attachments.entries()) opened.push(await allowed.input(`email.attachments[${i}].path`, a.path));
        return await send(p, { subject, text, html }, opened, ctx);
      } finally {
        await Promise.all(opened.map((f) => f.close()));
      }
    },

    async close() {
      if (transport) (await transport.catch(() => null))?.close();
    },
  };

  async function send(p: EmailPayload, body: { subject?: string; text?: string; html?: string }, files: InputFile[], ctx: JobContext): Promise<EmailResult> {
    const { subject, text, html } = body;
    const attachments = files.map((f, i) => ({ path: f.use, filename: p.attachments[i]!.filename ?? path.basename(f.path) }));
    const message: SendMailOptions = {
      from: p.from ?? defaultFrom,
      to: p.to,
      ...(p.cc.length > 0 && { cc: p.cc }),
      ...(p.bcc.length > 0 && { bcc: p.bcc }),
      ...(p.replyTo !== undefined && { replyTo: p.replyTo }),
      subject,
      ...(text !== undefined && { text }),
      ...(html !== undefined && { html }),
      attachments,
      // The job's timeout or stop cancels the send, queued or mid-transfer (the pool drops that
      // connection); a message the server has already accepted stays sent.
      signal: ctx.signal,
    };

    const mail = await transporter();
    if (!smtpUrl) {
      const built = await mail.sendMail(message);
      const id = built.messageId.replace(/[<>]/g, '');
      const file = path.join(outboxDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${id.replace(/[^\w.@-]/g, '_')}.eml`);
      ctx.signal.throwIfAborted();
      await writeAtomic(file, (tmp) => writeFile(tmp, built.message as Buffer));
      ctx.log.info({ outbox: file, to: p.to }, 'email written to the outbox (no SMTP configured)');
      return { messageId: built.messageId, outbox: file };
    }
    try {
      const info = await mail.sendMail(message);
      return { messageId: String(info.messageId), accepted: (info.accepted ?? []).map(String), rejected: (info.rejected ?? []).map(String) };
    } catch (err) {
      throw gtError('GT_EMAIL_FAILED', p.to.join(', '), redactUrls((err as Error).message));
    }
  }
};
