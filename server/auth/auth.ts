import express from 'express';
import type pg from 'pg';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Auth, AuthUser } from './types.js';

// STUB (foundation): authentication is off; every request is the local admin.
// The security issue replaces this module with users, JWT and roles.
export function createAuth(deps: { config: Config; logger: Logger; pool: pg.Pool }): Auth {
  const localAdmin: AuthUser = { username: deps.config.auth.adminUsername, role: 'admin' };
  return {
    name: 'auth',
    enabled: false,
    authenticate: (req, _res, next) => {
      req.user = localAdmin;
      next();
    },
    router: express.Router(),
    async authenticateUpgrade() {
      return localAdmin;
    },
  };
}
