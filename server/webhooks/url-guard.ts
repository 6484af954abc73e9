import dns from 'node:dns';
import net from 'node:net';
import { ValidationError } from '../domain/errors.js';

/*
 * Callbacks go wherever a user says, so they follow the SSRF policy of HTTP tools
 * (docs/SECURITY.md): link-local and metadata addresses never; and, unless
 * WEBHOOK_ALLOW_PRIVATE, no loopback or private addresses either (production's
 * default). Checked on the literal URL at submit and again for every address a name
 * resolves to at connect time (DNS rebinding included).
 */

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'metadata.azure.com']);

const never = new net.BlockList();
never.addSubnet('169.254.0.0', 16, 'ipv4');
never.addSubnet('0.0.0.0', 8, 'ipv4');
never.addSubnet('fe80::', 10, 'ipv6');
never.addAddress('fd00:ec2::254', 'ipv6');
never.addAddress('::', 'ipv6');

const privateRanges = new net.BlockList();
privateRanges.addSubnet('127.0.0.0', 8, 'ipv4');
privateRanges.addSubnet('10.0.0.0', 8, 'ipv4');
privateRanges.addSubnet('172.16.0.0', 12, 'ipv4');
privateRanges.addSubnet('192.168.0.0', 16, 'ipv4');
privateRanges.addSubnet('100.64.0.0', 10, 'ipv4');
privateRanges.addAddress('::1', 'ipv6');
privateRanges.addSubnet('fc00::', 7, 'ipv6');

/** Why `address` may not be called, or null when it may. */
export function refusedAddress(address: string, allowPrivate: boolean): string | null {
  let addr = address.replace(/^\[|\]$/g, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
  if (mapped?.[1]) addr = mapped[1];
  const family = net.isIP(addr);
  if (family === 0) return `${address} is not an address`;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (never.check(addr, type)) return `${address} is a link-local or metadata address`;
  if (!allowPrivate && privateRanges.check(addr, type)) return `${address} is a private or loopback address (WEBHOOK_ALLOW_PRIVATE)`;
  return null;
}

/** Checks a callback URL as written; throws ValidationError. Returns the parsed URL. */
export function checkCallbackUrl(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ValidationError('callbackUrl: not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ValidationError('callbackUrl: only http and https URLs are allowed');
  if (url.username || url.password) throw new ValidationError('callbackUrl: credentials in the URL are not allowed');
  const host = url.hostname.toLowerCase();
  if (METADATA_HOSTS.has(host)) throw new ValidationError('callbackUrl: metadata hosts are never called');
  if (!allowPrivate && (host === 'localhost' || host.endsWith('.localhost'))) throw new ValidationError('callbackUrl: loopback hosts are not allowed (WEBHOOK_ALLOW_PRIVATE)');
  if (net.isIP(host.replace(/^\[|\]$/g, ''))) {
    const why = refusedAddress(host, allowPrivate);
    if (why) throw new ValidationError(`callbackUrl: ${why}`);
  }
  return url;
}

/** A `lookup` for http.request that refuses what refusedAddress refuses, at connect time. */
export function guardedLookup(allowPrivate: boolean): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses as dns.LookupAddress[];
      for (const a of list) {
        const why = refusedAddress(a.address, allowPrivate);
        if (why) return callback(Object.assign(new Error(`refusing to connect: ${why}`), { code: 'EFORBIDDEN' }), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}
