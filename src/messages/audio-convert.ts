import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GatewayError } from '../errors';
import type { Logger } from '../logger';

export type AudioConvertFailure = 'FFMPEG_NOT_FOUND' | 'FFMPEG_FAILED' | 'FFMPEG_TIME_LIMIT';

export interface ConvertOptions {
  /** The ffmpeg binary (FFMPEG_PATH). @default 'ffmpeg' in config */
  ffmpegPath: string;
  /** ffmpeg is killed after this long (FFMPEG_TIME_LIMIT_MS); the old wrapper used 15 s. */
  timeLimitMs: number;
  logger: Logger;
  requestId?: string;
  /** Where the per-conversion temp dir is created. @default os.tmpdir() */
  tmpRoot?: string;
  /**
   * The input file's name. ffmpeg trusts the extension as a hint, so non-WebM audio (MP3, WAV) is written under a
   * neutral name and recognised by its content. @default 'in.webm'
   */
  inputName?: string;
}

/** The contract caps `stderr_preview` at 500 characters (hub-contract.md §3.2). */
const STDERR_PREVIEW_CHARS = 500;
/** ffmpeg's stderr is kept up to this size; its last lines hold the reason. */
const STDERR_KEEP_CHARS = 16 * 1024;

function failure(reason: AudioConvertFailure, stderr: string): GatewayError {
  const text = stderr.trim();
  return new GatewayError('AUDIO_CONVERT_FAILED', {
    details: {
      origin: 'gateway',
      reason,
      // The tail, because ffmpeg prints the actual error last.
      stderr_preview: text.length > STDERR_PREVIEW_CHARS ? text.slice(-STDERR_PREVIEW_CHARS) : text,
    },
  });
}

/**
 * WebM/Opus (what browsers record) → OGG/Opus mono 16 kHz (what WhatsApp plays as a voice note), with the old
 * wrapper's ffmpeg command (hub-contract.md §3.2). Temp files rather than pipes: MediaRecorder WebM often has no cues
 * and ffmpeg probes better from a seekable file. The temp dir is unique per call and always removed.
 */
export async function convertWebmToOgg(input: Buffer, options: ConvertOptions): Promise<Buffer> {
  const log = options.logger.child({ requestId: options.requestId, stage: 'convert' });
  const started = Date.now();
  const dir = await mkdtemp(path.join(options.tmpRoot ?? os.tmpdir(), 'gw-webm2ogg-'));
  const inFile = path.join(dir, path.basename(options.inputName ?? 'in.webm'));
  const outFile = path.join(dir, 'out.ogg');
  try {
    await writeFile(inFile, input);
    const args = [
      '-hide_banner',
      '-nostdin',
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
    await runFfmpeg(options.ffmpegPath, args, options.timeLimitMs);
    const out = await readFile(outFile).catch(() => Buffer.alloc(0));
    if (out.length < 4 || out.toString('latin1', 0, 4) !== 'OggS') {
      throw failure('FFMPEG_FAILED', 'ffmpeg exited 0 but wrote no OGG output');
    }
    log.info('audio converted', { fromBytes: input.length, toBytes: out.length, ms: Date.now() - started });
    return out;
  } catch (error) {
    const details = error instanceof GatewayError ? error.details : undefined;
    log.warn('audio conversion failed', { reason: details?.reason, ms: Date.now() - started });
    throw error;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runFfmpeg(ffmpegPath: string, args: string[], timeLimitMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      // An empty or malformed path throws synchronously instead of emitting 'error'.
      reject(failure('FFMPEG_NOT_FOUND', `${ffmpegPath}: ${(error as Error).message}`));
      return;
    }
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeLimitMs);
    const settle = (error?: GatewayError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP_CHARS);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      const missing = error.code === 'ENOENT' || error.code === 'EACCES' || error.code === 'ENOTDIR';
      settle(failure(missing ? 'FFMPEG_NOT_FOUND' : 'FFMPEG_FAILED', `${ffmpegPath}: ${error.message}`));
    });
    // 'close' (not 'exit') so stderr is complete.
    child.on('close', (code, signal) => {
      if (timedOut) settle(failure('FFMPEG_TIME_LIMIT', `ffmpeg ran longer than ${timeLimitMs} ms\n${stderr}`));
      else if (code !== 0) settle(failure('FFMPEG_FAILED', stderr || `ffmpeg exited with ${signal ?? `code ${code}`}`));
      else settle();
    });
  });
}
