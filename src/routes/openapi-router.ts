import { Router } from 'express';
import { openApiDocument } from '../openapi/openapi-document';

/** `GET /api/openapi.json`: the OpenAPI 3.1 document (behind the gateway secret like every /api route). */
export function createOpenApiRouter(deps: { version: string }): Router {
  const router = Router();
  const document = openApiDocument(deps.version);
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  return router;
}
