/**
 * Errors the parts raise about a request they refuse, with a stable code and a
 * message safe to show whoever asked. They know nothing of HTTP: the HTTP edge
 * (server/http/errors.ts) maps them to statuses, and a thread, trigger or
 * schedule that submits a run handles them its own way.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Per-field problems, e.g. `[{ path: 'options.rounds', message: '…' }]`. */
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** The request is malformed or breaks a rule (HTTP 400). */
export class ValidationError extends DomainError {
  constructor(message: string, details?: unknown) {
    super('validation_error', message, details);
    this.name = 'ValidationError';
  }
}

/** Something the request names does not exist, or is not the caller's to see (HTTP 404). */
export class NotFoundError extends DomainError {
  constructor(what: string, message = `${what} not found`) {
    super('not_found', message);
    this.name = 'NotFoundError';
  }
}

/** The request says nobody, or nobody known, is asking (HTTP 401). */
export class UnauthorizedError extends DomainError {
  constructor(message = 'authentication required') {
    super('unauthorized', message);
    this.name = 'UnauthorizedError';
  }
}

/** The caller may not do this (HTTP 403): e.g. an API key restricted to other agents. */
export class ForbiddenError extends DomainError {
  constructor(message: string) {
    super('forbidden', message);
    this.name = 'ForbiddenError';
  }
}

/** The request clashes with the current state; retrying later may succeed (HTTP 409). */
export class ConflictError extends DomainError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ConflictError';
  }
}
