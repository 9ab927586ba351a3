/**
 * Throwaway PKI for TLS tests, made with the openssl CLI in a temp dir: a CA, a server
 * certificate for 127.0.0.1/localhost, a client certificate signed by the CA, and a
 * client certificate from a second, untrusted CA. Generated once per test process.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestPki {
  caCert: Buffer;
  serverKey: Buffer;
  serverCert: Buffer;
  clientKey: Buffer;
  clientCert: Buffer;
  /** Subject CN of clientCert. */
  clientCn: string;
  /** A client key/cert pair signed by a CA the server does not trust. */
  rogueKey: Buffer;
  rogueCert: Buffer;
}

let cached: TestPki | undefined;

export function testPki(): TestPki {
  if (cached) return cached;
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-tls-'));
  try {
    const f = (name: string): string => path.join(dir, name);
    const openssl = (...args: string[]): void => {
      try {
        execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (err) {
        const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
        throw new Error(`openssl ${args[0]} failed: ${stderr || String(err)}`);
      }
    };
    const ca = (name: string, cn: string): void => {
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`),
        '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    };
    const leaf = (name: string, subj: string, caName: string, ext: string): void => {
      openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subj);
      writeFileSync(f(`${name}.ext`), ext);
      openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${caName}.crt`), '-CAkey', f(`${caName}.key`), '-CAcreateserial',
        '-out', f(`${name}.crt`), '-days', '2', '-sha256', '-extfile', f(`${name}.ext`));
    };
    ca('ca', 'Sluice Test CA');
    ca('rogue-ca', 'Untrusted Test CA');
    leaf('server', '/CN=localhost', 'ca', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
    leaf('client', '/O=Sluice Tests/CN=lab-system-01', 'ca', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
    leaf('rogue', '/CN=rogue-client', 'rogue-ca', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
    const read = (name: string): Buffer => readFileSync(f(name));
    cached = {
      caCert: read('ca.crt'),
      serverKey: read('server.key'),
      serverCert: read('server.crt'),
      clientKey: read('client.key'),
      clientCert: read('client.crt'),
      clientCn: 'lab-system-01',
      rogueKey: read('rogue.key'),
      rogueCert: read('rogue.crt'),
    };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
