/**
 * Sender-constrained access tokens, when the app turns them on (`dpop`, `mtls`): the credentials of a request
 * (`Authorization: Bearer` as before, or `Authorization: DPoP` with a `DPoP` proof), the proof checked before the
 * token (a bad proof never reaches the AS), then the token validated as usual (the cache keeps the AS's answer, never
 * the proof), then bound: `cnf.jkt` to the proof's key (RFC 9449 §4.3 step 12), `cnf.x5t#S256` to the client
 * certificate (RFC 8705 §3), and last the proof's `jti` claimed once. Built only when a feature is on: with both off
 * the guard never reaches this file.
 */
import { timingSafeEqual } from 'node:crypto';
import { InvalidDpopProofError, InvalidRequestError, InvalidTokenError, MissingCredentialsError } from '../errors.js';
import type { ResourceServerPrincipal } from '../principal.js';
import {
  headerLineCount,
  B64TOKEN,
  type CredentialCarrier,
  extractBearerToken,
  hasAccessTokenParameter,
  queryOf,
  MAX_TOKEN_LENGTH,
} from './bearer-token.js';
import {
  DpopKeyCache,
  type DpopProofRules,
  normalizeHtu,
  type VerifiedDpopProof,
  verifyDpopProof,
} from './dpop-proof.js';
import type { DpopReplayCache } from './dpop-replay-cache.js';
import type { CredentialScheme } from './error-response.js';
import type { CertificateCarrier, ClientCertificates } from './mtls-certificate.js';

/** What the sender constraints read of an Express or Fastify request. */
export type ConstrainedRequest = CredentialCarrier &
  CertificateCarrier & {
    method?: string;
    originalUrl?: string;
    url?: string;
    protocol?: string;
    raw?: { rawHeaders?: string[]; url?: string; socket?: unknown };
  };

export interface SenderConstraintSettings {
  /** DPoP on: how proofs are judged, and whether a Bearer request is still accepted. */
  readonly dpop?: DpopProofRules & { readonly required: boolean; readonly replay: DpopReplayCache };
  /** mTLS on: where the client certificate comes from. */
  readonly certificates?: ClientCertificates;
  /** The origin clients call this API at (htu); undefined: the request's own. */
  readonly publicOrigin?: string;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

export interface Credentials {
  readonly token: string;
  readonly scheme: CredentialScheme;
}

const DPOP_SCHEME = /^dpop(?=\s|$)/i;
/** RFC 9110 §7.2 Host = uri-host [ ":" port ]: a reg-name or an IP literal, nothing that could carry a path. */
const HOST_HEADER = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

export class SenderConstraints {
  private readonly now: () => number;
  private readonly keys = new DpopKeyCache();

  constructor(private readonly settings: SenderConstraintSettings) {
    this.now = settings.now ?? (() => Date.now());
  }

  /** The scheme the request's credentials use: its challenge answers in it. */
  schemeOf(request: CredentialCarrier): CredentialScheme {
    const header = request.headers.authorization;
    return this.settings.dpop !== undefined && typeof header === 'string' && DPOP_SCHEME.test(header)
      ? 'DPoP'
      : 'Bearer';
  }

  /**
   * The access token and its scheme. `Bearer` is read by the bearer parser as always (refused as no credentials when
   * DPoP is required); `DPoP` (with DPoP on) by the same rules: header only, one `Authorization`, RFC 6750 token68.
   */
  credentialsOf(request: CredentialCarrier): Credentials {
    if (this.schemeOf(request) === 'DPoP') return { token: this.dpopToken(request), scheme: 'DPoP' };
    if (this.settings.dpop?.required === true) {
      extractBearerToken(request); // malformed bearer credentials are still a 400
      throw new MissingCredentialsError('a bearer token where DPoP is required');
    }
    return { token: extractBearerToken(request), scheme: 'Bearer' };
  }

  private dpopToken(request: CredentialCarrier): string {
    if (hasAccessTokenParameter(queryOf(request)) || hasAccessTokenParameter(request.body)) {
      throw new InvalidRequestError('the request carries an access token in more than one place');
    }
    if (headerLineCount(request, 'authorization') > 1) {
      throw new InvalidRequestError('the request carries more than one Authorization header');
    }
    const header = request.headers.authorization as string;
    if (header.length > 4 && header.charCodeAt(4) !== 32) throw new InvalidRequestError('the DPoP token is malformed');
    let start = 5;
    while (header.charCodeAt(start) === 32) start++;
    const token = header.slice(start);
    if (token === '') throw new InvalidRequestError('the DPoP token is empty');
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidRequestError('the DPoP token is too long');
    if (!B64TOKEN.test(token)) throw new InvalidRequestError('the DPoP token is malformed');
    return token;
  }

  /**
   * The principal of a request whose token is validated by `validate` (the route's call of the TokenValidator), once
   * its proof and its bindings hold. Throws the coded error of the first check that fails.
   */
  async authenticate(
    request: ConstrainedRequest,
    validate: (token: string) => ResourceServerPrincipal | Promise<ResourceServerPrincipal>,
    /** The request's credentials when the caller has already read them (`credentialsOf`). */
    credentials: Credentials = this.credentialsOf(request),
  ): Promise<ResourceServerPrincipal> {
    const { token, scheme } = credentials;
    const proof = scheme === 'DPoP' ? await this.verifyProof(request, token) : undefined;
    const principal = await validate(token);
    const cnf = principal.claims.cnf;
    const jkt = cnf?.jkt;
    if (jkt !== undefined) {
      if (proof === undefined) throw new InvalidTokenError('a DPoP-bound token was presented as a bearer token');
      if (jkt !== proof.thumbprint)
        throw new InvalidTokenError('the DPoP proof is signed by another key than the token is bound to');
    } else if (proof !== undefined) {
      throw new InvalidTokenError('the token is not DPoP-bound, but was presented with the DPoP scheme');
    }
    const x5t = cnf?.['x5t#S256'];
    if (x5t !== undefined) this.assertCertificate(request, x5t as string);
    if (proof !== undefined && !(await this.settings.dpop!.replay.firstUse(proof.thumbprint, proof.jti))) {
      throw new InvalidDpopProofError('DPoP proof refused: its jti was already used');
    }
    return principal;
  }

  private async verifyProof(request: ConstrainedRequest, token: string): Promise<VerifiedDpopProof> {
    const rules = this.settings.dpop!;
    const count = headerLineCount(request, 'dpop');
    if (count === 0) throw new InvalidDpopProofError('DPoP proof refused: the request carries none');
    const proof = request.headers.dpop;
    if (count > 1 || typeof proof !== 'string') {
      throw new InvalidDpopProofError('DPoP proof refused: the request carries more than one');
    }
    const url = this.urlOf(request);
    if (url === undefined) throw new InvalidDpopProofError('DPoP proof refused: the URL of this request is unknown');
    const target = { method: request.method ?? '', url, accessToken: token };
    return verifyDpopProof(proof, target, rules, this.now(), this.keys);
  }

  /** This request's URL as a client names it (`publicOrigin`, else the request's own origin), normalised for `htu`. */
  private urlOf(request: ConstrainedRequest): string | undefined {
    const path = request.originalUrl ?? request.url ?? request.raw?.url;
    if (typeof path !== 'string' || !path.startsWith('/')) return undefined;
    let origin = this.settings.publicOrigin;
    if (origin === undefined) {
      const host = request.headers.host;
      // A Host header holding '/', '?', '#', '@' or '\\' would put the attacker's path into the URL htu is compared with.
      if (typeof host !== 'string' || !HOST_HEADER.test(host)) return undefined;
      const protocol =
        typeof request.protocol === 'string'
          ? request.protocol
          : (request.socket as { encrypted?: boolean } | undefined)?.encrypted === true
            ? 'https'
            : 'http';
      origin = `${protocol}://${host}`;
    }
    return normalizeHtu(`${origin}${path}`);
  }

  private assertCertificate(request: ConstrainedRequest, expected: string): void {
    const thumbprint = this.settings.certificates?.thumbprintOf(request);
    if (thumbprint === undefined) {
      throw new InvalidTokenError('the token is bound to a client certificate and the request presented none');
    }
    const a = Buffer.from(thumbprint);
    const b = Buffer.from(expected);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new InvalidTokenError('the token is bound to another client certificate');
    }
  }
}
