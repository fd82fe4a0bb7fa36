// Email templates: `NAME.txt` and/or `NAME.html`, optional `NAME.subject`, in one folder, with
// `{{name}}` filled from the job's vars — HTML-escaped in the HTML part, as given elsewhere.
// Files are read on every job, so an operator can edit a template without restarting workers.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gtError } from '../errors.js';

export type TemplateVars = Record<string, string | number | boolean>;

export interface RenderedTemplate {
  subject?: string;
  text?: string;
  html?: string;
}

/** The templates shipped in the package's fixtures/email (the same from src/workers and dist/workers). */
export const DEFAULT_TEMPLATES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/email');

/** A plain file name without an extension: no separators, no dots, so never outside the folder. */
export const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

const VARIABLE = /\{\{\s*([A-Za-z_]\w*)\s*\}\}/g;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

async function readPart(dir: string, name: string, ext: string): Promise<string | undefined> {
  try {
    return await readFile(path.join(dir, `${name}.${ext}`), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw gtError('GT_EMAIL_INVALID', `Template ${name}: cannot read ${name}.${ext} in ${dir}: ${(err as Error).message}`);
  }
}

/**
 * Read template `name` from `dir` and fill its variables. Every variable a part uses must be in
 * `vars`; the error names all the missing ones at once, so one fix is enough.
 */
export async function renderTemplate(dir: string, name: string, vars: TemplateVars): Promise<RenderedTemplate> {
  if (!TEMPLATE_NAME.test(name)) throw gtError('GT_EMAIL_INVALID', `Template name ${JSON.stringify(name)} is not a plain name`);
  const [text, html, subject] = await Promise.all([readPart(dir, name, 'txt'), readPart(dir, name, 'html'), readPart(dir, name, 'subject')]);
  if (text === undefined && html === undefined) {
    throw gtError('GT_EMAIL_INVALID', `No template ${name} in ${dir} (expected ${name}.txt or ${name}.html)`);
  }
  const missing = new Set<string>();
  const fill = (part: string, asHtml: boolean): string =>
    part.replace(VARIABLE, (_, v: string) => {
      if (!Object.hasOwn(vars, v)) {
        missing.add(v);
        return '';
      }
      return asHtml ? escapeHtml(String(vars[v])) : String(vars[v]);
    });
  const out: RenderedTemplate = {};
  if (text !== undefined) out.text = fill(text, false);
  if (html !== undefined) out.html = fill(html, true);
  // A subject is one header line: a value with a line break in it becomes a space.
  if (subject !== undefined) out.subject = fill(subject.trim(), false).replace(/[\r\n]+/g, ' ');
  if (missing.size > 0) {
    const names = [...missing];
    throw gtError('GT_EMAIL_INVALID', `Template ${name} uses ${names.map((v) => `{{${v}}}`).join(', ')} but email.vars has no ${names.join(', ')}`);
  }
  return out;
}
