import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/*
 * Trigger secrets at rest: AES-256-GCM under a key derived from HOOKS_ENCRYPTION_KEY
 * (or JWT_SECRET, or a generated key stored in webhook_settings when neither is set).
 * Stored as `v1:<iv>:<tag>:<ciphertext>` (base64url). The API never returns them.
 */

const keyOf = (material: string) => createHash('sha256').update(`agentry-trigger-secrets:${material}`).digest();

export function encryptSecret(material: string, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(material), iv);
  const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join(':');
}

export function decryptSecret(material: string, stored: string): string {
  const [version, iv, tag, data] = stored.split(':');
  if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('trigger secret: unknown format');
  const decipher = createDecipheriv('aes-256-gcm', keyOf(material), Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
}
