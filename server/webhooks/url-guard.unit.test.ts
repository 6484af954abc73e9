import { describe, expect, it } from 'vitest';
import { checkCallbackUrl, refusedAddress } from './url-guard.js';

describe('callback URL policy', () => {
  it('never link-local or metadata; private and loopback only when allowed', () => {
    expect(refusedAddress('169.254.169.254', true)).toMatch(/metadata/);
    expect(refusedAddress('::ffff:169.254.169.254', true)).toMatch(/metadata/);
    expect(refusedAddress('fd00:ec2::254', true)).toMatch(/metadata/);
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '::1', 'fd12::1', '::ffff:127.0.0.1']) {
      expect(refusedAddress(a, false), a).toMatch(/private or loopback/);
      expect(refusedAddress(a, true), a).toBeNull();
    }
    expect(refusedAddress('93.184.215.14', false)).toBeNull();
  });

  it('checks the URL as written', () => {
    expect(() => checkCallbackUrl('ftp://example.com/x', true)).toThrow(/http and https/);
    expect(() => checkCallbackUrl('https://user:pw@example.com/x', true)).toThrow(/credentials/);
    expect(() => checkCallbackUrl('http://localhost:8080/x', false)).toThrow(/loopback/);
    expect(() => checkCallbackUrl('http://[::1]/x', false)).toThrow(/private or loopback/);
    expect(() => checkCallbackUrl('http://metadata.google.internal/x', true)).toThrow(/metadata/);
    expect(checkCallbackUrl('https://hooks.example.com/agentry', false).hostname).toBe('hooks.example.com');
  });
});
