import { z } from 'zod';
import { ERROR_CATALOG, type ErrorCode } from '../errors';
import { errorBody } from '../routes/schemas';
import { API_OPERATIONS, type OperationSpec, type Scope } from './openapi-operations';

/**
 * The OpenAPI 3.1 document, generated from the zod schemas the routers validate with (src/routes/schemas.ts) and the
 * operation list (openapi-operations.ts) by zod 4's `z.toJSONSchema`: a schema with `meta({ id })` becomes a
 * component, everything else is inlined. The result is committed as docs/openapi.json (`npm run openapi`); the drift
 * test (test/unit/openapi-drift.test.ts) fails when the two differ, and when the document and the routes the app
 * registers differ.
 *
 * Error responses are built from the error catalog (src/errors.ts): a route lists the codes it can answer and each
 * lands under the HTTP status the catalog gives it, so a status can never disagree with the catalog.
 */

// ---- the subset of OpenAPI 3.1 this document uses ------------------------------------------------------------------

/** A JSON Schema (draft 2020-12, the OpenAPI 3.1 dialect) as `z.toJSONSchema` writes it. */
export interface SchemaObject {
  $ref?: string;
  description?: string;
  [keyword: string]: unknown;
}

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: SchemaObject;
}

export interface MediaTypeObject {
  schema: SchemaObject;
}

export interface HeaderObject {
  description?: string;
  schema: SchemaObject;
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, HeaderObject>;
  content?: Record<string, MediaTypeObject>;
}

export interface RequestBodyObject {
  description?: string;
  required?: boolean;
  content: Record<string, MediaTypeObject>;
}

export type SecurityRequirement = Record<string, string[]>;

export interface OperationObject {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters?: ParameterObject[];
  requestBody?: RequestBodyObject;
  /** Always explicit: `[]` on public routes, the gateway secret on /api and /metrics. */
  security: SecurityRequirement[];
  responses: Record<string, ResponseObject>;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export type PathItemObject = Partial<Record<HttpMethod, OperationObject>>;

export interface SecuritySchemeObject {
  type: 'apiKey' | 'http';
  description?: string;
  name?: string;
  in?: 'header';
  scheme?: string;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string; license: { name: string; identifier: string } };
  servers: { url: string; description?: string }[];
  tags: { name: string; description: string }[];
  paths: Record<string, PathItemObject>;
  components: {
    schemas: Record<string, SchemaObject>;
    securitySchemes: Record<string, SecuritySchemeObject>;
  };
}

// ---- from zod to JSON Schema ---------------------------------------------------------------------------------------

const COMPONENTS = '#/components/schemas/';

/**
 * Keywords zod adds that say nothing to a reader: the safe-integer bounds of every `z.int()`, and the long ISO regex
 * next to `format: date-time` (the format says it).
 */
function tidy({ jsonSchema }: { jsonSchema: Record<string, unknown> }): void {
  if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
  if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
  if (jsonSchema.format === 'date-time' || jsonSchema.contentEncoding === 'base64') delete jsonSchema.pattern;
}

/** `#/$defs/X` (where toJSONSchema puts shared schemas) → `#/components/schemas/X`, everywhere in `node`. */
function toComponentRefs<T>(node: T): T {
  if (Array.isArray(node)) return node.map(toComponentRefs) as T;
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [
      key,
      key === '$ref' && typeof value === 'string' ? value.replace(/^#\/\$defs\//, COMPONENTS) : toComponentRefs(value),
    ]),
  ) as T;
}

/**
 * Every schema the operations use, converted in one pass so that each `id`-ed schema becomes exactly one component
 * however many operations use it. Request schemas are read on their input side (what a caller sends); responses
 * have no transforms, so their input and output are the same.
 */
function convert(pieces: Map<string, z.ZodType>): {
  piece(key: string): SchemaObject;
  components: Record<string, SchemaObject>;
} {
  const generated = z.toJSONSchema(z.object(Object.fromEntries(pieces)), {
    io: 'input',
    override: (ctx) => tidy(ctx as { jsonSchema: Record<string, unknown> }),
  }) as { properties: Record<string, SchemaObject>; $defs?: Record<string, SchemaObject> };
  const defs = generated.$defs ?? {};
  return {
    piece: (key) => toComponentRefs(generated.properties[key]),
    components: Object.fromEntries(
      Object.keys(defs)
        .sort()
        .map((id) => [id, toComponentRefs(defs[id])]),
    ),
  };
}

/** An object schema's properties as OpenAPI parameters; each property's description moves to the parameter. */
function parameters(location: ParameterObject['in'], objectSchema: SchemaObject): ParameterObject[] {
  const properties = (objectSchema.properties ?? {}) as Record<string, SchemaObject>;
  const required = new Set((objectSchema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, { description, ...schema }]) => ({
    name,
    in: location,
    ...(location === 'path' || required.has(name) ? { required: true } : {}),
    ...(description ? { description } : {}),
    schema,
  }));
}

// ---- operations ----------------------------------------------------------------------------------------------------

const SECRET: SecurityRequirement[] = [{ gatewaySecret: [] }];
const PUBLIC: SecurityRequirement[] = [];
/** GET /metrics takes the secret in X-Gateway-Secret or as `Authorization: Bearer <secret>` (either one). */
const SECRET_OR_BEARER: SecurityRequirement[] = [{ gatewaySecret: [] }, { gatewayBearer: [] }];

/** Error responses by status, from the catalog: `{success:false, error, error_code, hint?, requestId}`. */
function errorResponses(codes: readonly ErrorCode[]): Record<string, ResponseObject> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CATALOG[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, ResponseObject> = {};
  for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
    const list = byStatus.get(status)!;
    responses[String(status)] = {
      description: `Error (error_code ${list.map((c) => `\`${c}\``).join(', ')})`,
      content: { 'application/json': { schema: { $ref: `${COMPONENTS}Error` } } },
    };
  }
  return responses;
}

/** Every request can meet the shutdown gate; /api adds auth and the route deadline; a JSON body adds 400/413. */
function errorCodes(scope: Scope, spec: OperationSpec): ErrorCode[] {
  const codes: ErrorCode[] = [...(spec.errors ?? []), 'SHUTTING_DOWN'];
  if (scope === 'api') codes.push('UNAUTHORIZED', 'REQUEST_DEADLINE_EXCEEDED');
  if (scope === 'metrics') codes.push('UNAUTHORIZED');
  if (spec.body) codes.push('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE');
  return codes;
}

/** The schemas of one operation, keyed for {@link convert}. */
function piecesOf(index: number, spec: OperationSpec): Array<[string, z.ZodType]> {
  const pieces: Array<[string, z.ZodType | undefined]> = [
    [`${index} path`, spec.params],
    [`${index} query`, spec.query],
    [`${index} header`, spec.headers],
    [`${index} body`, spec.body],
    ...Object.entries(spec.responses).flatMap(([status, r]): Array<[string, z.ZodType | undefined]> => [
      [`${index} ${status}`, r.schema],
      [`${index} ${status} headers`, r.headers],
    ]),
  ];
  return pieces.filter((p): p is [string, z.ZodType] => p[1] !== undefined);
}

function operationObject(index: number, spec: OperationSpec, piece: (key: string) => SchemaObject): OperationObject {
  const params = [
    ...(spec.params ? parameters('path', piece(`${index} path`)) : []),
    ...(spec.query ? parameters('query', piece(`${index} query`)) : []),
    ...(spec.headers ? parameters('header', piece(`${index} header`)) : []),
  ];
  const responses: Record<string, ResponseObject> = {};
  for (const [status, r] of Object.entries(spec.responses)) {
    const headers = r.headers
      ? Object.fromEntries(
          parameters('header', piece(`${index} ${status} headers`)).map(({ name, description, schema }) => [
            name,
            { ...(description ? { description } : {}), schema },
          ]),
        )
      : undefined;
    responses[status] = {
      description: r.description,
      ...(headers ? { headers } : {}),
      content: { [r.contentType ?? 'application/json']: { schema: piece(`${index} ${status}`) } },
    };
  }
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: spec.tags,
    ...(params.length ? { parameters: params } : {}),
    ...(spec.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: piece(`${index} body`) } } } }
      : {}),
    security: spec.scope === 'api' ? SECRET : spec.scope === 'metrics' ? SECRET_OR_BEARER : PUBLIC,
    responses: { ...responses, ...errorResponses(errorCodes(spec.scope, spec)) },
  };
}

// ---- the document --------------------------------------------------------------------------------------------------

/** The document of `operations` (every route by default; tests pass a changed list to see the drift test bite). */
export function buildOpenApiDocument(
  version: string,
  operations: readonly OperationSpec[] = API_OPERATIONS,
): OpenApiDocument {
  const pieces = new Map<string, z.ZodType>([['error', errorBody]]);
  operations.forEach((spec, index) => piecesOf(index, spec).forEach(([key, schema]) => pieces.set(key, schema)));
  const { piece, components } = convert(pieces);
  const paths: Record<string, PathItemObject> = {};
  operations.forEach((spec, index) => {
    paths[spec.path] = { ...paths[spec.path], [spec.method]: operationObject(index, spec, piece) };
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'WPPConnect gateway',
      version,
      description: [
        'A dependable HTTP gateway in front of WPPConnect Server, compatible with the Pixel Hub contract.',
        '',
        'Every `/api` route requires the `X-Gateway-Secret` header; a 401 is JSON and carries no `WWW-Authenticate`. ' +
          '`GET /metrics` takes the same secret, in that header or as `Authorization: Bearer <secret>`. ' +
          '`GET /health` and the engine intake `POST /engine-events/{channel}/{token}` are public (the intake is ' +
          'authenticated by its unguessable per-channel token).',
        '',
        'Failures are never 2xx and always have the body `{success:false, error, error_code, hint?, requestId}` ' +
          '(schema `Error`; the codes are in docs/errors.md). Every request may carry `X-Request-Id`; it is echoed ' +
          'in the response and forwarded to the engine. Channel ids are case- and whitespace-insensitive.',
        '',
        'Not documented here: the operator UI under `/ui` — HTML pages for humans, not an API (its pages call ' +
          'these `/api` routes with their own login cookie).',
      ].join('\n'),
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'channels', description: 'Channels (WhatsApp sessions): create, status, delete, start, diagnose.' },
      { name: 'qr', description: 'QR code and live channel events.' },
      { name: 'webhooks', description: 'Webhook subscriptions and the delivery outbox.' },
      { name: 'messages', description: 'Sending messages.' },
      { name: 'media', description: 'Downloading media and resolving contacts.' },
      { name: 'health', description: 'Liveness, detailed health, metrics and this document.' },
      { name: 'engine', description: 'Intake of WPPConnect Server webhooks.' },
    ],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        gatewaySecret: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Gateway-Secret',
          description: 'The gateway secret (GATEWAY_SECRET), compared in constant time.',
        },
        gatewayBearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'The same gateway secret as a bearer token; accepted by GET /metrics only.',
        },
      },
    },
  };
}

/** The document the gateway serves at GET /api/openapi.json. */
export function openApiDocument(version: string): OpenApiDocument {
  return buildOpenApiDocument(version);
}
