// Pieces several worker payloads share: paths, output base names, and the `skipped` mark of an
// output already made.

import Type from 'typebox';

/** A file or folder path: a string the filesystem can take (no NUL). */
export const FilePath = Type.String({ minLength: 1, maxLength: 4096, pattern: '^[^\\u0000]*$', expected: 'a path of 1 to 4096 characters without NUL' });

/**
 * A base name for output files (`NAME-320w.webp`): no folder, no leading dot (hidden files, `..`),
 * no control character (a line break in a name breaks logs and listings) and no NUL.
 */
export const FileName = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[^./\\\\\\u0000-\\u001f\\u007f][^/\\\\\\u0000-\\u001f\\u007f]*$',
  expected: 'a file name of 1 to 200 characters without folders, a leading dot, control characters or NUL',
});

/** Set on an output already up to date from an earlier job: not made again. */
export const Skipped = Type.Optional(Type.Literal(true));

/** A count or a size: a whole number of at least 0. */
export const Count = Type.Integer({ minimum: 0 });
