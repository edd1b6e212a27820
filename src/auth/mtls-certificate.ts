/**
 * RFC 8705 §3: the SHA-256 thumbprint of the client certificate of a request, to compare with a token's
 * `cnf.x5t#S256`. From the TLS connection (a Node `https` server with `requestCert`: the handshake proved the key),
 * or, behind a TLS-terminating proxy, from a header that only the configured proxies may set. node:crypto parses the
 * certificate and hashes its DER; nothing here trusts a header from anyone else.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { BlockList, isIPv4 } from 'node:net';
import { headerLineCount } from './bearer-token.js';

/** The parts of an Express or Fastify request this reads. */
export interface CertificateCarrier {
  headers: Record<string, string | string[] | undefined>;
  rawHeaders?: string[];
  socket?: PeerSocket;
  raw?: { socket?: PeerSocket; rawHeaders?: string[] };
}

interface PeerSocket {
  remoteAddress?: string;
  getPeerCertificate?: (detailed?: boolean) => { raw?: Buffer } | null;
}

export interface ClientCertificateSettings {
  /** The header a trusted proxy puts the client certificate in (any case). */
  readonly header?: string;
  /** Addresses or CIDR ranges of the trusted proxies (validated settings). */
  readonly trustedProxies: readonly string[];
}

const thumbprintOfDer = (der: Buffer): string => createHash('sha256').update(der).digest('base64url');
/** Exactly one certificate, nothing around it: a list (a proxy that appended to the client's value) is not one. */
const PEM = /^-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----$/;
const STRUCTURED_BYTES = /^:([A-Za-z0-9+/]+={0,2}):$/;

/**
 * The DER of a certificate in a header value: RFC 9440 `Client-Cert` (`:base64 of the DER:`), or a PEM, URL-encoded
 * (nginx `$ssl_client_escaped_cert`) or with its line breaks turned into spaces. Undefined when it is not one.
 */
export function certificateFromHeader(value: string): Buffer | undefined {
  const text = value.trim();
  const bytes = STRUCTURED_BYTES.exec(text);
  let der: Buffer | undefined;
  if (bytes) der = Buffer.from(bytes[1]!, 'base64');
  else {
    let pem = text;
    if (pem.includes('%')) {
      try {
        pem = decodeURIComponent(pem);
      } catch {
        return undefined;
      }
    }
    const body = PEM.exec(pem.trim())?.[1];
    if (body !== undefined) der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  }
  if (der === undefined || der.length === 0) return undefined;
  try {
    // Parsed, so that only a certificate counts; its own DER is what is hashed.
    return new X509Certificate(der).raw;
  } catch {
    return undefined;
  }
}

/** The client certificates of requests: one thumbprint per TLS connection, computed once. */
export class ClientCertificates {
  private readonly byConnection = new WeakMap<object, string | null>();
  private readonly header?: string;
  private readonly proxies?: BlockList;

  constructor(settings: ClientCertificateSettings) {
    if (settings.header !== undefined && settings.trustedProxies.length > 0) {
      this.header = settings.header.toLowerCase();
      this.proxies = new BlockList();
      for (const entry of settings.trustedProxies) {
        const [address, bits] = entry.split('/') as [string, string | undefined];
        const family = isIPv4(address) ? 'ipv4' : 'ipv6';
        if (bits === undefined) this.proxies.addAddress(address, family);
        else this.proxies.addSubnet(address, Number(bits), family);
      }
    }
  }

  /** The base64url SHA-256 thumbprint of the request's client certificate, or undefined when it presented none. */
  thumbprintOf(request: CertificateCarrier): string | undefined {
    const socket = request.socket ?? request.raw?.socket;
    if (socket === undefined) return undefined;
    if (this.header !== undefined && this.fromTrustedProxy(socket.remoteAddress)) {
      // Behind the proxy, the proxy's word only: the connection's own certificate (if any) is the proxy's.
      const value = request.headers[this.header];
      // Node joins repeated header lines: two lines mean the client's own value reached us next to the proxy's.
      if (typeof value !== 'string' || headerLineCount(request, this.header) > 1) return undefined;
      const der = certificateFromHeader(value);
      return der === undefined ? undefined : thumbprintOfDer(der);
    }
    return this.ofConnection(socket);
  }

  private ofConnection(socket: PeerSocket): string | undefined {
    if (typeof socket.getPeerCertificate !== 'function') return undefined;
    let thumbprint = this.byConnection.get(socket);
    if (thumbprint === undefined) {
      const raw = socket.getPeerCertificate(false)?.raw;
      thumbprint = Buffer.isBuffer(raw) && raw.length > 0 ? thumbprintOfDer(raw) : null;
      this.byConnection.set(socket, thumbprint);
    }
    return thumbprint ?? undefined;
  }

  private fromTrustedProxy(address: string | undefined): boolean {
    if (address === undefined || this.proxies === undefined) return false;
    // An IPv4 peer of a dual-stack socket is ::ffff:a.b.c.d.
    const plain = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
    return this.proxies.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
  }
}
