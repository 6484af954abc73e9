import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { z } from 'zod';
import type { ApiError } from '../../shared/protocol.js';
import { ConflictError, DomainError, ForbiddenError, NotFoundError, UnauthorizedError, ValidationError } from '../domain/errors.js';
import { redactUrl, type Logger } from '../log.js';

/** An error whose status, code and message are safe to show the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string, details?: unknown) => new HttpError(400, 'validation_error', message, details);
export const notFound = (what = 'resource') => new HttpError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);
export const forbidden = (message = 'you may not do this') => new HttpError(403, 'forbidden', message);
export const unauthorized = (message = 'authentication required') => new HttpError(401, 'unauthorized', message);

export function sendError(res: Response, status: number, code: string, message: string, details?: unknown): void {
  const body: ApiError = { error: { code, message, ...(details === undefined ? {} : { details }) } };
  res.status(status).json(body);
}

/** The HTTP status of a domain error: the one place the parts' refusals become statuses. */
export function statusOfDomainError(error: DomainError): number {
  if (error instanceof ValidationError) return 400;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof UnauthorizedError) return 401;
  return 400;
}

/** Parses with zod and turns failures into a 400 naming the field. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, where = 'body'): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0];
  const message = first ? `${where}${first.path ? `.${first.path}` : ''}: ${first.message}` : `invalid ${where}`;
  throw badRequest(message, issues);
}

export const notFoundHandler: RequestHandler = (req, res) => {
  sendError(res, 404, 'not_found', `no route for ${req.method} ${req.path}`);
};

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  expose?: boolean;
}

/** The one error handler: logs, then answers the JSON error shape — never a stack trace or SQL. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof HttpError) {
      if (error.headers) res.set(error.headers);
      sendError(res, error.status, error.code, error.message, error.details);
      return;
    }
    if (error instanceof DomainError) {
      sendError(res, statusOfDomainError(error), error.code, error.message, error.details);
      return;
    }
    const e = error as BodyParserError;
    switch (e?.type) {
      case 'entity.too.large':
        sendError(res, 413, 'payload_too_large', 'request body is larger than the 1 MiB limit');
        return;
      case 'entity.parse.failed':
        sendError(res, 400, 'invalid_json', 'request body is not valid JSON');
        return;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        sendError(res, 415, 'unsupported_media_type', e.message);
        return;
      case 'request.aborted':
        return;
      default:
        break;
    }
    if (isPoolTimeout(error)) {
      res.set('Retry-After', '2');
      sendError(res, 503, 'overloaded', 'the server is busy; retry shortly');
      return;
    }
    if (isDatabaseUnavailable(error)) {
      logger.warn({ err: error, method: req.method, url: redactUrl(req.originalUrl) }, 'request failed: database unavailable');
      res.set('Retry-After', '5');
      sendError(res, 503, 'database_unavailable', 'the database is unavailable; retry shortly');
      return;
    }
    if (isDataException(error)) {
      // The edge (input-guard.ts) refuses what it knows of; whatever else a value does to a
      // statement (out of range, not storable) is still the request's fault, not ours.
      logger.info({ err: error, method: req.method, url: redactUrl(req.originalUrl) }, 'request refused by the database: invalid data');
      sendError(res, 400, 'invalid_input', 'a value in the request is out of range or cannot be stored');
      return;
    }
    const status = e?.status ?? (e as { statusCode?: number })?.statusCode;
    if (status === 404) {
      sendError(res, 404, 'not_found', `${req.path} not found`);
      return;
    }
    if (typeof status === 'number' && status >= 400 && status < 500 && e.expose) {
      sendError(res, status, 'bad_request', e.message);
      return;
    }
    logger.error({ err: error, method: req.method, url: redactUrl(req.originalUrl) }, 'request failed');
    sendError(res, 500, 'internal_error', 'something went wrong on our side');
  };
}

/** SQLSTATE class 22 (data exception): 22003 out of range, 22021 NUL byte, 22P02 bad JSON text, 22P05 bad Unicode escape… */
export function isDataException(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/** pg's message when no pooled connection could be had within connectionTimeoutMillis. */
export function isPoolTimeout(error: unknown): boolean {
  return error instanceof Error && /timeout exceeded when trying to connect|Connection terminated due to connection timeout/i.test(error.message);
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', '57P01', '57P02', '57P03', '53300']);

/**
 * The database is down or restarting (connection refused or cut, server shutting
 * down, SQLSTATE class 08): the client should retry, so 503 rather than 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
    const message = (current as { message?: unknown }).message;
    if (typeof message === 'string' && /^Connection terminated|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Refuses bodies on write routes that are not JSON (415), so parsers never guess. */
export const requireJson: RequestHandler = (req, _res, next) => {
  const hasBody = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) > 0 : req.headers['transfer-encoding'] !== undefined;
  const writes = req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH';
  if (writes && hasBody && !req.is(['application/json', 'application/*+json'])) {
    next(new HttpError(415, 'unsupported_media_type', 'send the body as application/json'));
    return;
  }
  next();
};
