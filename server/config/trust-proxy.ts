import net from 'node:net';

/**
 * Which peers may speak for the client through X-Forwarded-* headers (TRUST_PROXY):
 * a hop count (the platform puts that many proxies in front of every request), or a
 * list of proxy addresses, CIDR ranges and the names `loopback`, `linklocal`,
 * `uniquelocal` (private ranges).
 */
export type TrustProxySetting = { readonly hops: number } | { readonly ranges: readonly string[] };

export const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** `loopback`, an address or an address/prefix; undefined when it is none of them. */
export function parseTrustEntry(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' }[] | undefined {
  const named = NAMED_RANGES[entry];
  if (named) return named.flatMap((range) => parseTrustEntry(range) ?? []);
  const [address, prefixText, extra] = entry.split('/');
  const version = net.isIP(address ?? '');
  if (version === 0 || extra !== undefined) return undefined;
  const bits = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= bits)) return undefined;
  return [{ address: address!, prefix, family: version === 4 ? 'ipv4' : 'ipv6' }];
}
