import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { GATEWAY_VERSION } from '../src/gateway';
import { openApiDocument } from '../src/openapi/openapi-document';
import { OPENAPI_FILE } from '../src/openapi/openapi-drift';

/**
 * `npm run openapi`: writes the OpenAPI document generated from the zod schemas to docs/openapi.json, formatted as
 * Prettier formats it. Run it after changing a schema or a route and commit the file with the change; the drift test
 * (test/unit/openapi-drift.test.ts) fails until then.
 */
async function main(): Promise<void> {
  const root = path.resolve(__dirname, '../..');
  const file = path.join(root, OPENAPI_FILE);
  const options = (await prettier.resolveConfig(file)) ?? {};
  const text = await prettier.format(JSON.stringify(openApiDocument(GATEWAY_VERSION), null, 2), {
    ...options,
    filepath: file,
  });
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
  fs.writeFileSync(file, text);
  console.log(before === text ? `${OPENAPI_FILE} is up to date` : `${OPENAPI_FILE} written`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
