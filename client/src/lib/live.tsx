/**
 * One hub connection for the signed-in page, shared by every view through context.
 * The shared client reconnects with backoff and resumes each run topic from the
 * last seq it delivered, so views only subscribe and render.
 */
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { createWsClient, type ConnectionState, type SubscribeOptions, type Topic, type TopicEvent, type WsClient } from '../../../shared/ws-client.js';
import { useSession } from './session.js';

const LiveContext = createContext<WsClient | null>(null);

/** `identity` changes when the user does, so the socket re-authenticates with the new cookie. */
export function LiveProvider({ identity, children }: { identity: string; children: ReactNode }) {
  const [client, setClient] = useState<WsClient | null>(null);
  const { sessionEnded } = useSession();
  useEffect(() => {
    // 4401: the session expired or was ended (possibly elsewhere); the sign-in page takes over.
    const c = createWsClient({ url: '/ws', pingIntervalMs: 20_000, onUnauthorized: sessionEnded });
    setClient(c);
    return () => {
      c.close();
      setClient(null);
    };
  }, [identity, sessionEnded]);
  return <LiveContext.Provider value={client}>{children}</LiveContext.Provider>;
}

export function useLiveClient(): WsClient | null {
  return useContext(LiveContext);
}

export function useConnectionState(): ConnectionState {
  const client = useLiveClient();
  const [state, setState] = useState<ConnectionState>(client?.state ?? 'connecting');
  useEffect(() => {
    if (!client) return;
    setState(client.state);
    return client.onStateChange(setState);
  }, [client]);
  return state;
}

/**
 * Subscribes while mounted (and `enabled`). The handler may change every render;
 * the subscription does not.
 */
export function useTopic<T extends Topic>(
  topic: T | null,
  handler: (event: TopicEvent<T>) => void,
  options: Pick<SubscribeOptions, 'after' | 'onError' | 'onSubscribed'> = {},
): void {
  const client = useLiveClient();
  const handlerRef = useRef(handler);
  handlerRef.current = handler;
  const optionsRef = useRef(options);
  optionsRef.current = options;
  const after = options.after;
  useEffect(() => {
    if (!client || !topic) return;
    return client.subscribe(topic, (event) => handlerRef.current(event), {
      after,
      onError: (e) => optionsRef.current.onError?.(e),
      onSubscribed: () => optionsRef.current.onSubscribed?.(),
    });
  }, [client, topic, after]);
}
