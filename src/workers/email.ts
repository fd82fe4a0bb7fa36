// `email` {to, subject?, text?|html?|template?, vars?, attachments?} → {messageId}: mail through
// SMTP when a URL is configured, otherwise an .eml file in the outbox folder (and the log says
// where). Addresses and headers are checked first, so a payload cannot inject headers.

import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer, { type Transporter } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import { gtError, invalidPayload } from '../errors.js';
import { checkAllowed, inputFile, writeAtomic } from './files.js';
import type { DomainWorker, DomainWorkerFactory } from './types.js';
import { Fields, itemFields } from './validate.js';

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
  vars: Record<string, string | number | boolean>;
  attachments: { path: string; filename?: string }[];
}

export interface EmailResult {
  messageId: string;
  accepted?: string[];
  rejected?: string[];
  /** Where the message was written when no SMTP server is configured. */
  outbox?: string;
}

/** The templates shipped with the package (fixtures/email), from src/workers or dist/workers. */
export const DEFAULT_TEMPLATES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/email');

const ADDRESS = /^[^\s@<>()[\]",;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const TEMPLATE = /^[a-z0-9][a-z0-9-]*$/;
const VAR = /\{\{\s*([A-Za-z_][\w]*)\s*\}\}/g;

/** One address, `a@b.c` or `Name <a@b.c>`; no line breaks, no lists. */
function address(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 320) throw invalidPayload('an email address', field, value);
  if (/[\r\n\0]/.test(value)) throw gtError('GT_EMAIL_INVALID', `${field} contains a line break or NUL: header injection refused`);
  const parsed = addressparser(value);
  const one = parsed.length === 1 ? parsed[0] : undefined;
  if (!one || !('address' in one) || !one.address || !ADDRESS.test(one.address)) {
    throw gtError('GT_EMAIL_INVALID', `${field} is not a valid email address: "${value}"`);
  }
  return value;
}

function addresses(f: Fields, field: string, required: boolean): string[] {
  const raw = f.raw(field);
  if (raw === undefined && !required) return [];
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0 || list.length > 100) throw invalidPayload('an address or an array of 1 to 100 addresses', f.name(field), raw);
  return list.map((v, i) => address(v, Array.isArray(raw) ? `${f.name(field)}[${i}]` : f.name(field)));
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Fill `{{name}}` from vars; a name without a value is an error naming it. */
function fill(text: string, vars: EmailPayload['vars'], template: string, html: boolean): string {
  return text.replace(VAR, (_, name: string) => {
    if (!Object.hasOwn(vars, name)) throw gtError('GT_EMAIL_INVALID', `Template ${template} uses {{${name}}} but email.vars has no ${name}`);
    const v = String(vars[name]);
    return html ? escapeHtml(v) : v;
  });
}

async function readPart(dir: string, name: string, ext: string): Promise<string | undefined> {
  try {
    return await readFile(path.join(dir, `${name}.${ext}`), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export const emailWorker: DomainWorkerFactory = (settings, log): DomainWorker<EmailPayload, EmailResult> => {
  const smtpUrl = settings.email?.smtpUrl ?? process.env.GEARTRAIN_SMTP_URL;
  const from = settings.email?.from ?? process.env.GEARTRAIN_MAIL_FROM ?? 'geartrain@localhost';
  const templatesDir = settings.email?.templatesDir ?? DEFAULT_TEMPLATES_DIR;
  const outboxDir = path.resolve(settings.email?.outboxDir ?? '.geartrain/outbox');
  // One pooled SMTP transport per process; without SMTP, a transport that only builds the message.
  const smtp: Transporter | null = smtpUrl ? nodemailer.createTransport(smtpUrl.includes('pool=') ? smtpUrl : `${smtpUrl}${smtpUrl.includes('?') ? '&' : '?'}pool=true`) : null;
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  if (!smtp) log.info({ outbox: outboxDir }, 'email: no SMTP URL set (GEARTRAIN_SMTP_URL / --smtp); messages go to the outbox');

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
        attachments: f.optArray('attachments', (v, n) => {
          const a = itemFields(v, n);
          const item = { path: a.string('path'), ...(a.has('filename') ? { filename: a.string('filename', { maxLength: 255 }) } : {}) };
          a.done();
          return item;
        }, { max: 20 }) ?? [],
      };
      const replyTo = f.raw('replyTo');
      const sender = f.raw('from');
      if (replyTo !== undefined) p.replyTo = address(replyTo, f.name('replyTo'));
      if (sender !== undefined) p.from = address(sender, f.name('from'));
      const subject = f.optString('subject', { maxLength: 998 });
      if (subject !== undefined) {
        if (/[\r\n\0]/.test(subject)) throw gtError('GT_EMAIL_INVALID', 'email.subject contains a line break or NUL: header injection refused');
        p.subject = subject;
      }
      const text = f.optString('text', { maxLength: 1_000_000 });
      const html = f.optString('html', { maxLength: 1_000_000 });
      const template = f.optString('template', { maxLength: 64 });
      if (text !== undefined) p.text = text;
      if (html !== undefined) p.html = html;
      if (template !== undefined) {
        if (!TEMPLATE.test(template)) throw invalidPayload('a template name of lower-case letters, digits and -', f.name('template'), template);
        p.template = template;
      }
      if (text === undefined && html === undefined && template === undefined) throw invalidPayload('one of text, html or template', 'email body', undefined);
      f.done();
      return p;
    },
    async run(p, ctx) {
      let { subject, text, html } = p;
      if (p.template) {
        const [t, h, s] = await Promise.all(['txt', 'html', 'subject'].map((ext) => readPart(templatesDir, p.template!, ext)));
        if (t === undefined && h === undefined) throw gtError('GT_EMAIL_INVALID', `No template ${p.template} in ${templatesDir} (expected ${p.template}.txt or ${p.template}.html)`);
        if (t !== undefined) text = fill(t, p.vars, p.template, false);
        if (h !== undefined) html = fill(h, p.vars, p.template, true);
        if (subject === undefined && s !== undefined) subject = fill(s.trim(), p.vars, p.template, false).replace(/[\r\n]+/g, ' ');
      }
      if (subject === undefined) throw invalidPayload('a subject (or a template with a .subject file)', 'email.subject', undefined);
      const attachments = [];
      for (const [i, a] of p.attachments.entries()) {
        checkAllowed(`email.attachments[${i}].path`, a.path, settings.allowPaths);
        await inputFile(a.path);
        attachments.push({ path: a.path, filename: a.filename ?? path.basename(a.path) });
      }
      const message = {
        from: p.from ?? from,
        to: p.to,
        ...(p.cc.length ? { cc: p.cc } : {}),
        ...(p.bcc.length ? { bcc: p.bcc } : {}),
        ...(p.replyTo ? { replyTo: p.replyTo } : {}),
        subject,
        ...(text !== undefined ? { text } : {}),
        ...(html !== undefined ? { html } : {}),
        attachments,
      };
      if (!smtp) {
        const built = await composer.sendMail(message);
        const id = String(built.messageId).replace(/[<>]/g, '');
        const file = path.join(outboxDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${id.replace(/[^\w.@-]/g, '_')}.eml`);
        await mkdir(outboxDir, { recursive: true });
        await writeAtomic(file, (tmp) => writeFile(tmp, built.message as Buffer));
        ctx.log.info({ outbox: file, to: p.to }, 'email written to the outbox (no SMTP configured)');
        return { messageId: built.messageId, outbox: file };
      }
      try {
        const info = await smtp.sendMail(message);
        return { messageId: info.messageId, accepted: (info.accepted ?? []).map(String), rejected: (info.rejected ?? []).map(String) };
      } catch (err) {
        throw gtError('GT_EMAIL_FAILED', p.to.join(', '), (err as Error).message);
      }
    },
    async close() {
      smtp?.close();
      composer.close();
    },
  };
};
