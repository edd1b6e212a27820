import { isIP } from 'node:net';
import { Logger } from '@nestjs/common';
import {
  type IntrospectionParameterRequest,
  type IntrospectionParameters,
  parametersProblem,
  REQUESTER_IP_PARAMETER,
  reservedParameterNames,
} from '../config/introspection-parameters.js';
import { IntrospectionParametersError } from '../errors.js';
import { LOGGER_CONTEXT } from '../logger.js';

/** The extra introspection parameters of one request, or an IntrospectionParametersError (503). */
export type RequestParameters = (request: object) => Readonly<Record<string, string>>;

/** `::ffff:a.b.c.d`: what Node reports for an IPv4 caller on a dual-stack (`::`) listener. */
const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The caller's address as the AS should see it: `request.ip`, which Express and Fastify take from the socket, or from
 * `X-Forwarded-For` only through the hops the app's trust-proxy setting trusts; else the socket's peer. No header is
 * read here. An IPv4-mapped IPv6 address is the dotted IPv4 address it carries. Undefined when there is no address, or
 * what there is is not an IP address.
 */
export function requesterIpOf(request: object): string | undefined {
  const { ip, socket } = request as { ip?: unknown; socket?: { remoteAddress?: unknown } };
  const address = typeof ip === 'string' ? ip : socket?.remoteAddress;
  if (typeof address !== 'string') return undefined;
  const ipv4 = IPV4_MAPPED.exec(address)?.[1] ?? address;
  return isIP(ipv4) === 0 ? undefined : ipv4;
}

/**
 * How the guards get a request's extra introspection parameters (`introspectionParameters`, `sendRequesterIp`), or
 * undefined when none are configured: then nothing is built, and the request path is what it was without them. A
 * parameter that cannot be made refuses the request (503, logged without the request's data): sending less than the
 * operator asked for (no `requester_ip`) would let the AS skip a check.
 */
export function requestParametersOf(settings: {
  readonly introspectionParameters?: IntrospectionParameters;
  readonly sendRequesterIp: boolean;
}): RequestParameters | undefined {
  const { introspectionParameters: source, sendRequesterIp } = settings;
  if (source === undefined && !sendRequesterIp) return undefined;
  const logger = new Logger(LOGGER_CONTEXT);
  const refuse = (why: string, cause?: unknown): never => {
    logger.error(`request refused (503): ${why}`);
    throw new IntrospectionParametersError(why, { cause });
  };
  const reserved = reservedParameterNames(sendRequesterIp);
  let ofApp: RequestParameters;
  if (typeof source === 'function') {
    ofApp = (request) => {
      let parameters: unknown;
      try {
        parameters = source(request as IntrospectionParameterRequest);
      } catch (error) {
        // Only the class of what was thrown: its message may carry the request's data.
        return refuse(`introspectionParameters threw (${error instanceof Error ? error.name : typeof error})`, error);
      }
      const problem = parametersProblem(parameters, reserved);
      if (problem !== undefined) refuse(`what introspectionParameters returned ${problem}`);
      return parameters as Readonly<Record<string, string>>;
    };
  } else {
    // Checked at start-up; copied so that a later change by the app cannot bypass that check.
    const fixed = Object.freeze({ ...source });
    ofApp = () => fixed;
  }
  if (!sendRequesterIp) return ofApp;
  return (request) => {
    const parameters = ofApp(request);
    const requesterIp = requesterIpOf(request);
    if (requesterIp === undefined) refuse('sendRequesterIp: the address of the caller is unknown');
    return { ...parameters, [REQUESTER_IP_PARAMETER]: requesterIp! };
  };
}
