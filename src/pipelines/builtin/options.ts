// Options of the built-in pipelines that go into a worker's payload as they are: typed as that
// payload field, and checked by the worker's own payload check before any job runs
// (preflight.ts), whose message names the field (`thumbnail.sizes[0].format`). Checking them
// here as well would say the same thing twice, less precisely.

import Type, { type TUnsafe } from 'typebox';
import type { BuiltinFunctions } from '../../schema/workers.js';

type Thumbnail = BuiltinFunctions['thumbnail']['payload'];
type Transcode = BuiltinFunctions['transcode']['payload'];

const passedOn = <T>(expected: string): TUnsafe<T> => Type.Unsafe<T>({ expected });

export const SIZES = passedOn<Thumbnail['sizes']>('thumbnail sizes: [{width, height?, format, quality?}]');
export const FIT = passedOn<NonNullable<Thumbnail['fit']>>('inside, cover or contain');
export const POSITION = passedOn<NonNullable<Thumbnail['position']>>('centre, attention or entropy');
export const PROFILES = passedOn<Transcode['profiles']>('transcode profiles');
/** `true`, or the hls options of transcode. */
export const HLS = passedOn<boolean | NonNullable<Transcode['hls']>>('true, false or the hls options of transcode');

/** Options the pipelines read themselves. */
export const ADDRESS = Type.String({ expected: 'an email address' });
export const URL_TEXT = Type.String({ expected: 'a URL' });
