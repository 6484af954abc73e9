import type { CreateTriggerBody, Trigger } from '../../shared/hooks.js';
import type { AuthUser } from '../auth/types.js';
import type { Part } from '../lifecycle/part.js';

export { SignatureError } from './verify.js';

/** What a verified delivery led to. */
export type Received =
  | { kind: 'run'; runId: string; created: boolean }
  /** Slack's url_verification: answer with the challenge. */
  | { kind: 'challenge'; challenge: string }
  /** A delivery that starts nothing (GitHub's ping). */
  | { kind: 'ignored'; reason: string };

export interface Triggers extends Part {
  create(body: CreateTriggerBody, actor: AuthUser): Promise<{ trigger: Trigger; secret: string }>;
  list(): Promise<Trigger[]>;
  get(id: string): Promise<Trigger>;
  setEnabled(id: string, enabled: boolean, actor: AuthUser): Promise<Trigger>;
  remove(id: string, actor: AuthUser): Promise<void>;
  /** Verifies `raw` against the trigger's scheme before parsing it, then starts (or finds) its run. */
  receive(id: string, headers: Record<string, string | string[] | undefined>, raw: Buffer, contentType: string | undefined): Promise<Received>;
}
