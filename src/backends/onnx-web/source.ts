import { abortError } from '../../core/index.js';

const inNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/**
 * What onnxruntime-web is given for a model URL or path. In Node it reads every string as a file
 * path, so a `file:` URL becomes the path it names and an `http:`/`https:` URL is fetched here;
 * elsewhere (browsers, edge runtimes) it fetches the URL itself and the string passes as is.
 * @throws Error saying why an http(s) model could not be fetched.
 */
export async function modelLocation(source: string, signal: AbortSignal | undefined): Promise<string | Uint8Array> {
  if (!inNode || !/^(?:file|https?):/i.test(source)) return source;
  const url = new URL(source);
  if (url.protocol === 'file:') return filePath(url);
  const response = await fetch(url, { signal });
  if (!response.ok) throw new Error(`GET ${url.href} answered ${response.status} ${response.statusText}`.trimEnd());
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (signal?.aborted) throw abortError(signal);
  return bytes;
}

/** The path of a file: URL, as Node's fileURLToPath gives it (without importing node:url). */
function filePath(url: URL): string {
  const pathname = decodeURIComponent(url.pathname);
  if (process.platform !== 'win32') return pathname;
  const local = /^\/[A-Za-z]:\//.test(pathname) ? pathname.slice(1) : pathname;
  return (url.hostname ? `//${url.hostname}${local}` : local).replaceAll('/', '\\');
}
