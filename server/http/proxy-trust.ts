import type { IncomingMessage } from 'node:http';
import net from 'node:net';

export { NAMED_RANGES, parseTrustEntry, type TrustProxySetting } from '../config/trust-proxy.js';
import { parseTrustEntry, type TrustProxySetting } from '../config/trust-proxy.js';

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

const TRUST_CACHE_MAX = 1024;

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
    // BlockList.check builds a SocketAddress each call (a tenth of a request's CPU under
    // load); a handful of peers and proxies ask again and again. Bounded: the addresses
    // come from X-Forwarded-For too, which anyone can fill.
    const known = new Map<string, boolean>();
    trusts = (address) => {
      if (!address) return false;
      const cached = known.get(address);
      if (cached !== undefined) return cached;
      const a = normalizeAddress(address);
      const version = net.isIP(a);
      const trusted = version !== 0 && list.check(a, version === 4 ? 'ipv4' : 'ipv6');
      if (known.size >= TRUST_CACHE_MAX) known.clear();
      known.set(address, trusted);
      return trusted;
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
