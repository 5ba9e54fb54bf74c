/** Where the generated document is committed, from the repository root, and the command that writes it. */
export const OPENAPI_FILE = 'docs/openapi.json';
export const OPENAPI_COMMAND = 'npm run openapi';

/** How many differences a drift report lists (the count is always given). */
const MAX_LISTED = 25;

const show = (value: unknown): string => {
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

const escapeToken = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Every place where two JSON values differ, as JSON pointers with both sides (`/paths/~1api~1channels/post/...`).
 * Object key order is not a difference; array order is.
 */
export function jsonDifferences(committed: unknown, generated: unknown, pointer = ''): string[] {
  const where = pointer || '/';
  const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (Array.isArray(committed) && Array.isArray(generated)) {
    const found: string[] = [];
    for (let i = 0; i < Math.max(committed.length, generated.length); i++) {
      if (i >= committed.length) found.push(`${pointer}/${i}: only in the generated document: ${show(generated[i])}`);
      else if (i >= generated.length) found.push(`${pointer}/${i}: only in ${OPENAPI_FILE}: ${show(committed[i])}`);
      else found.push(...jsonDifferences(committed[i], generated[i], `${pointer}/${i}`));
    }
    return found;
  }
  if (isObject(committed) && isObject(generated)) {
    const keys = [...new Set([...Object.keys(committed), ...Object.keys(generated)])];
    return keys.flatMap((key) => {
      const at = `${pointer}/${escapeToken(key)}`;
      if (!Object.hasOwn(committed, key)) return [`${at}: only in the generated document: ${show(generated[key])}`];
      if (!Object.hasOwn(generated, key)) return [`${at}: only in ${OPENAPI_FILE}: ${show(committed[key])}`];
      return jsonDifferences(committed[key], generated[key], at);
    });
  }
  return Object.is(committed, generated)
    ? []
    : [`${where}: ${OPENAPI_FILE} has ${show(committed)}, generated ${show(generated)}`];
}

/**
 * null when the committed document is the one the schemas generate; otherwise a report naming each difference and
 * the command that regenerates the file.
 */
export function openApiDrift(generated: unknown, committed: unknown): string | null {
  const differences = jsonDifferences(committed, generated);
  if (differences.length === 0) return null;
  return [
    `${OPENAPI_FILE} is not the document the zod schemas generate (${differences.length} difference(s)).`,
    `Run \`${OPENAPI_COMMAND}\` and commit ${OPENAPI_FILE} with the schema change.`,
    ...differences.slice(0, MAX_LISTED).map((d) => `  ${d}`),
    ...(differences.length > MAX_LISTED ? [`  … and ${differences.length - MAX_LISTED} more`] : []),
  ].join('\n');
}
