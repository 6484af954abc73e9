import type { Part } from '../lifecycle/part.js';
import type { RunCallbacks } from '../queue/types.js';

export type { CallbackDelivery } from '../../shared/hooks.js';

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
