import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs, startTestApp, type TestApp } from '../../test/helpers.js';
import { redactUrl } from '../log.js';

/** Secrets never reach the log, whether logged by shape or by a whole running app. */

const SECRET = 'r'.repeat(40);
const ADMIN_PASSWORD = 'redaction-admin-PW-7f3a';

describe('log redaction', () => {
  it('blanks authorization headers, cookies, passwords, tokens and API keys wherever they are usually logged', () => {
    const logs = captureLogs();
    const secrets = ['Bearer s3cr3t-bearer', 'agentry_session=s3cr3t-cookie', 'hunter2-password', 's3cr3t-token', 'sk-s3cr3t-key', 'jwt-s3cr3t', 's3cr3t-set-cookie', 's3cr3t-hash'];
    logs.logger.info({ req: { headers: { authorization: secrets[0], cookie: secrets[1] } } }, 'pino-http shape');
    logs.logger.info({ res: { headers: { 'set-cookie': secrets[6] } } }, 'response shape');
    logs.logger.info({ headers: { authorization: secrets[0], 'x-api-key': secrets[4] } }, 'bare headers');
    logs.logger.info({ body: { username: 'root', password: secrets[2] } }, 'request body');
    logs.logger.info({ user: { username: 'root', password: secrets[2], passwordHash: secrets[7] } }, 'nested user');
    logs.logger.info({ password: secrets[2], token: secrets[3], apiKey: secrets[4] }, 'top level');
    logs.logger.info({ result: { session: { token: secrets[3] } } }, 'two levels down');
    logs.logger.info({ config: { auth: { jwtSecret: secrets[5] }, openai: { apiKey: secrets[4] } } }, 'config');
    logs.logger.info({ env: { OPENAI_API_KEY: secrets[4], JWT_SECRET: secrets[5] } }, 'environment');
    logs.logger.info({ err: { config: { headers: { Authorization: secrets[0] } } } }, 'SDK error shape');
    const text = logs.text();
    expect(logs.lines()).toHaveLength(10);
    for (const secret of secrets) expect(text, secret).not.toContain(secret.replace(/^Bearer /, ''));
    expect(text).toContain('[redacted]');
    expect(text).toContain('"username":"root"'); // redaction is by path, not a blanket wipe
  });

  describe('a running app', () => {
    let t: TestApp & { dropDatabase?: () => Promise<void> };
    const logs = captureLogs();
    beforeAll(async () => {
      t = await startTestApp({ env: { JWT_SECRET: SECRET, ADMIN_PASSWORD, LOG_LEVEL: 'debug', METRICS_TOKEN: 'metrics-s3cr3t-token' }, logger: logs.logger });
    });
    afterAll(async () => {
      await t.close();
      await t.dropDatabase?.();
    });

    it('logs logins, failures and user changes without the password, the token or the secret', async () => {
      const login = await request(t.url).post('/api/auth/login').send({ username: 'admin', password: ADMIN_PASSWORD });
      expect(login.status).toBe(200);
      const token = login.body.token as string;
      await request(t.url).post('/api/auth/login').send({ username: 'admin', password: 'wrong-PW-bad-9c1d' }).expect(401);
      await request(t.url).post('/api/users').set('Authorization', `Bearer ${token}`).send({ username: 'newbie', password: 'newbie-PW-5e2b', role: 'viewer' }).expect(201);
      await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${token}`).expect(200);
      await request(t.url).get(`/api/nothing-here?token=${token}`).set('Authorization', `Bearer ${token}`).expect(404);
      await request(t.url).get('/metrics').set('Authorization', 'Bearer metrics-s3cr3t-token').expect(200);
      const text = logs.text();
      expect(text).toMatch(/"msg":"login"/);
      expect(text).toMatch(/login failed/);
      expect(text).toMatch(/user created/);
      expect(text).toMatch(/nothing-here\?token=\[redacted\]/);
      for (const secret of [ADMIN_PASSWORD, 'wrong-PW-bad-9c1d', 'newbie-PW-5e2b', token, token.split('.')[2]!, SECRET, 'metrics-s3cr3t-token']) {
        expect(text, 'a secret reached the log').not.toContain(secret);
      }
    });
  });
});

describe('redactUrl', () => {
  it.each([
    ['/ws?token=abc.def.ghi', '/ws?token=[redacted]'],
    ['/ws?%74oken=abc', '/ws?%74oken=[redacted]'],
    ['/ws?x;token=abc', '/ws?x;token=[redacted]'],
    ['/ws?a=1;access_token=abc&b=2', '/ws?a=1;access_token=[redacted]&b=2'],
    ['/x?API%5FKEY=abc', '/x?API%5FKEY=[redacted]'],
    ['/x?%E0=1&password=abc', '/x?%E0=1&password=[redacted]'],
    ['/x?session%3Dabc', '/x?[redacted]'],
    ['/x?limit=5&after=3', '/x?limit=5&after=3'],
    ['/x', '/x'],
  ])('%s → %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});
