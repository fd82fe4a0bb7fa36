// YAML for pipeline files and supervisor configs. The yaml package is loaded with the first YAML
// file read: imported at start, it added about 30 ms to every run of the CLI.

import { createRequire } from 'node:module';

let yaml: typeof import('yaml') | null = null;

export function parseYaml(text: string): unknown {
  yaml ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(text);
}
