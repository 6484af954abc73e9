/**
 * A piece of the app with a life of its own (queue, hub, agents…). The composition
 * root starts parts in order, asks them for health, and stops them in reverse.
 */
export interface Part {
  readonly name: string;
  start?(): Promise<void>;
  /** `deadline` aborts when the shutdown timeout has passed: finish or hand back work by then. */
  stop?(deadline: AbortSignal): Promise<void>;
  /** Cheap and synchronous: goes into `/health` under `checks[healthKey ?? name]`. */
  health?(): unknown;
  /** The key of health() in `/health`'s checks when it is not the part's name (docs/API.md). */
  readonly healthKey?: string;
  /** False keeps `/ready` at 503 with this part's name as the reason. */
  ready?(): boolean;
}
