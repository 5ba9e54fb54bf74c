import { Router } from 'express';
import { type OpenApiDocument, openApiDocument } from '../openapi/openapi-document';

/**
 * `GET /api/openapi.json`: the OpenAPI 3.1 document (behind the gateway secret like every /api route), generated from
 * the route schemas on the first request and kept.
 */
export function createOpenApiRouter(deps: { version: string }): Router {
  const router = Router();
  let document: OpenApiDocument | undefined;
  router.get('/openapi.json', (_req, res) => {
    document ??= openApiDocument(deps.version);
    res.json(document);
  });
  return router;
}
