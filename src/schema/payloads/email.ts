// `email`: what a caller sends (recipients, a subject and a body or a template with its
// variables, attachments) and what the worker answers (the message id; SMTP's accepted and
// rejected recipients, or the outbox file).

import Type, { type Static } from 'typebox';
import { FilePath } from './common.js';

export const MAX_RECIPIENTS = 100;
export const MAX_ATTACHMENTS = 20;

/** `a@b.c` or `Name <a@b.c>`; the worker reads it further (one address, a valid domain, no line break). */
export const Address = Type.String({ minLength: 1, maxLength: 320, expected: 'an email address' });

/** One address or an array of them. */
const Recipients = Type.Union([Address, Type.Array(Address, { minItems: 1, maxItems: MAX_RECIPIENTS })], {
  expected: `an address or an array of 1 to ${MAX_RECIPIENTS} addresses`,
});

/** Template variables: a flat object of string, number or boolean values. */
export const TemplateVars = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()], { expected: 'string, number or boolean' }));
export type TemplateVars = Static<typeof TemplateVars>;

export const Attachment = Type.Object(
  {
    path: FilePath,
    /** The name the recipient sees. Absent: the file's own name. */
    filename: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false },
);
export type Attachment = Static<typeof Attachment>;

const Body = Type.String({ minLength: 1, maxLength: 1_000_000 });

/**
 * Either `template` (text, HTML and maybe the subject from the templates folder, filled from
 * `vars`) or `text`/`html` with a `subject`.
 */
export const EmailPayload = Type.Object(
  {
    to: Recipients,
    cc: Type.Optional(Recipients),
    bcc: Type.Optional(Recipients),
    /** Only with a template. */
    vars: Type.Optional(TemplateVars),
    attachments: Type.Optional(Type.Array(Attachment, { minItems: 0, maxItems: MAX_ATTACHMENTS })),
    replyTo: Type.Optional(Address),
    /** Absent: the worker's email.from setting. */
    from: Type.Optional(Address),
    /** Absent: the template's NAME.subject. */
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 998 })),
    text: Type.Optional(Body),
    html: Type.Optional(Body),
    /** A file name in the templates folder without its extension. */
    template: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$',
        expected: 'a template name of letters, digits, - and _ (at most 64)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type EmailPayload = Static<typeof EmailPayload>;

export const EmailResult = Type.Object(
  {
    messageId: Type.String({ minLength: 1 }),
    /** Recipients the SMTP server accepted. */
    accepted: Type.Optional(Type.Array(Type.String())),
    /** Recipients it refused while accepting others (all refused fails the job instead). */
    rejected: Type.Optional(Type.Array(Type.String())),
    /** The .eml file written when no SMTP server is configured. */
    outbox: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type EmailResult = Static<typeof EmailResult>;
