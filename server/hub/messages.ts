import { z } from 'zod';
import type { RunEvent } from '../../shared/protocol.js';

/**
 * What instances tell each other over NOTIFY. One notification carries a batch
 * of items, packed up to the payload limit; an event too large to carry travels
 * by reference (runId, seq) and receivers read the stored row.
 */
export const HUB_CHANNEL = 'agentry_hub';
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; keep a margin for the envelope. */
export const NOTIFY_PAYLOAD_LIMIT = 7900;
/** An item larger than this goes by reference. */
export const INLINE_ITEM_LIMIT = 7000;

const runEventSchema = z.object({
  seq: z.number().int().min(0),
  runId: z.string().min(1).max(100),
  type: z.string().min(1).max(100),
  data: z.record(z.string(), z.unknown()),
  at: z.string().max(64),
});

const itemSchema = z.discriminatedUnion('k', [
  /** A stored event, inline. */
  z.object({ k: z.literal('e'), o: z.string(), e: runEventSchema }),
  /** A stored event by reference. */
  z.object({ k: z.literal('r'), o: z.string(), r: z.string().min(1).max(100), q: z.number().int().min(1), y: z.string().max(100).optional() }),
  /** Token deltas of one run, in order. */
  z.object({ k: z.literal('t'), o: z.string(), r: z.string().min(1).max(100), t: z.array(z.object({ q: z.number().int().min(0), d: z.record(z.string(), z.unknown()), a: z.string().max(64) })) }),
  /** A probe an instance sends itself to confirm it is listening. */
  z.object({ k: z.literal('hello'), n: z.string() }),
]);
export type HubItem = z.infer<typeof itemSchema>;

export const notificationSchema = z.object({ v: z.literal(1), s: z.string(), m: z.array(itemSchema) });
export type HubNotification = z.infer<typeof notificationSchema>;

export function eventItem(event: RunEvent, owner: string): HubItem {
  const inline: HubItem = { k: 'e', o: owner, e: event };
  if (Buffer.byteLength(JSON.stringify(inline)) <= INLINE_ITEM_LIMIT) return inline;
  return { k: 'r', o: owner, r: event.runId, q: event.seq, y: event.type };
}

/**
 * Packs items into as few payloads as fit under the limit, in order. Returns the
 * payloads and the items that cannot fit even alone (token batches too large; split upstream).
 */
export function packItems(source: string, items: HubItem[], limit = NOTIFY_PAYLOAD_LIMIT): { payloads: string[]; oversize: HubItem[] } {
  const head = `{"v":1,"s":${JSON.stringify(source)},"m":[`;
  const tail = ']}';
  const payloads: string[] = [];
  const oversize: HubItem[] = [];
  let parts: string[] = [];
  let size = Buffer.byteLength(head) + tail.length;
  for (const item of items) {
    const json = JSON.stringify(item);
    const bytes = Buffer.byteLength(json) + (parts.length > 0 ? 1 : 0);
    if (Buffer.byteLength(head) + tail.length + Buffer.byteLength(json) > limit) {
      oversize.push(item);
      continue;
    }
    if (size + bytes > limit) {
      payloads.push(head + parts.join(',') + tail);
      parts = [];
      size = Buffer.byteLength(head) + tail.length;
    }
    size += Buffer.byteLength(json) + (parts.length > 0 ? 1 : 0);
    parts.push(json);
  }
  if (parts.length > 0) payloads.push(head + parts.join(',') + tail);
  return { payloads, oversize };
}

export function parseNotification(payload: string): HubNotification | null {
  let raw: unknown;
  try {
    raw = JSON.parse(payload);
  } catch {
    return null;
  }
  const result = notificationSchema.safeParse(raw);
  return result.success ? result.data : null;
}
