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
import { checker } from '../schema/check.js';
import { EmailPayload, type EmailResult } from '../schema/payloads/email.js';
import { DEFAULT_TEMPLATES_DIR, renderTemplate, type TemplateVars } from './email-template.js';
import { writeAtomic } from './files.js';
import { AllowedPaths, type InputFile } from './paths.js';
import { redactUrls } from './redact.js';
import type { DomainWorker, DomainWorkerFactory, JobContext } from './types.js';

export type { EmailPayload, EmailResult } from '../schema/payloads/email.js';
export { DEFAULT_TEMPLATES_DIR } from './email-template.js';

/** The payload as parse() returns it: recipients as arrays, vars and attachments present. */
export type EmailJob = Omit<EmailPayload, 'to' | 'cc' | 'bcc' | 'vars' | 'attachments'> & {
  to: string[];
  cc: string[];
  bcc: string[];
  vars: TemplateVars;
  attachments: NonNullable<EmailPayload['attachments']>;
};

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

/** A field holding one address or an array of them, each read by address(). */
function addresses(raw: string | string[] | undefined, field: string): string[] {
  if (raw === undefined) return [];
  return Array.isArray(raw) ? raw.map((v, i) => address(v, `${field}[${i}]`)) : [address(raw, field)];
}

const check = checker(EmailPayload, 'email');

/**
 * Check an email payload: its shape, then what the schema cannot say (one valid address per
 * entry, no line break in a header, a body from either a template or text/html).
 */
export function parseEmail(raw: unknown): EmailJob {
  const { to, cc, bcc, vars, attachments = [], replyTo, from, subject, text, html, template, ...rest } = check.parse(raw);
  const p: EmailJob = {
    ...rest,
    to: addresses(to, 'email.to'),
    cc: addresses(cc, 'email.cc'),
    bcc: addresses(bcc, 'email.bcc'),
    vars: vars ?? {},
    attachments,
  };
  attachments.forEach((a, i) => {
    if (a.filename !== undefined) refuseHeaderBreak(a.filename, `email.attachments[${i}].filename`);
  });
  if (replyTo !== undefined) p.replyTo = address(replyTo, 'email.replyTo');
  if (from !== undefined) p.from = address(from, 'email.from');
  if (subject !== undefined) {
    refuseHeaderBreak(subject, 'email.subject');
    p.subject = subject;
  }
  if (template !== undefined) {
    if (text !== undefined || html !== undefined) throw invalidPayload('either template or text/html, not both', 'email.template', template);
    p.template = template;
  } else {
    if (text === undefined && html === undefined) throw invalidPayload('one of text, html or template', 'email body', undefined);
    if (vars !== undefined) throw invalidPayload('vars only with a template', 'email.vars', vars);
    if (subject === undefined) throw invalidPayload('a subject (or a template with a .subject file)', 'email.subject', undefined);
    if (text !== undefined) p.text = text;
    if (html !== undefined) p.html = html;
  }
  return p;
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

export const emailWorker: DomainWorkerFactory = (settings, log): DomainWorker<EmailJob, EmailResult> => {
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
      smtpUrl
        ? nodemailer.createTransport({ ...SMTP_TIMEOUTS, url: smtpUrl, pool: true })
        : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }),
    ));
  if (smtpUrl) log.info({ smtp: redactUrls(smtpUrl) }, 'email: sending through SMTP');
  else log.info({ outbox: outboxDir }, 'email: no SMTP URL set (GEARTRAIN_SMTP_URL / --smtp); messages go to the outbox');

  return {
    name: 'email',
    timeoutMs: 60_000,

    parse: parseEmail,

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

  async function send(p: EmailJob, body: { subject?: string; text?: string; html?: string }, files: InputFile[], ctx: JobContext): Promise<EmailResult> {
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
