import { PassThrough } from 'node:stream';
import { createRequestContext, createWinstonLogger } from '../../src/logger';

function capture(level: string) {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...String(chunk).split('\n').filter(Boolean)));
  const logger = createWinstonLogger({ level, secrets: ['s3cr3t-value'], stream });
  return { logger, lines, flush: () => new Promise((r) => setImmediate(r)) };
}

describe('logger', () => {
  test('When a line is below LOG_LEVEL, then its fields are never read, redacted or encoded', async () => {
    const { logger, lines, flush } = capture('warn');
    let reads = 0;
    const meta = {
      get body() {
        reads++;
        return 'x'.repeat(1000);
      },
    };
    logger.debug('dropped', meta);
    logger.info('dropped too', meta);
    logger.child({ component: 'c' }).debug('dropped in a child', meta);
    await flush();
    expect(reads).toBe(0);
    expect(lines).toEqual([]);
  });

  test('When a line is at LOG_LEVEL or above, then it is written with secrets redacted', async () => {
    const { logger, lines, flush } = capture('warn');
    logger.warn('engine said s3cr3t-value', { url: 'http://h/api/s/s3cr3t-value/generate-token' });
    logger.child({ component: 'c' }).error('boom');
    await flush();
    expect(lines).toHaveLength(2);
    expect(lines.join('\n')).not.toContain('s3cr3t-value');
    expect(JSON.parse(lines[1])).toMatchObject({ level: 'error', message: 'boom', component: 'c' });
  });
});

describe('request context', () => {
  test('When a request context is closed, then async work still running in it no longer carries it', async () => {
    // Arrange
    const context = createRequestContext();
    const seen: Array<string | undefined> = [];

    // Act
    await context.run({ requestId: 'r1' }, async () => {
      seen.push(context.requestId());
      context.close();
      await Promise.resolve();
      seen.push(context.requestId());
    });

    // Assert: disabled, so Node no longer visits it for every new promise.
    expect(seen).toEqual(['r1', undefined]);
  });
});
