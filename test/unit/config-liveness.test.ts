import { ConfigError, loadConfig } from '../../src/config';

const base = { GATEWAY_SECRET: 'a'.repeat(32), WPPCONNECT_SECRET_KEY: 'engine-secret' };

describe('loadConfig: LIVENESS_PROBE_INTERVAL_MS', () => {
  test('When it is 0, then start-up is refused with one line that names it and says why', () => {
    // Act
    let error: unknown;
    try {
      loadConfig({ ...base, LIVENESS_PROBE_INTERVAL_MS: '0' });
    } catch (e) {
      error = e;
    }

    // Assert
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'LIVENESS_PROBE_INTERVAL_MS: must be at least 1 ms (0 would probe connected channels in a tight loop; liveness probes cannot be turned off)',
    ]);
  });

  test.each(['-5', '1.5', 'soon'])('When it is %s, then start-up is refused naming it', (value) => {
    // Act + Assert
    expect(() => loadConfig({ ...base, LIVENESS_PROBE_INTERVAL_MS: value })).toThrow(
      /^\s*LIVENESS_PROBE_INTERVAL_MS: /m,
    );
  });

  test.each([
    [undefined, 60_000],
    ['30', 30],
    ['600000', 600_000],
  ])('When it is %s, then the interval is %i ms', (value, expected) => {
    // Act
    const config = loadConfig({ ...base, LIVENESS_PROBE_INTERVAL_MS: value });

    // Assert
    expect(config.channels.livenessIntervalMs).toBe(expected);
  });
});
