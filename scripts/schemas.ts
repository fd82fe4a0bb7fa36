// Writes the published JSON Schemas under schemas/ (`npm run schemas`), one file per entry of
// SCHEMAS, from the TypeBox schemas the code checks with: an editor that reads schemas/config.json
// refuses what `pipeline up` refuses, and a client can check a job's payload before submitting it. test/unit/schemas.test.ts fails when a file differs from
// what this writes.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TSchema } from 'typebox';
import { PAYLOAD_SCHEMAS, RESULT_SCHEMAS } from '../src/schema/workers.js';
import { ConfigFile } from '../src/supervisor/config.js';

export const SCHEMAS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../schemas');

/** One published schema: its file under schemas/, the schema, and the title an editor shows. */
export interface PublishedSchema {
  file: string;
  schema: TSchema;
  title: string;
}

export const SCHEMAS: readonly PublishedSchema[] = [
  { file: 'config.json', schema: ConfigFile, title: 'geartrain config file (pipeline up)' },
  ...Object.entries(PAYLOAD_SCHEMAS).map(([fn, schema]) => ({ file: `${fn}.payload.json`, schema, title: `geartrain ${fn} job payload` })),
  ...Object.entries(RESULT_SCHEMAS).map(([fn, schema]) => ({ file: `${fn}.result.json`, schema, title: `geartrain ${fn} job result` })),
];

/**
 * The file's text. Draft 7, as the YAML and JSON language servers of common editors read it
 * fully; the schemas use no keyword newer than it. `expected` is geartrain's own annotation
 * (the words of its messages), which validators ignore.
 */
export function schemaText(entry: PublishedSchema): string {
  const doc = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `urn:geartrain:schemas:${entry.file}`,
    title: entry.title,
    ...entry.schema,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  mkdirSync(SCHEMAS_DIR, { recursive: true });
  for (const entry of SCHEMAS) {
    writeFileSync(path.join(SCHEMAS_DIR, entry.file), schemaText(entry));
    process.stdout.write(`schemas/${entry.file}\n`);
  }
}
