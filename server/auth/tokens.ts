import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { roleSchema, type Role } from '../../shared/protocol.js';

/** The only algorithm accepted: a token naming `none`, HS512 or RS256 is refused before its signature is looked at. */
export const ALGORITHMS = ['HS256'] as const;
const ISSUER = 'agentry';
const AUDIENCE = 'agentry';
const CLOCK_TOLERANCE_SECONDS = 5;

const claimsSchema = z.object({
  sub: z.string().min(1).max(64),
  uid: z.uuid(),
  role: roleSchema,
  ver: z.number().int().min(1),
  jti: z.uuid(),
  iat: z.number().int(),
  exp: z.number().int(),
  /** When the password was last checked: refresh never carries a session past SESSION_MAX_AGE_SECONDS from it. */
  auth_time: z.number().int(),
});

export type Claims = z.infer<typeof claimsSchema>;

export interface TokenSubject {
  id: string;
  username: string;
  role: Role;
  tokenVersion: number;
}

export interface IssuedToken {
  token: string;
  jti: string;
  expiresAt: Date;
}

export type VerifyResult = { ok: true; claims: Claims } | { ok: false; reason: 'expired' | 'invalid' };

export interface Tokens {
  /** `authTime` carries the original login through refreshes; `notAfter` (epoch seconds) caps the expiry. */
  issue(subject: TokenSubject, options?: { authTime?: number; notAfter?: number }): Promise<IssuedToken>;
  verify(token: string): Promise<VerifyResult>;
}

/**
 * HS256 JWTs signed with JWT_SECRET. Previous secrets (JWT_SECRET_PREVIOUS) still
 * verify, so rotating the secret does not log everyone out at once; new tokens
 * are always signed with the current one.
 */
export function createTokens(options: { secret: string; previousSecrets?: readonly string[]; ttlSeconds: number }): Tokens {
  const encoder = new TextEncoder();
  const current = encoder.encode(options.secret);
  const keys = [current, ...(options.previousSecrets ?? []).map((s) => encoder.encode(s))];

  async function verifyWith(token: string, key: Uint8Array): Promise<Claims> {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [...ALGORITHMS],
      issuer: ISSUER,
      audience: AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
      typ: 'JWT',
    });
    return claimsSchema.parse(payload);
  }

  return {
    async issue(subject, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const exp = Math.min(now + options.ttlSeconds, opts.notAfter ?? Number.MAX_SAFE_INTEGER);
      const jti = randomUUID();
      const token = await new SignJWT({ uid: subject.id, role: subject.role, ver: subject.tokenVersion, auth_time: opts.authTime ?? now })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(subject.username)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setJti(jti)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .sign(current);
      return { token, jti, expiresAt: new Date(exp * 1000) };
    },
    async verify(token) {
      // A JWT is three base64url parts; anything else is not worth handing to the parser.
      if (token.length > 4096 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) return { ok: false, reason: 'invalid' };
      for (const key of keys) {
        try {
          return { ok: true, claims: await verifyWith(token, key) };
        } catch (error) {
          if (error instanceof errors.JWSSignatureVerificationFailed) continue;
          if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
          return { ok: false, reason: 'invalid' };
        }
      }
      return { ok: false, reason: 'invalid' };
    },
  };
}
