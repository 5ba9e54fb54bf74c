import fs from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { z } from 'zod';
import { GATEWAY_VERSION } from '../../src/gateway';
import {
  buildOpenApiDocument,
  HTTP_METHODS,
  type OpenApiDocument,
  type OperationObject,
  openApiDocument,
} from '../../src/openapi/openapi-document';
import { OPENAPI_FILE, openApiDrift } from '../../src/openapi/openapi-drift';
import { API_OPERATIONS, type OperationSpec } from '../../src/openapi/openapi-operations';
import { createChannelRequest, deliveriesQuery, webhookInput } from '../../src/routes/schemas';
import { buildTestGateway, TEST_SECRET, type TestGateway } from '../helpers/test-gateway';

/**
 * The OpenAPI document is generated from the zod schemas the routers validate with, and committed as
 * docs/openapi.json. Two kinds of drift fail here:
 * - bodies: the committed file is not what the schemas generate now (a schema changed without `npm run openapi`);
 * - routes: the document does not list exactly the routes the Express app registers (a router gained or lost a route).
 * The operator UI (`/ui…`) is HTML for humans and is deliberately left out of the document, so the walk skips it.
 */

const UNDOCUMENTED_PREFIX = '/ui';

/** The parts of Express 5's router (the `router` package, v2) the walk reads. */
interface RouterLayer {
  handle: { stack?: RouterLayer[] };
  route?: { path: unknown; methods: Record<string, boolean | undefined> };
  /** router ≥ 2.3: the path given to use()/route(), exactly as written. Older 2.x versions do not keep it. */
  rawPath?: unknown;
  /** router ≥ 2.3 returns the match (`{path}`); older 2.x returns a boolean and sets `layer.path`. */
  match(path: string): { path: string } | boolean;
  path?: string;
}

interface RegisteredRoute {
  method: string;
  path: string;
}

/** `:param` (and a `*splat` wildcard) → OpenAPI `{param}`; a trailing slash is not part of a route's identity. */
function toOpenApiPath(expressPath: string): string {
  const converted = expressPath.replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}').replace(/\/+$/, '');
  return converted === '' ? '/' : converted;
}

/** `/api/{session}/x` → `/api/p/x`: a concrete URL path to feed a layer's matcher. */
function concrete(openApiPath: string): string {
  return openApiPath.replace(/\{[^}]+\}/g, 'p');
}

function matchedPrefix(layer: RouterLayer, path: string): string | undefined {
  const result = layer.match(path);
  if (result === false) return undefined;
  return typeof result === 'object' ? result.path : (layer.path ?? '');
}

/**
 * The prefix a nested router is mounted at. Express 5 compiles it with path-to-regexp v8 and keeps no regexp source,
 * so: (1) router ≥ 2.3 keeps the path given to use() as `layer.rawPath` — take it when it is a string; (2) otherwise
 * probe: a mount layer matches `<prefix>/<anything>` and reports exactly `<prefix>` as the matched part, so try each
 * leading part of every documented path (and the root). Either way the answer is checked against the layer's own
 * matcher, so a wrong guess cannot pass silently.
 */
function mountPrefix(layer: RouterLayer, candidates: string[]): string {
  const probe = '/__openapi_drift_probe__';
  const fits = (prefix: string) => matchedPrefix(layer, `${concrete(prefix)}${probe}`) === concrete(prefix);
  if (typeof layer.rawPath === 'string') {
    const prefix = toOpenApiPath(layer.rawPath) === '/' ? '' : toOpenApiPath(layer.rawPath);
    if (!fits(prefix)) throw new Error(`mount path ${layer.rawPath} does not match its own layer`);
    return prefix;
  }
  const found = ['', ...candidates].find(fits);
  if (found === undefined) throw new Error('a router is mounted at a path no documented route starts with');
  return found;
}

/** Every (method, full path) the app really serves, walking nested routers recursively. */
function registeredRoutes(app: Express, candidates: string[]): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  const walk = (stack: RouterLayer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const path of paths) {
          if (typeof path !== 'string')
            throw new Error(`a route uses a RegExp path (${String(path)}): not documentable`);
          const full = toOpenApiPath(`${prefix}${path}`);
          for (const [method, on] of Object.entries(layer.route.methods)) {
            if (on) routes.push({ method: method === '_all' ? 'all' : method, path: full });
          }
        }
      } else if (Array.isArray(layer.handle.stack)) {
        walk(layer.handle.stack, `${prefix}${mountPrefix(layer, candidates)}`);
      }
    }
  };
  // Express 5: the app's router is `app.router` (`app._router` is gone).
  walk((app as unknown as { router: { stack: RouterLayer[] } }).router.stack, '');
  return routes.filter((r) => r.path !== UNDOCUMENTED_PREFIX && !r.path.startsWith(`${UNDOCUMENTED_PREFIX}/`));
}

function operations(doc: OpenApiDocument): Array<{ method: string; path: string; op: OperationObject }> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    HTTP_METHODS.flatMap((method) => (item[method] ? [{ method, path, op: item[method] }] : [])),
  );
}

/** Every leading part of every documented path (`/api`, `/api/channels`, …): the candidate mount prefixes. */
function leadingParts(doc: OpenApiDocument): string[] {
  const parts = new Set<string>();
  for (const path of Object.keys(doc.paths)) {
    const segments = path.split('/').slice(1);
    for (let i = 1; i < segments.length; i++) parts.add(`/${segments.slice(0, i).join('/')}`);
  }
  return [...parts].sort((a, b) => b.length - a.length);
}

const label = (r: { method: string; path: string }) => `${r.method.toUpperCase()} ${r.path}`;

/** Every `$ref` string anywhere in the document. */
function refs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, found));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else refs(value, found);
    }
  }
  return found;
}

/** A local JSON pointer (`#/components/schemas/Error`) resolved in the document, or undefined. */
function resolvePointer(doc: unknown, pointer: string): unknown {
  if (!pointer.startsWith('#/')) return undefined;
  return pointer
    .slice(2)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>(
      (node, token) =>
        node && typeof node === 'object' && Object.hasOwn(node, token)
          ? (node as Record<string, unknown>)[token]
          : undefined,
      doc,
    );
}

describe('OpenAPI document drift', () => {
  const doc = openApiDocument(GATEWAY_VERSION);
  let gw: TestGateway;
  let registered: RegisteredRoute[];

  beforeAll(() => {
    gw = buildTestGateway();
    registered = registeredRoutes(gw.app, leadingParts(doc));
  });

  afterAll(async () => {
    await gw.close();
  });

  test('When the app is walked, then the routes known to exist are found with their full paths', () => {
    const found = registered.map(label);
    expect(found).toEqual(
      expect.arrayContaining([
        'GET /health',
        'POST /engine-events/{channel}/{token}',
        'GET /api/channels/{id}',
        'GET /api/{session}/contact/pn-lid/{pnLid}',
        'GET /api/openapi.json',
      ]),
    );
    expect(found.filter((r) => / \/ui(\/|$)/.test(r))).toEqual([]);
  });

  test('When a route is registered, then the document has that path with that method', () => {
    const documented = new Set(operations(doc).map(label));
    const undocumented = [...new Set(registered.map(label))].filter((r) => !documented.has(r));
    expect(undocumented).toEqual([]);
  });

  test('When the document lists an operation, then the app registers that route (no stale entries)', () => {
    const served = new Set(registered.map(label));
    const stale = operations(doc)
      .map(label)
      .filter((r) => !served.has(r));
    expect(stale).toEqual([]);
  });

  test('When GET /api/openapi.json is called with the secret, then it serves exactly openApiDocument(version)', async () => {
    const res = await request(gw.app).get('/api/openapi.json').set('X-Gateway-Secret', TEST_SECRET);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body.openapi).toBe('3.1.0');
    expect(res.body.info.version).toBe(GATEWAY_VERSION);
    expect(res.body).toStrictEqual(openApiDocument(GATEWAY_VERSION));
  });

  test('When GET /api/openapi.json is called without the secret, then it is a 401 like every /api route', async () => {
    const res = await request(gw.app).get('/api/openapi.json');
    expect(res.status).toBe(401);
    expect(res.body.error_code).toBe('UNAUTHORIZED');
  });

  test('When operations are listed, then every operationId is unique', () => {
    const ids = operations(doc).map((o) => o.op.operationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  test('When the document uses $ref, then every reference resolves to an existing component', () => {
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(0);
    expect(all.filter((r) => !r.startsWith('#/components/') || resolvePointer(doc, r) === undefined)).toEqual([]);
  });

  test('When a path template has {params}, then each is declared as a required path parameter, and nothing more', () => {
    const problems: string[] = [];
    for (const { method, path, op } of operations(doc)) {
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
      const names = declared.map((p) => p.name).sort();
      if (JSON.stringify(inTemplate) !== JSON.stringify(names)) {
        problems.push(`${label({ method, path })}: template has [${inTemplate}], parameters declare [${names}]`);
      }
      for (const p of declared)
        if (p.required !== true) problems.push(`${label({ method, path })}: ${p.name} not required`);
    }
    expect(problems).toEqual([]);
  });

  test('When the document is checked for shape, then every operation is complete and uses declared tags and schemes', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: '/' }]);
    expect(doc.info.description).toMatch(/\/ui/);
    expect(Object.keys(doc.paths).filter((p) => p.startsWith(UNDOCUMENTED_PREFIX))).toEqual([]);
    expect(doc.components.securitySchemes.gatewaySecret).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-Gateway-Secret',
    });
    const tags = new Set(doc.tags.map((t) => t.name));
    const schemes = new Set(Object.keys(doc.components.securitySchemes));
    const problems: string[] = [];
    for (const { method, path, op } of operations(doc)) {
      const where = label({ method, path });
      if (!path.startsWith('/')) problems.push(`${where}: path must start with /`);
      if (!op.summary) problems.push(`${where}: no summary`);
      if (!op.tags.length || op.tags.some((t) => !tags.has(t))) problems.push(`${where}: undeclared tag`);
      for (const req of op.security) {
        for (const name of Object.keys(req)) if (!schemes.has(name)) problems.push(`${where}: unknown scheme ${name}`);
      }
      // /api is behind the gateway secret; /health and the engine intake are public; /metrics does its own auth.
      const secured = op.security.some((req) => 'gatewaySecret' in req);
      if (path.startsWith('/api/') !== secured && path !== '/metrics') problems.push(`${where}: wrong security`);
      const codes = Object.keys(op.responses);
      if (!codes.some((c) => /^2\d\d$/.test(c))) problems.push(`${where}: no success response`);
      for (const code of codes) {
        if (!/^[1-5]\d\d$/.test(code)) problems.push(`${where}: bad status ${code}`);
        const response = op.responses[code];
        if (!response.description) problems.push(`${where} ${code}: no description`);
        if (
          /^[45]/.test(code) &&
          response.content?.['application/json']?.schema.$ref !== '#/components/schemas/Error'
        ) {
          problems.push(`${where} ${code}: an error response must use the Error schema`);
        }
      }
      if (op.requestBody && !op.requestBody.content['application/json']) {
        problems.push(`${where}: request body is not JSON`);
      }
      for (const p of op.parameters ?? []) {
        if (!['path', 'query', 'header'].includes(p.in) || !p.schema)
          problems.push(`${where}: bad parameter ${p.name}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

/** docs/openapi.json as committed. */
function committedDocument(): unknown {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '../..', OPENAPI_FILE), 'utf8'));
}

/** The operation list as it would be after editing src/routes/schemas.ts: `change` applied to the chosen operations. */
function changedOperations(
  pick: (spec: OperationSpec) => boolean,
  change: (spec: OperationSpec) => OperationSpec,
): OperationSpec[] {
  expect(API_OPERATIONS.filter(pick).length).toBeGreaterThan(0);
  return API_OPERATIONS.map((spec) => (pick(spec) ? change(spec) : spec));
}

describe('OpenAPI document bodies: docs/openapi.json against the zod schemas', () => {
  test('When docs/openapi.json is compared with a fresh generation from the schemas, then they are the same (else: npm run openapi)', () => {
    expect(openApiDrift(openApiDocument(GATEWAY_VERSION), committedDocument())).toBeNull();
  });

  test('When a request body schema gains a field and the document is not regenerated, then the drift check fails naming the field and the command', () => {
    // Arrange: what adding `priority` to createChannelRequest in src/routes/schemas.ts would generate.
    const changed = createChannelRequest.extend({ priority: z.int().min(0) }).meta({ id: 'CreateChannelRequest' });
    const operations = changedOperations(
      (spec) => spec.operationId === 'createChannel',
      (spec) => ({ ...spec, body: changed }),
    );

    // Act
    const report = openApiDrift(buildOpenApiDocument(GATEWAY_VERSION, operations), committedDocument());

    // Assert
    expect(report).toContain(
      '/components/schemas/CreateChannelRequest/properties/priority: only in the generated document: {"type":"integer","minimum":0}',
    );
    expect(report).toContain('Run `npm run openapi` and commit docs/openapi.json');
  });

  test('When a request body field becomes required with a constraint, then the drift check reports both', () => {
    // Arrange: both webhook routes (global and per channel) share webhookInput.
    const changed = webhookInput.extend({ secret: z.string().min(16) }).meta({ id: 'WebhookInput' });
    const operations = changedOperations(
      (spec) => spec.body === webhookInput,
      (spec) => ({ ...spec, body: changed }),
    );

    // Act
    const report = openApiDrift(buildOpenApiDocument(GATEWAY_VERSION, operations), committedDocument());

    // Assert
    expect(report).toContain('/components/schemas/WebhookInput/required/1: only in the generated document: "secret"');
    expect(report).toContain('/components/schemas/WebhookInput/properties/secret/minLength: only in the generated');
  });

  test('When a query schema changes, then the drift check reports the parameter of that path', () => {
    // Arrange
    const changed = deliveriesQuery.extend({ limit: deliveriesQuery.shape.limit.unwrap().max(500).default(100) });
    const operations = changedOperations(
      (spec) => spec.operationId === 'listWebhookDeliveries',
      (spec) => ({ ...spec, query: changed }),
    );

    // Act
    const report = openApiDrift(buildOpenApiDocument(GATEWAY_VERSION, operations), committedDocument());

    // Assert
    expect(report).toMatch(
      /\/paths\/~1api~1webhooks~1deliveries\/get\/parameters\/\d\/schema\/maximum: docs\/openapi\.json has 1000, generated 500/,
    );
  });
});
