/** A throwaway self-signed certificate for 127.0.0.1/localhost, made with the system's openssl. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SelfSignedCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export function makeSelfSignedCert(): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
      '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', keyFile, '-out', certFile,
    ],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

export interface IssuedCert {
  certFile: string;
  keyFile: string;
}

export interface CertificateAuthority {
  /** The CA's certificate, as peers are told to trust it. */
  caFile: string;
  /** A certificate signed by this CA: for a server (SANs: IP addresses and names) or a client. */
  issue(name: string, opts: { ips?: readonly string[]; dns?: readonly string[]; usage: 'server' | 'client' | 'both' }): IssuedCert;
}

/** A throwaway CA (EC P-256, two days) that signs server and client certificates, made with openssl. */
export function makeCertificateAuthority(commonName = 'test CA'): CertificateAuthority {
  const dir = mkdtempSync(join(tmpdir(), 'tls-ca-'));
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256', '-days', '2', '-subj', `/CN=${commonName}`, '-keyout', caKey, '-out', caFile]);
  return {
    caFile,
    issue(name, opts) {
      const keyFile = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const certFile = join(dir, `${name}.pem`);
      const ext = join(dir, `${name}.ext`);
      const sans = [...(opts.ips ?? []).map((ip) => `IP:${ip}`), ...(opts.dns ?? []).map((d) => `DNS:${d}`)];
      writeFileSync(
        ext,
        [
          'basicConstraints=CA:FALSE',
          'keyUsage=digitalSignature,keyEncipherment',
          `extendedKeyUsage=${{ server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[opts.usage]}`,
          ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
        ].join('\n') + '\n',
      );
      run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', keyFile, '-out', csr]);
      run(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-sha256', '-extfile', ext, '-out', certFile]);
      return { certFile, keyFile };
    },
  };
}
