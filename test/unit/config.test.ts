import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_ENV_NAMES, ConfigError, loadConfig } from '../../src/config';

const base = { GATEWAY_SECRET: 'a'.repeat(32), WPPCONNECT_SECRET_KEY: 'engine-secret' };

describe('loadConfig', () => {
  test('When only the secrets are set, then every other key has its documented default', () => {
    const config = loadConfig(base);
    expect(config.server.port).toBe(3000);
    expect(config.server.host).toBe('127.0.0.1');
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
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as ConfigError).problems;
    for (const name of ['PORT', 'LOG_LEVEL', 'WPPCONNECT_URL', 'HEAL_PROFILE_LOCKS']) {
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
