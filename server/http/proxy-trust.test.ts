import type { IncomingMessage } from 'node:http';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { captureLogs, startTestApp, type TestApp } from '../../test/helpers.js';
import { loadConfig } from '../config/config.js';
import { createProxyTrust } from './proxy-trust.js';

const fakeReq = (peer: string, xff?: string) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('proxy trust', () => {
  it('trusts only a loopback proxy by default', () => {
    const trust = createProxyTrust(loadConfig({}).server.trustProxy);
    expect(trust.clientAddress(fakeReq('203.0.113.7', '1.2.3.4'))).toBe('203.0.113.7');
    expect(trust.clientAddress(fakeReq('127.0.0.1', '198.51.100.1'))).toBe('198.51.100.1');
    expect(trust.clientAddress(fakeReq('::ffff:127.0.0.1', '198.51.100.1'))).toBe('198.51.100.1');
    // A client cannot pose as the loopback proxy by writing loopback into the header.
    expect(trust.clientAddress(fakeReq('127.0.0.1', '198.51.100.9, 127.0.0.1'))).toBe('198.51.100.9');
  });

  it('walks a hop count from the right and takes only IP addresses', () => {
    const trust = createProxyTrust(loadConfig({ TRUST_PROXY: '1' }).server.trustProxy);
    expect(trust.clientAddress(fakeReq('10.0.0.1', '6.6.6.6, 198.51.100.1'))).toBe('198.51.100.1');
    expect(trust.clientAddress(fakeReq('10.0.0.1', '<script>alert(1)</script>'))).toBe('10.0.0.1');
    expect(trust.clientAddress(fakeReq('10.0.0.1', ''))).toBe('10.0.0.1');
    const two = createProxyTrust(loadConfig({ TRUST_PROXY: '2' }).server.trustProxy);
    expect(two.clientAddress(fakeReq('10.0.0.1', '6.6.6.6, 198.51.100.1, 10.0.0.2'))).toBe('198.51.100.1');
    expect(two.clientAddress(fakeReq('10.0.0.1', '6.6.6.6, x, 10.0.0.2'))).toBe('10.0.0.2');
    expect(createProxyTrust(loadConfig({ TRUST_PROXY: '0' }).server.trustProxy).clientAddress(fakeReq('10.0.0.1', '1.1.1.1'))).toBe('10.0.0.1');
  });

  it('accepts addresses, CIDRs and range names, and refuses anything else', () => {
    const trust = createProxyTrust(loadConfig({ TRUST_PROXY: '192.0.2.0/24, uniquelocal' }).server.trustProxy);
    expect(trust.clientAddress(fakeReq('192.0.2.9', '203.0.113.1'))).toBe('203.0.113.1');
    expect(trust.clientAddress(fakeReq('172.20.1.1', '10.1.1.1, 203.0.113.2, 10.0.0.3'))).toBe('203.0.113.2');
    expect(trust.clientAddress(fakeReq('198.51.100.1', '203.0.113.1'))).toBe('198.51.100.1');
    for (const bad of ['true', '11', '10.0.0.0/33', 'example.com', 'loopback,x', '10.0.0.1/8/1']) {
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
    }
  });
});

describe('forged X-Forwarded-For', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  const logs = captureLogs();
  beforeAll(async () => {
    // One proxy hop is trusted: the proxy's own entry must still be an address.
    t = await startTestApp({ env: { RATE_LIMIT_MAX: '5', TRUST_PROXY: '1', LOG_LEVEL: 'info' }, logger: logs.logger });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('does not get a fresh rate limit per forged address, nor write it into the log', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await request(t.url).get('/api/agents').set('X-Forwarded-For', i === 0 ? '<script>x</script>' : `10.1.0.${i}, not-an-address-${i}`);
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429, 429, 429, 429]);
    const addresses = logs.lines().flatMap((l) => ((l.req as { remoteAddress?: string } | undefined)?.remoteAddress ? [(l.req as { remoteAddress: string }).remoteAddress] : []));
    expect(addresses.length).toBeGreaterThan(0);
    expect(new Set(addresses)).toEqual(new Set(['127.0.0.1']));
    expect(logs.text()).not.toContain('<script>');
  });
});

describe('X-Forwarded-Host on a WebSocket handshake', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  beforeAll(async () => {
    t = await startTestApp({ env: { TRUST_PROXY: '0' } });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  const handshake = (headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${t.port}/ws`, { headers });
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      ws.once('error', reject);
    });

  it('is not believed from a peer that is not a trusted proxy', async () => {
    expect(await handshake({ Origin: 'https://evil.example', 'X-Forwarded-Host': 'evil.example' })).toBe(403);
    expect(await handshake({ Origin: `http://127.0.0.1:${t.port}` })).toBe(101);
  });
});
