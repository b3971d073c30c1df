import { describe, optionError, InvalidInputError } from '../core/index.js';
import type { HttpHeaders, HttpRequest, TenantOf } from './types.js';

/** The header naming the tenant a request belongs to; semantic cache hits stay within one tenant. */
export const TENANT_HEADER = 'x-tenant';

/** The most characters a routing key header's value may hold (see `HttpHandlerOptions.routingKeyHeader`). */
const MAX_ROUTING_KEY_LENGTH = 256;

/** What request headers ask of the service: the cache directives of `Cache-Control` and the tenant. */
export interface HeaderDirectives {
  /** `Cache-Control: no-cache`: do not answer from a cache. */
  readonly noCache?: true;
  /** `Cache-Control: no-store`: do not store the answer. */
  readonly noStore?: true;
  /** The `X-Tenant` header, trimmed; absent when missing or blank. */
  readonly tenant?: string;
}

const NONE: HeaderDirectives = Object.freeze({});

/**
 * Reads `Cache-Control` (the `no-cache` and `no-store` directives, case-insensitive, in any order
 * among others; a quoted-string's commas separate nothing) and `X-Tenant` from lower-cased request headers.
 * @throws InvalidInputError when `X-Tenant` comes as more than one field line (an array of values).
 */
export function headerDirectives(headers: HttpHeaders): HeaderDirectives {
  if (headers['cache-control'] === undefined && headers[TENANT_HEADER] === undefined) return NONE;
  const tenant = tenantHeader(headers[TENANT_HEADER]);
  return { ...cacheDirectives(headers), ...(tenant === '' ? {} : { tenant }) };
}

function cacheDirectives(headers: HttpHeaders): HeaderDirectives {
  if (headers['cache-control'] === undefined) return NONE;
  const directives = new Set(
    unquoted(joined(headers['cache-control']))
      .split(',')
      .map((d) => d.split('=')[0]!.trim().toLowerCase()),
  );
  return {
    ...(directives.has('no-cache') ? { noCache: true } : {}),
    ...(directives.has('no-store') ? { noStore: true } : {}),
  };
}

/**
 * The trimmed `X-Tenant`. It names one tenant, so it may come once: sent twice (a client's own
 * beside a gateway's, say), joining the values would name a tenant nobody meant. The adapters pass
 * a repeated one as its field lines, where Node joins them into one value (`a, b`).
 */
function tenantHeader(value: string | readonly string[] | undefined): string {
  if (typeof value !== 'string' && value !== undefined && value.length > 1) {
    throw new InvalidInputError(`The X-Tenant header was sent ${value.length} times; send it once`);
  }
  return joined(value).trim();
}

/** A quoted-string, its quoted-pairs (`\"`) included; one left unterminated runs to the end. */
const QUOTED_STRING = /"(?:[^"\\]|\\[\s\S])*(?:"|$)/g;

/**
 * The header with each quoted-string emptied (RFC 9110 §5.6.4), so that the commas in a directive's
 * value (`foo="x,no-store"`) separate nothing.
 */
function unquoted(value: string): string {
  return value.includes('"') ? value.replace(QUOTED_STRING, '""') : value;
}

function joined(value: string | readonly string[] | undefined): string {
  return value === undefined ? '' : typeof value === 'string' ? value : value.join(',');
}

/**
 * The directives of `request` with its tenant as `tenantOf` says (see `HttpHandlerOptions.tenantOf`);
 * the `X-Tenant` header is then ignored.
 * @throws TypeError when `tenantOf` answers something other than a string or undefined.
 */
export async function directivesWithTenant(request: HttpRequest, tenantOf: TenantOf): Promise<HeaderDirectives> {
  const cache = cacheDirectives(request.headers);
  const tenant = await tenantOf(request);
  if (tenant !== undefined && typeof tenant !== 'string') {
    throw new TypeError(`Expected \`tenantOf\` to answer a string or undefined, got ${describe(tenant)}`);
  }
  return tenant === undefined || tenant === '' ? cache : { ...cache, tenant };
}

/** A field name: an HTTP token (RFC 9110 §5.1, §5.6.2). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The `routingKeyHeader` option as request headers name it: in lower case.
 * @throws TypeError quoting a value that is not an HTTP token.
 */
export function routingKeyHeaderName(name: unknown): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== 'string' || !TOKEN.test(name)) throw optionError(`Expected \`routingKeyHeader\` to be a header name (an HTTP token), got ${describe(name)}`);
  return name.toLowerCase();
}

/**
 * The routing key the `header` (lower case) of a request carries; undefined when it is missing or
 * empty. Field lines handed over as an array are joined as Node joins a repeated header (`a, b`).
 * @throws InvalidInputError for a value longer than {@link MAX_ROUTING_KEY_LENGTH} characters.
 */
export function routingKeyOf(headers: HttpHeaders, header: string): string | undefined {
  const value = headers[header];
  const key = typeof value === 'string' ? value : Array.isArray(value) ? value.join(', ') : '';
  if (key.length > MAX_ROUTING_KEY_LENGTH) {
    throw new InvalidInputError(`The routing key header '${header}' holds ${key.length} characters; it may hold at most ${MAX_ROUTING_KEY_LENGTH}`);
  }
  return key === '' ? undefined : key;
}
