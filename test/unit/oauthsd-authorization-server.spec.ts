/**
 * The OAuthSD-like test AS answers as OAuthSD was measured to: no client authentication, plain RFC 7662 JSON without
 * client_id, scope or token_type, `active: false` for an expired token, 400 invalid_request / invalid_token for what
 * it did not issue, 400 invalid_grant for a `requester_ip` outside the client's subnet or not dotted IPv4, and a Basic
 * header read as a second token.
 */
import { request } from 'undici';
import {
  startOAuthSdAuthorizationServer,
  type OAuthSdAuthorizationServer,
} from '../support/oauthsd-authorization-server.js';

let as: OAuthSdAuthorizationServer;

beforeAll(async () => {
  as = await startOAuthSdAuthorizationServer({ clients: [{ clientId: 'sp-a', subnet: '127.0.0.2/32' }] });
});
afterAll(() => as.close());

async function introspect(
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string | undefined; body: unknown }> {
  const response = await request(as.introspectionEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return {
    status: response.statusCode,
    type: response.headers['content-type'] as string | undefined,
    body: await response.body.json(),
  };
}

describe('the OAuthSD-like test AS', () => {
  it('an active token, no client authentication: 200 {active, iss, exp, sub, aud} and nothing else', async () => {
    const token = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-a' });
    const { status, type, body } = await introspect({ token });
    expect({ status, type }).toEqual({ status: 200, type: 'application/json; charset=utf-8' });
    expect(body).toEqual({ active: true, iss: as.issuer, exp: expect.any(Number), sub: 'alice', aud: 'sp-a' });
  });

  it('an expired token: 200 active false', async () => {
    const token = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-a', expiresInSeconds: -10 });
    expect(await introspect({ token })).toMatchObject({ status: 200, body: { active: false, sub: 'alice' } });
  });

  it.each([
    ['not a JWT', async () => 'opaque-junk', { error: 'invalid_request', error_description: 'JWT is malformed' }],
    [
      'a JWT it did not sign',
      () => as.forgeAccessToken({ sub: 'alice', clientId: 'sp-a' }),
      { error: 'invalid_token', error_description: 'JWT not verified' },
    ],
  ])('%s: 400', async (_name, make, error) => {
    expect(await introspect({ token: await make() })).toMatchObject({ status: 400, body: error });
  });

  it.each([
    ['127.0.0.2', 200],
    ['127.0.0.3', 400],
    ['::ffff:127.0.0.2', 400],
    ['::1', 400],
  ])('requester_ip %s: %d', async (requesterIp, status) => {
    const token = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-a' });
    const answer = await introspect({ token, requester_ip: requesterIp });
    expect(answer.status).toBe(status);
    if (status === 400) expect(answer.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid IP' });
  });

  it('a Basic header (client_secret_basic) is read as a second token: 400 invalid_request', async () => {
    const token = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-a' });
    const basic = `Basic ${Buffer.from('rs:secret').toString('base64')}`;
    expect(await introspect({ token }, { authorization: basic })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
  });

  it('records each introspection request', async () => {
    const before = as.introspectionRequests.length;
    await introspect({ token: 'x', requester_ip: '127.0.0.2' });
    expect(as.introspectionRequests.length).toBe(before + 1);
    expect(Object.fromEntries(as.introspectionRequests.at(-1)!.form)).toEqual({
      token: 'x',
      requester_ip: '127.0.0.2',
    });
  });
});
