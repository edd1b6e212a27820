/**
 * `clientAuthMethod: 'none'` against an AS that requires client authentication, as RFC 7662 §2.1 says it must: the real
 * oidc-provider refuses the unauthenticated introspection (401 invalid_client). Every bearer request then gets a 503
 * (the token was not checked, never called bad), the refusal counts as an outage (it does not depend on the token),
 * and the log says what to set, without a token or a secret.
 */
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
  type ResourceServerProfile,
} from '../support/real-authorization-server.js';
import { ADAPTERS } from '../support/test-app.js';
import { bearer, captureNestLogs, expectErrorAnswer, get, LOG_LEVELS, linesContaining } from './e2e-helpers.js';

const TIMEOUT = 60_000;
const REFUSED =
  'warn token not checked: ERR_AUTHORIZATION_SERVER_UNAVAILABLE: introspection answered HTTP 401, error invalid_client: ' +
  'the AS requires client authentication, and OIDC_RS_CLIENT_AUTH_METHOD is none (set it and OIDC_RS_CLIENT_SECRET as ' +
  'the AS registered this RS) ResourceServer';

describe.each(ADAPTERS)("clientAuthMethod 'none' at the real oidc-provider (%s)", (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let logs: ReturnType<typeof captureNestLogs>;

  beforeAll(async () => {
    logs = captureNestLogs();
    const profiles: ResourceServerProfile[] = ['json', 'rsa-oaep+es256'];
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      logger: LOG_LEVELS,
      resourceServers: profiles.map((profile) => ({
        clientId: `rs-none-${profile.replace(/\W+/g, '-')}`,
        profile,
        // The AS registered a secret; this RS does not send it.
        options: { clientAuthMethod: 'none', clientSecret: undefined, circuitBreaker: { failureThreshold: 2 } },
      })),
    });
  }, TIMEOUT);

  afterAll(async () => {
    await fixture?.close();
    logs?.restore();
  });

  it.each(['rs-none-json', 'rs-none-rsa-oaep-es256'])(
    '%s: a real token gets 503, the log names the setting to fix, and the refusal opens the circuit (an outage)',
    async (clientId) => {
      const rs = fixture.apps.get(clientId)!;
      const token = await fixture.mint('alice');
      const before = fixture.as.introspectionRequests;
      const mark = logs.lines.length;
      for (let i = 0; i < 3; i++) expectErrorAnswer(await get(`${rs.url}/documents`, bearer(token)), 503, undefined);
      // Two refusals open the circuit: the third request is answered without asking the AS.
      expect(fixture.as.introspectionRequests - before).toBe(2);
      const lines = logs.lines.slice(mark);
      expect(lines.filter((line) => line === REFUSED)).toHaveLength(2);
      expect(linesContaining(lines, [token, rs.clientSecret])).toEqual([]);
    },
    TIMEOUT,
  );

  it('the start-up log said what clientAuthMethod none gives up', () => {
    expect(logs.lines).toContain(
      'warn clientAuthMethod is none: the AS is asked without client authentication (RFC 7662 §2.1 requires some), ' +
        'so it cannot tell this RS from anyone scanning for tokens ResourceServer',
    );
  });
});
