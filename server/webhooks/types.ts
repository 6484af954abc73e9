import type { Part } from '../lifecycle/part.js';
import type { RunCallbacks } from '../queue/types.js';

/** What a receiver sees of one run's callback (GET /api/runs/:id/deliveries). */
export interface CallbackDelivery {
  runId: string;
  url: string;
  /** waiting (run not final) → pending (attempts due) → delivered | failed. */
  state: 'waiting' | 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  log: { attempt: number; at: string; statusCode: number | null; error: string | null; durationMs: number }[];
}

/** Secrets the hooks share: the callback signing secret and the key for trigger secrets at rest. */
export interface HookSecrets {
  /** `whsec_…` (Standard Webhooks). */
  signingSecret: string;
  /** Key material for AES-256-GCM (hashed to 32 bytes by its user). */
  encryptionKey: string;
}

/** The webhooks part: outbound, signed, durable callbacks when runs end. */
export interface Webhooks extends Part, RunCallbacks {
  /** Loaded at start (generated and stored once when not configured). */
  secrets(): Promise<HookSecrets>;
}
