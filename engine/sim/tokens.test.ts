import { describe, expect, it } from 'vitest';
import { TokenStore } from './tokens.js';

describe('sim token store', () => {
  it('lets expired authorization codes and launch tokens go instead of keeping them forever', () => {
    let now = 1_000_000;
    const store = new TokenStore(() => now, 300);
    const code = store.createCode({ clientId: 'app', scopes: [], redirectUri: 'http://x/cb', codeChallenge: 'c' });
    const launch = store.createLaunch({ patient: 'p' });
    expect(store.pending()).toEqual({ codes: 1, launches: 1 });
    // Past both lifetimes (codes 1 min, launches 10 min): the next mint sweeps them.
    now += 11 * 60_000;
    store.createCode({ clientId: 'app', scopes: [], redirectUri: 'http://x/cb', codeChallenge: 'c' });
    expect(store.pending()).toEqual({ codes: 1, launches: 0 });
    expect(store.takeCode(code)).toBeUndefined();
    expect(store.launch(launch)).toBeUndefined();
  });
});
