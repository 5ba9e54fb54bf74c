import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_ENV_NAMES, ConfigError, loadConfig } from '../../src/config';

const base = { GATEWAY_SECRET: 'a'.repeat(32), WPPCONNECT_SECRET_KEY: 'engine-secret' };

describe('loadConfig', () => {
  test('When only the secrets are set, then every other key has its documented default', () => {
    const config = loadConfig(base);
    expect(config.server.port).toBe(3000);
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.server.listenBacklog).toBe(4096);
    expect(config.engine.baseUrl).toBe('http://127.0.0.1:21465');
    expect(config.server.publicUrl).toBe('http://127.0.0.1:3000');
    expect(config.dataDir).toBe('./data');
    expect(config.engine.startDeadlineMs).toBe(60000);
    expect(config.channels.createWaitMs).toBe(20000);
    expect(config.messages.ffmpegPath).toBe('ffmpeg');
    expect(config.logLevel).toBe('info');
    expect(config.engine.healProfileLocks).toBe(true);
    expect(config.engine.killOrphanBrowsers).toBe(true);
    expect(config.server.messageBodyLimit).toBeGreaterThanOrEqual(64 * 1024 * 1024);
  });

  test('When DATABASE_URL is set, then a postgres URL is taken as given, and anything else stops start-up without echoing it', () => {
    expect(loadConfig(base).database.url).toBeNull();
    expect(loadConfig({ ...base, DATABASE_URL: '' }).database.url).toBeNull();
    const url = 'postgresql://gw:p%40ss@db.internal:5432/gateway';
    expect(loadConfig({ ...base, DATABASE_URL: url }).database.url).toBe(url);

    const refused = () => loadConfig({ ...base, DATABASE_URL: 'mysql://gw:TopSecretPw@db/gateway' });

    expect(refused).toThrow('DATABASE_URL: must be a postgres:// or postgresql:// URL');
    expect(refused).not.toThrow(/TopSecretPw/);
  });

  test('When WPP_GATEWAY_SECRET is set instead of GATEWAY_SECRET, then it is accepted as the alias', () => {
    const config = loadConfig({ WPP_GATEWAY_SECRET: 'b'.repeat(64), WPPCONNECT_SECRET_KEY: 'x' });
    expect(config.auth.secret).toBe('b'.repeat(64));
  });

  test('When values are malformed, then start-up stops with one line naming each variable', () => {
    let error: unknown;
    try {
      loadConfig({
        ...base,
        PORT: 'eighty',
        LOG_LEVEL: 'loud',
        WPPCONNECT_URL: 'ftp://x',
        HEAL_PROFILE_LOCKS: 'maybe',
        LISTEN_BACKLOG: '0',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as ConfigError).problems;
    for (const name of ['PORT', 'LOG_LEVEL', 'WPPCONNECT_URL', 'HEAL_PROFILE_LOCKS', 'LISTEN_BACKLOG']) {
      expect(lines.filter((l) => l.startsWith(`${name}:`))).toHaveLength(1);
    }
  });

  test('When the secrets are missing, then both are named as required', () => {
    expect(() => loadConfig({})).toThrow(
      /GATEWAY_SECRET \(or WPP_GATEWAY_SECRET\): is required[\s\S]*WPPCONNECT_SECRET_KEY: is required/,
    );
  });

  test('When the config is loaded, then it is frozen', () => {
    const config = loadConfig(base);
    expect(Object.isFrozen(config.engine)).toBe(true);
  });

  test('When the README configuration table is read, then it lists every variable the gateway reads', () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const missing = CONFIG_ENV_NAMES.filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

describe('loadConfig: engines (issue 14)', () => {
  const gateway = { GATEWAY_SECRET: 'a'.repeat(32) };
  const two = [
    { id: 'a', url: 'http://10.0.0.1:21465/', secretKey: 'key-a-SECRET', capacity: 10 },
    {
      id: 'b',
      url: 'http://10.0.0.2:21465',
      secretKey: 'key-b-SECRET',
      userDataDir: '/srv/b/tokens',
      logFile: '/srv/b/log',
    },
  ];

  function problems(env: Record<string, string>): string[] {
    try {
      loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    throw new Error('loadConfig accepted it');
  }

  test('When only the one-engine shorthand is set, then there is one engine named default, without a limit', () => {
    const config = loadConfig({ ...base, WPPCONNECT_URL: 'http://e:1/' });
    expect(config.engines).toEqual([
      { id: 'default', baseUrl: 'http://e:1', secretKey: 'engine-secret', capacity: null },
    ]);
  });

  test('When WPPCONNECT_CAPACITY is set, then the one engine has that capacity', () => {
    expect(loadConfig({ ...base, WPPCONNECT_CAPACITY: '25' }).engines[0].capacity).toBe(25);
  });

  test('When WPPCONNECT_ENGINES is a JSON array, then each engine is read with its own URL, key, capacity and host paths, and the first fills config.engine', () => {
    const config = loadConfig({ ...gateway, WPPCONNECT_ENGINES: JSON.stringify(two) });
    expect(config.engines).toEqual([
      { id: 'a', baseUrl: 'http://10.0.0.1:21465', secretKey: 'key-a-SECRET', capacity: 10 },
      {
        id: 'b',
        baseUrl: 'http://10.0.0.2:21465',
        secretKey: 'key-b-SECRET',
        capacity: null,
        userDataDir: '/srv/b/tokens',
        logFile: '/srv/b/log',
      },
    ]);
    expect(config.engine.baseUrl).toBe('http://10.0.0.1:21465');
    expect(config.engine.secretKey).toBe('key-a-SECRET');
  });

  test('When WPPCONNECT_ENGINES is a file path, then the engines are read from that file', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'engines-')), 'engines.json');
    fs.writeFileSync(file, JSON.stringify(two));
    expect(loadConfig({ ...gateway, WPPCONNECT_ENGINES: file }).engines.map((e) => e.id)).toEqual(['a', 'b']);
  });

  test('When WPPCONNECT_ENGINES is wrong, then each problem names the entry and field and never a secret key', () => {
    const bad = [
      { id: 'a', url: 'ftp://x', secretKey: 'key-a-SECRET', capacity: 0 },
      { id: 'A', url: 'http://y', secretKey: 'key-b-SECRET', extra: true },
    ];
    const lines = problems({ ...gateway, WPPCONNECT_ENGINES: JSON.stringify(bad) });
    expect(lines.some((l) => l.startsWith('WPPCONNECT_ENGINES[0].url:'))).toBe(true);
    expect(lines.some((l) => l.startsWith('WPPCONNECT_ENGINES[0].capacity:'))).toBe(true);
    expect(lines.some((l) => l.startsWith('WPPCONNECT_ENGINES[1]:'))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/SECRET/);
  });

  test('When two engines share an id (ids are case-insensitive), then start-up stops naming it', () => {
    const dup = [two[0], { ...two[1], id: 'A' }];
    expect(problems({ ...gateway, WPPCONNECT_ENGINES: JSON.stringify(dup) })).toEqual([
      'WPPCONNECT_ENGINES: engine id "A" appears twice',
    ]);
  });

  test('When WPPCONNECT_ENGINES is not JSON or the file is missing, then start-up stops with a sentence, not a parser dump', () => {
    expect(problems({ ...gateway, WPPCONNECT_ENGINES: '[{"id":' })).toEqual([
      'WPPCONNECT_ENGINES: is not valid JSON (an array of {id, url, secretKey, capacity})',
    ]);
    expect(problems({ ...gateway, WPPCONNECT_ENGINES: '/nonexistent/engines.json' })).toEqual([
      'WPPCONNECT_ENGINES: the file /nonexistent/engines.json cannot be read (ENOENT)',
    ]);
  });

  test('When WPPCONNECT_ENGINES and the one-engine variables are both set, then start-up stops instead of ignoring one', () => {
    const lines = problems({ ...base, WPPCONNECT_ENGINES: JSON.stringify(two) });
    expect(lines).toEqual([expect.stringMatching(/^WPPCONNECT_SECRET_KEY: WPPCONNECT_ENGINES replaces it/)]);
  });
});

describe('loadConfig: empty one-engine variables beside WPPCONNECT_ENGINES', () => {
  test('When WPPCONNECT_URL and WPPCONNECT_SECRET_KEY are left empty in a .env next to WPPCONNECT_ENGINES, then they count as unset', () => {
    const config = loadConfig({
      GATEWAY_SECRET: 'a'.repeat(32),
      WPPCONNECT_URL: '',
      WPPCONNECT_SECRET_KEY: '',
      WPPCONNECT_ENGINES: JSON.stringify([{ id: 'x', url: 'http://x:1', secretKey: 'k' }]),
    });
    expect(config.engines.map((e) => e.id)).toEqual(['x']);
  });
});
