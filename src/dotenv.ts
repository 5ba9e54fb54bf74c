import fs from 'node:fs';

/**
 * KEY=VALUE lines, `export` and quotes allowed, `#` comments skipped. The one .env parser: main.ts, the CLI and
 * ecosystem.config.js (through the built dist/src/dotenv.js) all read .env with it.
 */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line.trim().startsWith('#')) continue;
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/** The variables of a .env file, or none when it does not exist or cannot be read. */
export function readDotEnv(file: string): Record<string, string> {
  try {
    return parseDotEnv(fs.readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}
