/**
 * Arithmetic for the `calculator` tool: a recursive-descent parser over a fixed
 * grammar, never `eval`. Written here rather than taken from mathjs because the
 * tool needs one screen of grammar (numbers, + − × ÷ % ^, parentheses, a few
 * functions and constants) and nothing else a model could reach: mathjs's
 * `evaluate` also defines functions and variables, which would have to be
 * switched off one by one and re-checked on every upgrade.
 *
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/' | '%') unary)*
 *   unary   := ('+' | '-') unary | power
 *   power   := primary ('^' unary)?          right-associative, binds tighter than unary minus on its left
 *   primary := number | constant | name '(' expr (',' expr)* ')' | '(' expr ')'
 */

export class CalculatorError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'CalculatorError';
  }
}

const MAX_LENGTH = 1000;
const MAX_DEPTH = 100;

// Maps, not object literals: a name like "constructor" must not reach Object.prototype.
const CONSTANTS: ReadonlyMap<string, number> = new Map([
  ['pi', Math.PI],
  ['e', Math.E],
]);

const FUNCTIONS: ReadonlyMap<string, { arity: [number, number]; fn: (...args: number[]) => number }> = new Map(
  Object.entries({
  sqrt: { arity: [1, 1], fn: Math.sqrt },
  cbrt: { arity: [1, 1], fn: Math.cbrt },
  abs: { arity: [1, 1], fn: Math.abs },
  floor: { arity: [1, 1], fn: Math.floor },
  ceil: { arity: [1, 1], fn: Math.ceil },
  round: {
    arity: [1, 2],
    fn: (x, digits = 0) => {
      const f = 10 ** digits;
      return Math.round(x * f) / f;
    },
  },
  ln: { arity: [1, 1], fn: Math.log },
  log: { arity: [1, 2], fn: (x, base = 10) => Math.log(x) / Math.log(base) },
  exp: { arity: [1, 1], fn: Math.exp },
  sin: { arity: [1, 1], fn: Math.sin },
  cos: { arity: [1, 1], fn: Math.cos },
  tan: { arity: [1, 1], fn: Math.tan },
  min: { arity: [1, 64], fn: Math.min },
  max: { arity: [1, 64], fn: Math.max },
  }),
);

type Token = { kind: 'num'; value: number; pos: number } | { kind: 'name'; value: string; pos: number } | { kind: 'op'; value: string; pos: number };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const number = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(i));
    if (number) {
      tokens.push({ kind: 'num', value: Number(number[0]), pos: i });
      i += number[0].length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
    if (name) {
      tokens.push({ kind: 'name', value: name[0].toLowerCase(), pos: i });
      i += name[0].length;
      continue;
    }
    const op = ch === '×' ? '*' : ch === '÷' ? '/' : ch === '−' ? '-' : ch === '*' && source[i + 1] === '*' ? '^' : ch;
    if ('+-*/%^(),'.includes(op)) {
      tokens.push({ kind: 'op', value: op, pos: i });
      i += ch === '*' && source[i + 1] === '*' ? 2 : 1;
      continue;
    }
    throw new CalculatorError(`unexpected character "${ch}" at position ${i + 1}`, i);
  }
  return tokens;
}

/** Evaluates an arithmetic expression; throws CalculatorError with a position for anything else. */
export function calculate(source: string): number {
  if (source.length > MAX_LENGTH) throw new CalculatorError(`expression longer than ${MAX_LENGTH} characters`, MAX_LENGTH);
  const tokens = tokenize(source);
  let at = 0;
  let depth = 0;

  const peek = () => tokens[at];
  const fail = (message: string): never => {
    const token = peek();
    throw new CalculatorError(message, token ? token.pos : source.length);
  };
  const takeOp = (...ops: string[]): string | undefined => {
    const token = peek();
    if (token?.kind === 'op' && ops.includes(token.value)) {
      at++;
      return token.value;
    }
    return undefined;
  };
  const expectOp = (op: string) => {
    if (!takeOp(op)) fail(peek() ? `expected "${op}" at position ${peek()!.pos + 1}` : `expected "${op}" at the end`);
  };
  const nested = <T>(parse: () => T): T => {
    if (++depth > MAX_DEPTH) fail(`expression nested deeper than ${MAX_DEPTH} levels`);
    try {
      return parse();
    } finally {
      depth--;
    }
  };

  function expr(): number {
    return nested(() => {
      let value = term();
      for (let op = takeOp('+', '-'); op; op = takeOp('+', '-')) value = op === '+' ? value + term() : value - term();
      return value;
    });
  }

  function term(): number {
    let value = unary();
    for (let op = takeOp('*', '/', '%'); op; op = takeOp('*', '/', '%')) {
      const right = unary();
      if ((op === '/' || op === '%') && right === 0) fail('division by zero');
      value = op === '*' ? value * right : op === '/' ? value / right : value % right;
    }
    return value;
  }

  function unary(): number {
    return nested(() => {
      const sign = takeOp('+', '-');
      if (sign) return sign === '-' ? -unary() : unary();
      return power();
    });
  }

  function power(): number {
    const base = primary();
    return takeOp('^') ? base ** unary() : base;
  }

  function primary(): number {
    const token = peek();
    if (!token) return fail('the expression ends too early');
    if (token.kind === 'num') {
      at++;
      return token.value;
    }
    if (token.kind === 'name') {
      at++;
      const fn = FUNCTIONS.get(token.value);
      if (fn) {
        expectOp('(');
        const args = [expr()];
        while (takeOp(',')) args.push(expr());
        expectOp(')');
        const [min, max] = fn.arity;
        if (args.length < min || args.length > max) {
          throw new CalculatorError(`${token.value}() takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}, got ${args.length}`, token.pos);
        }
        return fn.fn(...args);
      }
      const constant = CONSTANTS.get(token.value);
      if (constant !== undefined) return constant;
      throw new CalculatorError(`unknown name "${token.value}" (functions: ${[...FUNCTIONS.keys()].join(', ')}; constants: pi, e)`, token.pos);
    }
    if (takeOp('(')) {
      const value = expr();
      expectOp(')');
      return value;
    }
    return fail(`unexpected "${token.value}" at position ${token.pos + 1}`);
  }

  if (tokens.length === 0) throw new CalculatorError('the expression is empty', 0);
  const value = expr();
  if (at < tokens.length) fail(`unexpected "${peek()!.value}" at position ${peek()!.pos + 1}`);
  if (!Number.isFinite(value)) throw new CalculatorError('the result is not a finite number', 0);
  return value;
}
