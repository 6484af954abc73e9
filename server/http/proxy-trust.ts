import type { IncomingMessage } from 'node:http';
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

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) as `10.0.0.1`, so one client has one key. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

export interface ProxyTrust {
  /** Whether the address at `hop` (0 = the socket's peer) is a proxy whose forwarded headers count. */
  trusts(address: string | undefined, hop: number): boolean;
  /** The socket's peer is a trusted proxy: its X-Forwarded-Host and -Proto may be believed. */
  peerTrusted(req: IncomingMessage): boolean;
  /**
   * The client's address: the rightmost X-Forwarded-For entry not written by a trusted proxy.
   * An entry that is not an IP address ends the walk (a proxy never writes one), so whatever
   * a client puts there can neither pick its own address nor reach the logs.
   */
  clientAddress(req: IncomingMessage): string;
}

export function createProxyTrust(setting: TrustProxySetting): ProxyTrust {
  let trusts: (address: string | undefined, hop: number) => boolean;
  if ('hops' in setting) {
    const hops = setting.hops;
    trusts = (_address, hop) => hop < hops;
  } else {
    const list = new net.BlockList();
    for (const entry of setting.ranges) {
      for (const range of parseTrustEntry(entry) ?? []) list.addSubnet(range.address, range.prefix, range.family);
    }
    trusts = (address) => {
      if (!address) return false;
      const a = normalizeAddress(address);
      const version = net.isIP(a);
      return version !== 0 && list.check(a, version === 4 ? 'ipv4' : 'ipv6');
    };
  }
  const peer = (req: IncomingMessage) => normalizeAddress(req.socket.remoteAddress ?? '');
  return {
    trusts,
    peerTrusted: (req) => trusts(req.socket.remoteAddress, 0),
    clientAddress(req) {
      let client = peer(req);
      if (!trusts(client, 0)) return client;
      const header = req.headers['x-forwarded-for'];
      if (header === undefined) return client;
      const forwarded = (Array.isArray(header) ? header.join(',') : header).split(',');
      for (let i = forwarded.length - 1, hop = 0; i >= 0; i--, hop++) {
        if (!trusts(client, hop)) break;
        const next = normalizeAddress(forwarded[i]!.trim());
        if (net.isIP(next) === 0) break;
        client = next;
      }
      return client;
    },
  };
}
