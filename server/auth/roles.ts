import type { RequestHandler } from 'express';
import type { Role } from '../../shared/protocol.js';
import { ForbiddenError, UnauthorizedError } from '../domain/errors.js';
import type { AuthUser } from './types.js';

/** 403 unless req.user has one of `roles` (admin always passes). */
export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    if (!req.user) return next(new UnauthorizedError());
    if (req.user.role === 'admin' || roles.includes(req.user.role)) return next();
    next(new ForbiddenError(`this needs the ${roles.join(' or ')} role`));
  };
}

/** Whether `user` may see a run owned by `owner` (non-admins see only their own; others' are 404). */
export function canSeeRun(user: AuthUser, owner: string): boolean {
  return user.role === 'admin' || user.username === owner;
}
