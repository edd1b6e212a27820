/**
 * X.509 material made at test time by `openssl` (never by hand): a server certificate for 127.0.0.1 and client
 * certificates, each self-signed (RFC 8705 §3: a certificate-bound token needs no CA, only the thumbprint), with its
 * RFC 8705 `x5t#S256` computed by node:crypto from the DER.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  /** PEM of the certificate and of its private key. */
  cert: string;
  key: string;
  /** RFC 8705 §3.1: base64url(SHA-256(DER)). */
  thumbprint: string;
  /** RFC 9440 `Client-Cert` value: `:base64 of the DER:`. */
  clientCertHeader: string;
}

/** One self-signed P-256 certificate for `subject` (with `127.0.0.1` as its IP address when `server`). */
export function makeCertificate(subject: string, server = false): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'nrs-cert-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${subject}`,
        ...(server ? ['-addext', 'subjectAltName=IP:127.0.0.1'] : []),
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const pem = readFileSync(cert, 'utf8');
    const der = new X509Certificate(pem).raw;
    return {
      cert: pem,
      key: readFileSync(key, 'utf8'),
      thumbprint: createHash('sha256').update(der).digest('base64url'),
      clientCertHeader: `:${der.toString('base64')}:`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
