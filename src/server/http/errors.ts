// Every HTTP error is `{error: {code, message}}` with a GT_* code from src/errors.ts; the status
// is the code's `http` column. fastify's own errors (body limit, bad JSON, unknown content type)
// are turned into the matching codes here.

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import Type, { type Static } from 'typebox';
import { GeartrainError, gtError } from '../../errors.js';

const ErrorSchema = Type.Object(
  { code: Type.String({ description: 'A GT_* code (docs/errors.md)' }), message: Type.String() },
  { additionalProperties: false },
);
export const ErrorBodySchema = Type.Object({ error: ErrorSchema }, { additionalProperties: false, description: 'The error, with the HTTP status of its code' });
export type ErrorBody = Static<typeof ErrorBodySchema>;

/** The error answers every route declares: 4xx and 5xx, `{error: {code, message}}`. */
export const errorResponses = { '4xx': ErrorBodySchema, '5xx': ErrorBodySchema } as const;

/** A foreground POST /jobs that failed also names its job. */
export const JobErrorBodySchema = Type.Object(
  { error: ErrorSchema, handle: Type.Optional(Type.String({ description: 'The handle of the job that failed' })) },
  { additionalProperties: false, description: 'The error, with the HTTP status of its code' },
);

export function errorBody(err: GeartrainError): ErrorBody {
  return { error: { code: err.code, message: err.message } };
}

/**
 * Answer with the error. An answer sent before the request body has arrived in full (a refused
 * token, a body over the limit) closes the connection: nothing reads the rest, and a client
 * trickling it must not hold the socket.
 */
export function sendError(reply: FastifyReply, err: GeartrainError): FastifyReply {
  if (!reply.request.raw.complete || err.code === 'GT_HTTP_UNAUTHORIZED') reply.header('connection', 'close');
  return reply.code(err.httpStatus).header('cache-control', 'no-store').send(errorBody(err));
}

/** Map anything a route or fastify threw to a GeartrainError. */
export function toGeartrainError(err: unknown, bodyLimit: number): GeartrainError {
  if (err instanceof GeartrainError) return err;
  const e = err as Partial<FastifyError> & { message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return gtError('GT_BODY_TOO_LARGE', bodyLimit);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return gtError('GT_BODY_INVALID', 'expected Content-Type: application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return gtError('GT_BODY_INVALID', 'it is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return gtError('GT_BODY_INVALID', e.message ?? 'not JSON');
    default:
      break;
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new GeartrainError('GT_INVALID_ARGUMENT', e.message ?? 'Bad request');
  }
  return gtError('GT_INTERNAL', e.message ?? String(err));
}

export function errorHandler(log: Logger, bodyLimit: number) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const gt = toGeartrainError(err, bodyLimit);
    if (gt.code === 'GT_INTERNAL') log.error({ err, method: req.method, url: req.url }, 'HTTP request failed');
    else log.debug({ code: gt.code, err: gt.message, method: req.method, url: req.url }, 'HTTP request refused');
    return sendError(reply, gt);
  };
}
