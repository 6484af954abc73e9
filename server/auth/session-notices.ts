import type { Listener } from '../db/listener.js';
import { SESSION_CHANNEL } from './sql/sessions.js';

/**
 * Calls `onNotice` on every instance when a user's or an API key's sessions change (logout,
 * password or role change, deletion, revocation): the payload is `{"u": <user or key session id>}`.
 * Returns the function that stops listening. Other parts (the hub) listen through this, not
 * auth's channel name.
 */
export function listenSessionChanges(listener: Pick<Listener, 'listen'>, onNotice: (payload: string) => void): () => void {
  return listener.listen(SESSION_CHANNEL, onNotice);
}
