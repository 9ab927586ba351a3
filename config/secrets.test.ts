import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatErrors, isSecretKey, loadConfig } from './index.js';
import { registerFakes } from './testing/fakes.js';
import { cleanTrees, tree, yaml } from './testing/tree.js';

beforeAll(registerFakes);
afterAll(cleanTrees);

function load(files: Record<string, string>, env: Record<string, string> = {}) {
  const cwd = tree(files);
  const r = loadConfig(undefined, { cwd, env });
  return { ...r, text: formatErrors(r.errors) };
}

/** A channel whose `sink` options are the given YAML flow mapping. */
function channel(sink: string, extra = ''): string {
  return yaml('name: a', 'source: { poll: {} }', ...(extra ? [extra] : []), 'destinations:', `  out: { sink: ${sink} }`);
}

describe('substitution', () => {
  it('replaces ${env:NAME} as the whole value or embedded', () => {
    const r = load({ 'channels/a.yaml': channel('{ token: "${env:TOK}", path: "/in/${env:SITE}/${env:SITE}.hl7" }') }, { TOK: 't-123', SITE: 'north' });
    expect(r.text).toBe('');
    expect(r.channels[0]!.config.destinations.out!.options).toEqual({ token: 't-123', path: '/in/north/north.hl7' });
  });

  it('replaces ${file:PATH} relative to the config file, without the trailing newline', () => {
    const r = load({ 'channels/a.yaml': channel('{ token: "${file:../secrets/tok}" }'), 'secrets/tok': 's3cr3t\n' });
    expect(r.text).toBe('');
    expect(r.channels[0]!.config.destinations.out!.options).toEqual({ token: 's3cr3t' });
  });

  it('substitutes in the engine file too', () => {
    const key = Buffer.alloc(32, 5).toString('base64');
    const r = load({ 'sluice.yaml': yaml('store:', '  encryptionKey: ${env:KEY}', '  url: "postgres://sluice:${env:PG}@db/sluice"'), 'channels/a.yaml': channel('{}') }, { KEY: key, PG: 'pw' });
    expect(r.text).toBe('');
    expect(r.engine.store).toEqual({ encryptionKey: key, url: 'postgres://sluice:pw@db/sluice' });
  });

  it('keeps $${...} as a literal ${...} and leaves other ${...} alone', () => {
    const r = load({ 'channels/a.yaml': channel('{ path: "$${env:NOT_READ} ${other}" }') });
    expect(r.text).toBe('');
    expect(r.channels[0]!.config.destinations.out!.options).toEqual({ path: '${env:NOT_READ} ${other}' });
  });

  it('reports a missing variable or an unreadable file at the value, naming it', () => {
    const r = load({ 'channels/a.yaml': channel('{ token: "${env:NOPE}", path: "${file:missing.txt}" }') });
    expect(r.text).toBe([
      'channels/a.yaml:4:25 destinations.out.sink.token: environment variable NOPE is not set (referenced as ${env:NOPE})',
      'channels/a.yaml:4:46 destinations.out.sink.path: cannot read secret file "missing.txt" (ENOENT) referenced as ${file:missing.txt}',
    ].join('\n'));
  });

  it('says only that a reference is missing, not also what the schema thinks of the empty stand-in', () => {
    const r = load({ 'sluice.yaml': yaml('store:', '  encryptionKey: "${env:NOPE}"'), 'channels/a.yaml': channel('{}') });
    expect(r.text).toBe('sluice.yaml:2:18 store.encryptionKey: environment variable NOPE is not set (referenced as ${env:NOPE})');
  });

  it('still reports an unknown key whose value is a missing reference', () => {
    const r = load({ 'sluice.yaml': yaml('store:', '  encryptionKy: "${env:NOPE}"'), 'channels/a.yaml': channel('{}') });
    expect(r.text).toContain('store.encryptionKy: environment variable NOPE is not set');
    expect(r.text).toMatch(/store\.encryptionKy: unknown key "encryptionKy" \(did you mean "encryptionKey"\?/);
  });

  it('checks the encryption key as the store will: 32 bytes as base64, the key itself never shown', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    let r = load({ 'sluice.yaml': yaml('store:', '  encryptionKey: "${env:K}"'), 'channels/a.yaml': channel('{}') }, { K: short });
    expect(r.text).toBe('sluice.yaml:2:3 store.encryptionKey: encryptionKey must be 32 bytes (AES-256), got 16');
    expect(r.text).not.toContain(short);
    r = load({ 'sluice.yaml': yaml('store:', '  encryptionKey: "${env:K}"'), 'channels/a.yaml': channel('{}') }, { K: 'not base64 at all!' });
    expect(r.text).toBe('sluice.yaml:2:3 store.encryptionKey: encryptionKey must be 32 bytes given as base64');
    r = load({ 'sluice.yaml': yaml('store:', '  encryptionKey: "${env:K}"'), 'channels/a.yaml': channel('{}') }, { K: Buffer.alloc(32, 9).toString('base64') });
    expect(r.text).toBe('');
  });
});

describe('secrets never appear in errors', () => {
  const SECRET = 'hunter2-s3cr3t';

  it('not in type, enum or reference errors of substituted values', () => {
    const r = load(
      {
        'sluice.yaml': yaml('connections: { epic-prod: { api: {} } }'),
        'channels/a.yaml': yaml(
          'name: a', 'source: { fake: { port: "${env:S}" } }', 'steps: [ { upper: { mode: "${env:S}" } } ]',
          'destinations:', '  out: { sink: { connection: "${env:S}" }, queue: { mode: "x${env:S}" } }',
        ),
      },
      { S: SECRET },
    );
    expect(r.errors).toHaveLength(4);
    expect(r.text).toContain('source.fake.port: expected a number, got a string');
    expect(r.text).toContain('steps[0].upper.mode: invalid value (expected one of: upper, lower)');
    expect(r.text).toContain('destinations.out.sink.connection: unknown connection (from a secret reference; known: epic-prod)');
    expect(r.text).toContain('destinations.out.queue.mode: invalid value (expected one of: never, on-failure, always)');
    expect(r.text).not.toContain(SECRET);
    expect(r.text).not.toContain('hunter');
  });

  it('not when a literal secret is rejected, nor for values of secret-named keys', () => {
    const r = load({ 'channels/a.yaml': channel(`{ token: ${SECRET} }`, `description: ok`), 'sluice.yaml': yaml(`store: { encryptionKey: ${SECRET} }`) });
    expect(r.text).not.toContain(SECRET);
    expect(r.text).toBe([
      'sluice.yaml:1:25 store.encryptionKey: secrets must come from ${env:...} or ${file:...}, not a literal value',
      'channels/a.yaml:5:25 destinations.out.sink.token: secrets must come from ${env:...} or ${file:...}, not a literal value',
    ].join('\n'));
  });
});

describe('literal secrets', () => {
  it('flags literals under password/secret/token/key names anywhere, including connections', () => {
    const r = load({
      'sluice.yaml': yaml(
        'connections:',
        '  epic-prod:',
        '    api:',
        '      clientSecret: abc',
        '      auth: { password: pw, apiKey: "${env:K}", key: 12345 }',
        '      url: "https://user:pw@epic.example/fhir"',
        '      tokenUrl: https://epic.example/oauth2/token',
      ),
      'channels/a.yaml': channel('{}'),
    }, { K: 'x' });
    expect(r.errors.map((e) => [e.path.join('.'), e.line, e.column])).toEqual([
      ['connections.epic-prod.api.clientSecret', 4, 21],
      ['connections.epic-prod.api.auth.password', 5, 25],
      ['connections.epic-prod.api.auth.key', 5, 54],
      ['connections.epic-prod.api.url', 6, 12],
    ]);
    expect(r.errors[0]!.message).toBe('secrets must come from ${env:...} or ${file:...}, not a literal value');
    expect(r.errors[3]!.message).toMatch(/URL contains a literal password/);
  });

  it('accepts references and embedded references', () => {
    const r = load({ 'channels/a.yaml': channel('{ token: "Bearer ${env:T}" }') }, { T: 'x' });
    expect(r.text).toBe('');
  });

  it('knows which key names hold secrets', () => {
    for (const k of ['password', 'clientSecret', 'client_secret', 'apiKey', 'key', 'accessToken', 'token', 'privateKey', 'encryptionKey', 'passphrase',
      'authorization', 'Authorization', 'proxy-authorization', 'x-api-key', 'X-API-Key', 'credentials', 'cookie']) {
      expect(isSecretKey(k), k).toBe(true);
    }
    for (const k of ['orderingKey', 'tokenUrl', 'keyFile', 'passwordFile', 'connection', 'keys', 'monkey', 'content-type', 'accept']) {
      expect(isSecretKey(k), k).toBe(false);
    }
  });
});
