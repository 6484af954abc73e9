import type { Logger } from '../log.js';
import { calculate, CalculatorError } from './calculator.js';
import { ToolError, type Tool } from './types.js';

/** Tools every instance has, useful with no network. `run_agent` lives with the agent loop, which it calls back into. */

const READ_ONLY = { readOnly: true, destructive: false, idempotent: true } as const;

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export function currentTimeTool(now: () => Date = () => new Date()): Tool {
  return {
    id: 'current_time',
    name: 'current_time',
    source: 'builtin',
    description: 'The current date and time, as ISO 8601 (UTC) and in an optional IANA time zone such as "Europe/Paris".',
    inputSchema: {
      type: 'object',
      properties: { timezone: { type: 'string', description: 'IANA time zone name; UTC when omitted', maxLength: 64 } },
      additionalProperties: false,
    },
    annotations: READ_ONLY,
    approval: 'never',
    timeoutMs: 1000,
    async execute(args) {
      const zone = typeof args.timezone === 'string' && args.timezone.length > 0 ? args.timezone : 'UTC';
      if (!validTimeZone(zone)) throw new ToolError('bad_arguments', `unknown time zone "${zone}"`);
      const date = now();
      const local = new Intl.DateTimeFormat('en-CA', {
        timeZone: zone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hour12: false,
        weekday: 'long',
      }).format(date);
      const structured = { utc: date.toISOString(), timezone: zone, local };
      return { content: JSON.stringify(structured), isError: false, structured };
    },
  };
}

export function calculatorTool(): Tool {
  return {
    id: 'calculator',
    name: 'calculator',
    source: 'builtin',
    description:
      'Evaluates an arithmetic expression exactly as written: numbers, + - * / % ^, parentheses, sqrt, cbrt, abs, floor, ceil, round(x, digits), ln, log(x, base), exp, sin, cos, tan, min, max, pi, e.',
    inputSchema: {
      type: 'object',
      properties: { expression: { type: 'string', description: 'for example "(17.5 * 4) / 3 + sqrt(2)"', maxLength: 1000 } },
      required: ['expression'],
      additionalProperties: false,
    },
    annotations: READ_ONLY,
    approval: 'never',
    timeoutMs: 1000,
    async execute(args) {
      const expression = String(args.expression);
      try {
        const value = calculate(expression);
        return { content: String(value), isError: false, structured: { expression, value } };
      } catch (error) {
        if (error instanceof CalculatorError) return { content: `cannot calculate "${expression}": ${error.message}`, isError: true };
        throw error;
      }
    },
  };
}

/**
 * A side effect anyone can try with no network: the message goes to the server log
 * (a team would point an HTTP tool or an MCP server at their chat instead). It is
 * not idempotent and always asks a person first, so the offline model shows the
 * whole approval flow.
 */
export function sendNotificationTool(logger: Logger): Tool {
  return {
    id: 'send_notification',
    name: 'send_notification',
    source: 'builtin',
    description: 'Sends a short notification to a team channel (here: the server log). A person approves every message first.',
    inputSchema: {
      type: 'object',
      properties: {
        channel: { type: 'string', description: 'for example "#ops"', maxLength: 80 },
        message: { type: 'string', minLength: 1, maxLength: 2000 },
      },
      required: ['message'],
      additionalProperties: false,
    },
    annotations: { readOnly: false, destructive: false, idempotent: false },
    approval: 'always',
    timeoutMs: 5000,
    async execute(args, ctx) {
      const channel = typeof args.channel === 'string' && args.channel.length > 0 ? args.channel : '#general';
      logger.info({ channel, message: String(args.message), idempotencyKey: ctx.idempotencyKey }, 'notification sent by an agent');
      return { content: `sent to ${channel}`, isError: false, structured: { channel, sent: true } };
    },
  };
}

export function builtinTools(logger?: Logger): Tool[] {
  return [currentTimeTool(), calculatorTool(), ...(logger ? [sendNotificationTool(logger)] : [])];
}
