import fs from 'node:fs';
import path from 'node:path';

/**
 * The operator page's script and stylesheet, served from memory (no build step, no CDN). The script is a real file,
 * `browser/operator.js`, served as written: ESLint lints it and `browser/tsconfig.json` type-checks it against the DOM.
 * tsc copies no .js into dist/, so a gateway run from dist/ reads it from src/ui/browser/ beside it.
 */
const SCRIPT_FILES = [
  path.join(__dirname, 'browser', 'operator.js'),
  path.resolve(__dirname, '../../../src/ui/browser/operator.js'),
];

let script: string | undefined;

/** The operator page's script, read once; a checkout without it fails when the router is built, not on a page view. */
export function operatorScript(): string {
  script ??= readFirst(SCRIPT_FILES);
  return script;
}

function readFirst(files: readonly string[]): string {
  for (const file of files) {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new Error(`The operator page script is missing: looked for ${files.join(' and ')}`);
}

export const UI_STYLE = `
:root { font-family: system-ui, sans-serif; color: #1d2327; background: #f6f7f7; }
body { margin: 0; }
header { display: flex; justify-content: space-between; align-items: center; padding: .75rem 1.5rem; background: #0b3d2e; }
header a.brand { color: #fff; font-weight: 600; text-decoration: none; }
header .logout button { background: transparent; color: #fff; border: 1px solid #fff6; }
main { max-width: 60rem; margin: 1.5rem auto; padding: 0 1.5rem; }
table { width: 100%; border-collapse: collapse; background: #fff; }
th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid #dcdcde; }
form.inline { display: flex; gap: .5rem; align-items: center; margin-bottom: 1rem; }
input { padding: .4rem .5rem; font: inherit; }
button { padding: .4rem .9rem; font: inherit; cursor: pointer; border-radius: 4px; border: 1px solid #8c8f94; background: #fff; }
button.danger { border-color: #b32d2e; color: #b32d2e; }
.actions { display: flex; gap: .5rem; margin: 1rem 0; }
.error { color: #b32d2e; }
.hint, .muted { color: #50575e; }
.status-connected { color: #00733b; }
.status-failed { color: #b32d2e; }
.status-qr_required, .status-starting, .status-retrying { color: #996800; }
#qr { image-rendering: pixelated; background: #fff; padding: .5rem; border: 1px solid #dcdcde; }
pre { background: #fff; border: 1px solid #dcdcde; padding: .75rem; overflow: auto; max-height: 30rem; }
#login-form { display: grid; gap: .5rem; max-width: 24rem; }
`;
