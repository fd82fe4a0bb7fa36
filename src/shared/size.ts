// Sizes in bytes as people write them in flags and config files: `65536`, `512k`, `64m`, `1GiB`.
// Units are binary whatever their spelling (k, kb and kib are all 1024), as the limits they set
// (packet, buffer and file sizes) are compared with byte counts.

/**
 * The spellings of a size as a JSON Schema pattern: digits, optional spaces, an optional unit
 * b, k, kb, kib, m, mb, mib, g, gb or gib in any case. JSON Schema patterns take no flags, so
 * each letter lists both cases. parseSize reads the same pattern.
 */
export const SIZE_PATTERN = '^\\s*(\\d+)\\s*([bB]|[kKmMgG](?:[iI]?[bB])?)?\\s*$';

/** What a size is, in the words of an error message (after an article or an adjective). */
export const SIZE_WORDS = 'size such as 65536, 512k or 64m';

const SIZE = new RegExp(SIZE_PATTERN);
const UNIT: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * Bytes from a size such as `65536`, `512k` or `64 MiB`; undefined for anything else, and for
 * 0 or a size past Number.MAX_SAFE_INTEGER (no limit is meant to be 0 bytes, and a count past
 * it is no longer exact).
 */
export function parseSize(text: string): number | undefined {
  const m = SIZE.exec(text);
  if (m === null) return undefined;
  const bytes = Number(m[1]) * UNIT[(m[2] ?? 'b')[0]!.toLowerCase()]!;
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : undefined;
}
