import type { RequestHandler } from 'express';
import { HttpError } from './errors.js';

/** Deeper JSON than any run input or answer needs; recursive code downstream (JSON.stringify, PostgreSQL's jsonb parser) stays far from its stack limit. */
export const MAX_JSON_DEPTH = 64;
/** Printable ASCII: what a client needs for a key, and nothing a text column could refuse. */
const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,200}$/;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why PostgreSQL could not store `text`, or undefined. */
function badText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'a NUL character (\\u0000), which text and JSON columns cannot store';
  if (LONE_SURROGATE.test(text)) return 'an unpaired UTF-16 surrogate (like "\\ud800"), which is not Unicode text';
  return undefined;
}

/**
 * Why `value` (a parsed JSON body, or a query object) is unacceptable: a string or key that
 * PostgreSQL would refuse (SQLSTATE 22021 / 22P05 / 22P02), or nesting deeper than
 * `maxDepth`. Iterative, so the walk itself cannot overflow the stack.
 */
export function unsafeInput(value: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const problem = badText(v);
      if (problem) return `contains ${problem}`;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) return `is nested deeper than ${maxDepth} levels`;
    if (Array.isArray(v)) {
      for (const child of v) stack.push({ value: child, depth: depth + 1 });
      continue;
    }
    for (const [key, child] of Object.entries(v)) {
      const problem = badText(key);
      if (problem) return `has a key with ${problem}`;
      stack.push({ value: child, depth: depth + 1 });
    }
  }
  return undefined;
}

function decodedPath(path: string): string | undefined {
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

const invalidInput = (message: string) => new HttpError(400, 'invalid_input', message);

/**
 * Refuses at the edge, with a 400 naming the problem, what would otherwise reach PostgreSQL
 * or recursive code and come back as a 500: NUL and unpaired surrogates in the body, the query
 * string or the path, bodies nested deeper than MAX_JSON_DEPTH, and an Idempotency-Key header
 * that is not printable ASCII. Runs after the JSON body parser.
 */
export const rejectUnsafeInput: RequestHandler = (req, _res, next) => {
  // The path stays encoded until a route decodes its parameters, where a bad escape is a URIError (500).
  const path = decodedPath(req.path);
  if (path === undefined) return next(invalidInput('the path is not valid percent-encoded UTF-8'));
  const inPath = unsafeInput(path);
  if (inPath) return next(invalidInput(`the path ${inPath}`));
  const inQuery = unsafeInput(req.query, 4);
  if (inQuery) return next(invalidInput(`the query string ${inQuery}`));
  if (req.body !== undefined) {
    const inBody = unsafeInput(req.body);
    if (inBody) return next(invalidInput(`the request body ${inBody}`));
  }
  const key = req.headers['idempotency-key'];
  if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))) {
    return next(invalidInput('header Idempotency-Key: 1 to 200 printable ASCII characters'));
  }
  next();
};
