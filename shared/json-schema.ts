import { z } from 'zod';

/**
 * The subset of JSON Schema an agent may declare for structured output. Small on
 * purpose: the offline model must be able to produce a valid value for every
 * schema the catalog accepts, and outputs are checked against it without a
 * general-purpose validator. It lives in shared/ because agents (catalog, model
 * backends, GET /api/agents) and patterns (verdict and choice schemas) both speak
 * it, and patterns must not import agents.
 */
export type JsonSchema =
  | { type: 'object'; properties: Record<string, JsonSchema>; required?: string[]; description?: string; additionalProperties?: boolean }
  | { type: 'array'; items: JsonSchema; minItems?: number; maxItems?: number; description?: string }
  | { type: 'string'; enum?: string[]; description?: string; maxLength?: number }
  | { type: 'number' | 'integer'; minimum?: number; maximum?: number; description?: string }
  | { type: 'boolean'; description?: string };

export const jsonSchemaSchema: z.ZodType<JsonSchema> = z.lazy(() =>
  z.discriminatedUnion('type', [
    z
      .object({
        type: z.literal('object'),
        properties: z.record(z.string().min(1), jsonSchemaSchema),
        required: z.array(z.string()).optional(),
        description: z.string().optional(),
        additionalProperties: z.boolean().optional(),
      })
      .strict()
      .refine((s) => (s.required ?? []).every((r) => r in s.properties), { message: 'every "required" name must be a property', path: ['required'] }),
    z
      .object({
        type: z.literal('array'),
        items: jsonSchemaSchema,
        minItems: z.number().int().min(0).optional(),
        maxItems: z.number().int().min(1).optional(),
        description: z.string().optional(),
      })
      .strict(),
    z
      .object({ type: z.literal('string'), enum: z.array(z.string()).min(1).optional(), description: z.string().optional(), maxLength: z.number().int().min(1).optional() })
      .strict(),
    z
      .object({ type: z.enum(['number', 'integer']), minimum: z.number().optional(), maximum: z.number().optional(), description: z.string().optional() })
      .strict(),
    z.object({ type: z.literal('boolean'), description: z.string().optional() }).strict(),
  ]),
);

/** First mismatch between `value` and `schema` as "path: problem", or null when it conforms. */
export function checkJson(schema: JsonSchema, value: unknown, path = '$'): string | null {
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${path}: expected an object`;
      const record = value as Record<string, unknown>;
      for (const name of schema.required ?? []) {
        if (!(name in record)) return `${path}.${name}: is required`;
      }
      for (const [name, child] of Object.entries(schema.properties)) {
        if (name in record) {
          const problem = checkJson(child, record[name], `${path}.${name}`);
          if (problem) return problem;
        }
      }
      return null;
    }
    case 'array': {
      if (!Array.isArray(value)) return `${path}: expected an array`;
      if (schema.minItems !== undefined && value.length < schema.minItems) return `${path}: needs at least ${schema.minItems} items`;
      for (let i = 0; i < value.length; i++) {
        const problem = checkJson(schema.items, value[i], `${path}[${i}]`);
        if (problem) return problem;
      }
      return null;
    }
    case 'string':
      if (typeof value !== 'string') return `${path}: expected a string`;
      if (schema.enum && !schema.enum.includes(value)) return `${path}: must be one of ${schema.enum.join(', ')}`;
      return null;
    case 'number':
    case 'integer':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `${path}: expected a number`;
      if (schema.type === 'integer' && !Number.isInteger(value)) return `${path}: expected an integer`;
      if (schema.minimum !== undefined && value < schema.minimum) return `${path}: must be at least ${schema.minimum}`;
      if (schema.maximum !== undefined && value > schema.maximum) return `${path}: must be at most ${schema.maximum}`;
      return null;
    case 'boolean':
      return typeof value === 'boolean' ? null : `${path}: expected true or false`;
  }
}

/**
 * The schema as OpenAI's strict structured output wants it: every object lists all
 * its properties as required and forbids others.
 */
export function toStrictSchema(schema: JsonSchema): Record<string, unknown> {
  switch (schema.type) {
    case 'object':
      return {
        type: 'object',
        ...(schema.description ? { description: schema.description } : {}),
        properties: Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, toStrictSchema(v)])),
        required: Object.keys(schema.properties),
        additionalProperties: false,
      };
    case 'array':
      return { type: 'array', ...(schema.description ? { description: schema.description } : {}), items: toStrictSchema(schema.items) };
    default: {
      // Strict mode refuses bounds keywords on some models; the output check enforces them.
      const { minimum: _min, maximum: _max, maxLength: _len, ...rest } = schema as Record<string, unknown>;
      return rest;
    }
  }
}
