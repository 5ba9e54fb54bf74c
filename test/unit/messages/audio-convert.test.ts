import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { convertWebmToOgg } from '../../../src/messages/audio-convert';
import { createMemoryLogger } from '../../../src/logger';
import { makeWebmClip } from '../../helpers/media-fixtures';

/** Real ffmpeg (FFMPEG_PATH or the one on PATH; `.ci/run` installs it). */
const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';

let workDir: string;
let webm: Buffer;

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-audio-test-'));
  webm = makeWebmClip(FFMPEG);
});

afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

function tmpRoot(): string {
  return fs.mkdtempSync(path.join(workDir, 'tmp-'));
}

describe('convertWebmToOgg', () => {
  test('When given a WebM/Opus clip, then it returns OGG/Opus and removes its temp dir', async () => {
    // Arrange
    const root = tmpRoot();
    const logger = createMemoryLogger();
    expect(webm.subarray(0, 4).toString('hex')).toBe('1a45dfa3');

    // Act
    const ogg = await convertWebmToOgg(webm, {
      ffmpegPath: FFMPEG,
      timeLimitMs: 15_000,
      logger,
      requestId: 'r-1',
      tmpRoot: root,
    });

    // Assert
    expect(ogg.subarray(0, 4).toString('latin1')).toBe('OggS');
    expect(ogg.includes(Buffer.from('OpusHead'))).toBe(true);
    expect(fs.readdirSync(root)).toEqual([]);
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        message: 'audio converted',
        meta: expect.objectContaining({ requestId: 'r-1', stage: 'convert' }),
      }),
    );
  });

  test('When the WebM is corrupt, then it fails with FFMPEG_FAILED, a short stderr preview, and no temp files left', async () => {
    // Arrange
    const root = tmpRoot();
    const corrupt = Buffer.concat([webm.subarray(0, 40), Buffer.alloc(4000, 0x55)]);

    // Act
    const error = await convertWebmToOgg(corrupt, {
      ffmpegPath: FFMPEG,
      timeLimitMs: 15_000,
      logger: createMemoryLogger(),
      tmpRoot: root,
    }).catch((e: unknown) => e);

    // Assert
    expect(error).toMatchObject({
      code: 'AUDIO_CONVERT_FAILED',
      status: 400,
      message: 'Conversão WebM→OGG falhou',
      details: { origin: 'gateway', reason: 'FFMPEG_FAILED' },
    });
    const preview = (error as { details: { stderr_preview: string } }).details.stderr_preview;
    expect(preview.length).toBeGreaterThan(0);
    expect(preview.length).toBeLessThanOrEqual(500);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  test('When FFMPEG_PATH points nowhere, then it fails with FFMPEG_NOT_FOUND', async () => {
    // Arrange
    const root = tmpRoot();

    // Act
    const error = await convertWebmToOgg(webm, {
      ffmpegPath: path.join(workDir, 'no-such-ffmpeg'),
      timeLimitMs: 15_000,
      logger: createMemoryLogger(),
      tmpRoot: root,
    }).catch((e: unknown) => e);

    // Assert
    expect(error).toMatchObject({
      code: 'AUDIO_CONVERT_FAILED',
      details: { origin: 'gateway', reason: 'FFMPEG_NOT_FOUND' },
    });
    expect(fs.readdirSync(root)).toEqual([]);
  });

  test('When ffmpeg runs past the time limit, then it is killed and fails with FFMPEG_TIME_LIMIT', async () => {
    // Arrange: a stand-in "ffmpeg" that never finishes.
    const root = tmpRoot();
    const slow = path.join(workDir, 'slow-ffmpeg.sh');
    fs.writeFileSync(slow, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const started = Date.now();

    // Act
    const error = await convertWebmToOgg(webm, {
      ffmpegPath: slow,
      timeLimitMs: 300,
      logger: createMemoryLogger(),
      tmpRoot: root,
    }).catch((e: unknown) => e);

    // Assert
    expect(error).toMatchObject({ code: 'AUDIO_CONVERT_FAILED', details: { reason: 'FFMPEG_TIME_LIMIT' } });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fs.readdirSync(root)).toEqual([]);
  });
});
