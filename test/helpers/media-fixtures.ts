import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A real one-second WebM/Opus clip (what browsers record), made by ffmpeg; the temp file is removed. */
export function makeWebmClip(ffmpeg = 'ffmpeg'): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-webm-'));
  try {
    const file = path.join(dir, 'clip.webm');
    const args = ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1'];
    execFileSync(ffmpeg, [...args, '-c:a', 'libopus', file]);
    return fs.readFileSync(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
