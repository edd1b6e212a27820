/**
 * Extra introspection parameters (RFC 7662 §2.1 allows them): what an app may send besides the token, and the names it
 * may not use. Checked at start-up for a fixed set, on every request for a function's answer, and by the AS client
 * before it sends anything.
 */

/** The request as a guard sees it (Express's or Fastify's): what a function of `introspectionParameters` reads. */
export interface IntrospectionParameterRequest {
  /** The caller's address as the app's framework reports it (Express and Fastify apply their trust-proxy setting). */
  readonly ip?: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * A fixed set of parameters, or a function of the request returning them. (Written as a method so that an app may type
 * its parameter as its framework's request: `(request: FastifyRequest) => …`.)
 */
export type IntrospectionParameters =
  | Readonly<Record<string, string>>
  | { bivarianceHack(request: IntrospectionParameterRequest): Readonly<Record<string, string>> }['bivarianceHack'];

/** The protocol's own parameters: the token (RFC 7662 §2.1) and client authentication (RFC 6749 §2.3, RFC 7523). */
export const PROTOCOL_PARAMETERS: ReadonlySet<string> = new Set([
  'token',
  'token_type_hint',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
]);

/** The parameter `sendRequesterIp` adds (OAuthSD): the address of the RS's own caller. */
export const REQUESTER_IP_PARAMETER = 'requester_ip';

/** The names a set of extra parameters may not use: the protocol's, and `requester_ip` when the module sends it. */
export const reservedParameterNames = (sendRequesterIp: boolean): ReadonlySet<string> =>
  sendRequesterIp ? new Set([...PROTOCOL_PARAMETERS, REQUESTER_IP_PARAMETER]) : PROTOCOL_PARAMETERS;

/** RFC 6749 Appendix A: `name = 1*name-char`, `name-char = "-" / "." / "_" / DIGIT / ALPHA`. */
const PARAMETER_NAME = /^[-._0-9A-Za-z]+$/;

/**
 * Why these parameters cannot be sent (completing "… must be an object of strings that …"), or undefined. Only names
 * of the reserved sets are echoed: any other name may come from the request.
 */
export function parametersProblem(parameters: unknown, reserved: ReadonlySet<string>): string | undefined {
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) return 'is not an object';
  for (const [name, value] of Object.entries(parameters)) {
    if (reserved.has(name)) {
      return name === REQUESTER_IP_PARAMETER
        ? `names ${name}, which sendRequesterIp sends`
        : `names ${name}, a parameter of the protocol itself`;
    }
    if (!PARAMETER_NAME.test(name)) return 'has a name outside RFC 6749 (letters, digits, "-", "." and "_")';
    if (typeof value !== 'string') return 'has a value that is not a string';
  }
  return undefined;
}
