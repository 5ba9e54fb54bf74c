import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GatewayError } from '../errors';
import type { Logger } from '../logger';

export interface ConvertOptions {
  ffmpegPath: string;
  timeLimitMs: number;
  logger: Logger;
}

function failure(reason: 'FFMPEG_NOT_FOUND' | 'FFMPEG_FAILED' | 'FFMPEG_TIME_LIMIT', stderr: string): GatewayError {
  return new GatewayError('AUDIO_CONVERT_FAILED', {
    details: { origin: 'gateway', reason, stderr_preview: stderr.trim().slice(-500) },
  });
}

/**
 * WebM/Opus (what browsers record) → OGG/Opus (what WhatsApp plays as a voice note), with real ffmpeg, a time
 * limit, and temp files that are always removed. Mirrors the old wrapper's command (hub-contract.md §3.2).
 */
export async function convertWebmToOgg(input: Buffer, options: ConvertOptions): Promise<Buffer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-audio-'));
  const inFile = path.join(dir, 'in.webm');
  const outFile = path.join(dir, 'out.ogg');
  const started = Date.now();
  try {
    fs.writeFileSync(inFile, input);
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-i',
      inFile,
      '-vn',
      '-c:a',
      'libopus',
      '-b:a',
      '32k',
      '-ar',
      '16000',
      '-ac',
      '1',
      outFile,
    ];
    await new Promise<void>((resolve, reject) => {
      let stderr = '';
      let timedOut = false;
      const child = spawn(options.ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, options.timeLimitMs);
      child.stderr.on('data', (d: Buffer) => {
        if (stderr.length < 8000) stderr += d.toString();
      });
      child.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          error.code === 'ENOENT' || error.code === 'EACCES'
            ? failure('FFMPEG_NOT_FOUND', `${options.ffmpegPath}: ${error.message}`)
            : failure('FFMPEG_FAILED', error.message),
        );
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (timedOut)
          reject(failure('FFMPEG_TIME_LIMIT', `ffmpeg ran longer than ${options.timeLimitMs} ms\n${stderr}`));
        else if (code !== 0) reject(failure('FFMPEG_FAILED', stderr || `ffmpeg exited with code ${code}`));
        else resolve();
      });
    });
    const out = fs.readFileSync(outFile);
    if (out.subarray(0, 4).toString('latin1') !== 'OggS')
      throw failure('FFMPEG_FAILED', 'ffmpeg produced no OGG output');
    options.logger.info('audio converted', {
      stage: 'convert',
      fromBytes: input.length,
      toBytes: out.length,
      ms: Date.now() - started,
    });
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
