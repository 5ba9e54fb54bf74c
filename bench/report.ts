/** The one table `npm run bench` prints (and `--json` writes): one row per case, each against its own baseline. */

export interface Row {
  /** The case number of issue 13's table (`1`, `1b`, …). */
  id: string;
  case: string;
  gateway: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** null: informational, no goal. */
  met: boolean | null;
  /** The raw figures behind the row, for --json. */
  data?: Record<string, unknown>;
}

export const fmt = {
  n(v: number, digits = 0): string {
    if (!Number.isFinite(v)) return 'n/a';
    const fixed = v.toFixed(digits);
    const [int, frac] = fixed.split('.');
    const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
    return frac ? `${grouped}.${frac}` : grouped;
  },
  ms(v: number): string {
    if (!Number.isFinite(v)) return 'n/a';
    return `${v >= 100 ? fmt.n(v) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ms`;
  },
  us(v: number): string {
    return `${fmt.n(v)} µs`;
  },
  mb(bytes: number): string {
    return `${fmt.n(bytes / 1048576, bytes >= 100 * 1048576 ? 0 : 1)} MB`;
  },
  x(v: number): string {
    return Number.isFinite(v) ? `${v.toFixed(2)}×` : 'n/a';
  },
  pct(v: number): string {
    return Number.isFinite(v) ? `${v.toFixed(1)} %` : 'n/a';
  },
};

const HEADERS = ['#', 'Case', 'Gateway', 'Baseline (same run)', 'Ratio', 'Goal', 'Met'];

function cells(row: Row): string[] {
  const met = row.met === null ? '–' : row.met ? 'yes' : '**no**';
  return [row.id, row.case, row.gateway, row.baseline, row.ratio, row.goal, met].map((c) => c.replace(/\|/g, '\\|'));
}

/** A Markdown table (pastes into docs/performance.md as is), columns padded for the terminal. */
export function renderTable(rows: Row[]): string {
  const all = [HEADERS, ...rows.map(cells)];
  const widths = HEADERS.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [
    line(HEADERS),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map((r) => line(cells(r))),
  ].join('\n');
}
