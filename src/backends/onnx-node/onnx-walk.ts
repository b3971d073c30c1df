import type { FileHandle } from 'node:fs/promises';
import { abortError, BackendError } from '../../core/index.js';

/** One tensor's reference to external data: TensorProto.external_data with data_location EXTERNAL. */
export interface ExternalRef {
  readonly location: string | undefined;
  readonly offset: string | undefined;
  readonly length: string | undefined;
}

interface Field {
  num: number;
  type: number;
  /** Where its payload ends. */
  until: number;
}

const CHUNK = 16 * 1024;
const MAX_VARINT = 10;
/** Graphs nested deeper are refused: a crafted file must not exhaust the stack. */
const MAX_GRAPH_DEPTH = 64;
/** external_data keys and values longer than this are no ONNX writer's (a path, a decimal number). */
const MAX_ENTRY = 4096;
const LEN = 2;
const EXTERNAL = 1;

// Field numbers from onnx.proto, for the fields that can hold a tensor.
const MODEL_GRAPH = 7, MODEL_FUNCTIONS = 25, FUNCTION_NODE = 7;
const GRAPH_NODE = 1, GRAPH_INITIALIZER = 5, GRAPH_SPARSE_INITIALIZER = 15;
const NODE_ATTRIBUTE = 5;
const ATTR_T = 5, ATTR_G = 6, ATTR_TENSORS = 10, ATTR_GRAPHS = 11, ATTR_SPARSE = 22, ATTR_SPARSES = 23;
const SPARSE_VALUES = 1, SPARSE_INDICES = 2;
const TENSOR_EXTERNAL_DATA = 13, TENSOR_DATA_LOCATION = 14;
const ENTRY_KEY = 1, ENTRY_VALUE = 2;

/**
 * Reads an ONNX model's protobuf in place: positional reads into a small buffer, length-delimited
 * fields it has no use for skipped by moving past them, so a model's inline weights are never read.
 */
class Walker {
  readonly #handle: FileHandle;
  readonly #file: string;
  readonly #signal: AbortSignal | undefined;
  readonly #buffer = Buffer.alloc(CHUNK);
  #start = 0;
  #filled = 0;
  pos = 0;

  constructor(handle: FileHandle, file: string, signal: AbortSignal | undefined) {
    this.#handle = handle;
    this.#file = file;
    this.#signal = signal;
  }

  malformed(what: string): BackendError {
    return new BackendError(`The model file ${this.#file} is no valid ONNX model: ${what}`);
  }

  /** Whether the bytes from `pos` up to `pos + n` (or `end`, if nearer) are in the buffer. */
  #holds(n: number, end: number): boolean {
    return this.pos >= this.#start && Math.min(this.pos + n, end) <= this.#start + this.#filled;
  }

  /** The byte at `pos`, which `field` or `text` has buffered unless the file ends short of it. */
  #byte(end: number): number {
    if (this.pos >= end || this.pos >= this.#start + this.#filled) throw this.malformed(`truncated at byte ${this.pos}`);
    return this.#buffer[this.pos++ - this.#start]!;
  }

  async #fill(at: number): Promise<void> {
    if (this.#signal?.aborted) throw abortError(this.#signal);
    const { bytesRead } = await this.#handle.read(this.#buffer, 0, CHUNK, at);
    if (this.#signal?.aborted) throw abortError(this.#signal);
    this.#start = at;
    this.#filled = bytesRead;
  }

  /** The varint at `pos`: a field's tag or length, or a varint field's value, which `field` buffered. */
  varint(end: number): number {
    let value = 0;
    // Ten bytes at most: a negative int64 takes all ten (its value is never needed, only its end).
    for (let shift = 1, i = 0; i < MAX_VARINT; i++, shift *= 128) {
      const b = this.#byte(end);
      value += (b & 0x7f) * shift;
      if (b < 0x80) return value;
    }
    throw this.malformed(`a varint longer than 10 bytes at byte ${this.pos}`);
  }

  /**
   * The next field's number and wire type, its payload's end for a length-delimited one: at once
   * when its tag and the varint after it (a length, or a varint field's value) are buffered, else
   * after a read that buffers them.
   */
  field(end: number): Field | Promise<Field> {
    if (this.#holds(2 * MAX_VARINT, end)) return this.#field(end);
    return this.#fill(this.pos).then(() => this.#field(end));
  }

  #field(end: number): Field {
    const at = this.pos;
    const tag = this.varint(end);
    const num = Math.floor(tag / 8);
    const type = tag % 8;
    if (num === 0) throw this.malformed(`field number 0 at byte ${at}`);
    if (type !== LEN) return { num, type, until: this.pos };
    const length = this.varint(end);
    if (this.pos + length > end) throw this.malformed(`a field of ${length} bytes at byte ${at} runs past its end`);
    return { num, type, until: this.pos + length };
  }

  /** Moves past a field's payload (of a length-delimited one, to `until`). */
  skip(type: number, until: number, end: number): void {
    if (type === 0) this.varint(end);
    else if (type === 1 || type === 5) {
      const size = type === 1 ? 8 : 4;
      if (this.pos + size > end) throw this.malformed(`truncated at byte ${this.pos}`);
      this.pos += size;
    } else if (type === LEN) this.pos = until;
    else throw this.malformed(`wire type ${type} at byte ${this.pos}`);
  }

  /** The UTF-8 text from `pos` to `until`, at most CHUNK bytes. */
  async text(until: number): Promise<string> {
    if (!this.#holds(until - this.pos, until)) await this.#fill(this.pos);
    const from = this.pos - this.#start;
    if (until > this.#start + this.#filled) throw this.malformed(`truncated at byte ${this.#start + this.#filled}`);
    this.pos = until;
    return this.#buffer.toString('utf8', from, until - this.#start);
  }
}

/** Reads a length-delimited field it takes (and says so), or answers false at once for one to skip. */
type Visit = (num: number, until: number, depth: number) => false | Promise<boolean>;

/** Walks a message's fields up to `end`; `visit` takes a length-delimited field it reads, else it is skipped. */
async function message(w: Walker, end: number, depth: number, visit: Visit): Promise<void> {
  while (w.pos < end) {
    const next = w.field(end);
    const { num, type, until } = next instanceof Promise ? await next : next;
    const taken = type === LEN && visit(num, until, depth);
    if (taken !== false && (await taken)) {
      if (w.pos !== until) throw w.malformed(`a field ending at byte ${w.pos}, not ${until}`);
      continue;
    }
    w.skip(type, until, end);
  }
}

/**
 * The external data an ONNX model's tensors reference, in the order they appear: initializers,
 * sparse initializers, node attributes (Constant values, subgraphs of If/Loop/Scan) and functions'
 * nodes. Reads only the messages that can hold a tensor and each tensor's fields but its data.
 * @throws BackendError naming the file when it is no valid protobuf or nests graphs deeper than
 * MAX_GRAPH_DEPTH; the abort error when `signal` aborts (checked between reads).
 */
export async function externalRefs(handle: FileHandle, file: string, size: number, signal?: AbortSignal): Promise<ExternalRef[]> {
  const w = new Walker(handle, file, signal);
  const refs: ExternalRef[] = [];

  const tensor: Visit = async (_, until) => {
    let external = false;
    const entries: [string | undefined, string | undefined][] = [];
    while (w.pos < until) {
      const next = w.field(until);
      const f = next instanceof Promise ? await next : next;
      if (f.num === TENSOR_DATA_LOCATION && f.type === 0) external = w.varint(until) === EXTERNAL;
      else if (f.num === TENSOR_EXTERNAL_DATA && f.type === LEN) entries.push(await entry(f.until));
      else w.skip(f.type, f.until, until);
    }
    if (!external) return true;
    const value = (key: string) => entries.findLast(([k]) => k === key)?.[1];
    refs.push({ location: value('location'), offset: value('offset'), length: value('length') });
    return true;
  };
  const entry = async (until: number): Promise<[string | undefined, string | undefined]> => {
    let key: string | undefined, value: string | undefined;
    while (w.pos < until) {
      const next = w.field(until);
      const f = next instanceof Promise ? await next : next;
      if (f.type === LEN && (f.num === ENTRY_KEY || f.num === ENTRY_VALUE)) {
        if (f.until - w.pos > MAX_ENTRY) throw w.malformed(`an external_data entry longer than ${MAX_ENTRY} bytes at byte ${w.pos}`);
        const text = await w.text(f.until);
        if (f.num === ENTRY_KEY) key = text;
        else value = text;
      } else w.skip(f.type, f.until, until);
    }
    return [key, value];
  };
  const sparse: Visit = (num, until, depth) => (num === SPARSE_VALUES || num === SPARSE_INDICES) && tensor(num, until, depth);
  const inSparse: Visit = async (_, until, depth) => {
    await message(w, until, depth, sparse);
    return true;
  };
  const attribute: Visit = (num, until, depth) => {
    if (num === ATTR_T || num === ATTR_TENSORS) return tensor(num, until, depth);
    if (num === ATTR_SPARSE || num === ATTR_SPARSES) return inSparse(num, until, depth);
    if (num === ATTR_G || num === ATTR_GRAPHS) return inGraph(num, until, depth + 1);
    return false;
  };
  const inAttribute: Visit = async (_, until, depth) => {
    await message(w, until, depth, attribute);
    return true;
  };
  const node: Visit = (num, until, depth) => num === NODE_ATTRIBUTE && inAttribute(num, until, depth);
  const inNode: Visit = async (_, until, depth) => {
    await message(w, until, depth, node);
    return true;
  };
  const graph: Visit = (num, until, depth) => {
    if (num === GRAPH_INITIALIZER) return tensor(num, until, depth);
    if (num === GRAPH_SPARSE_INITIALIZER) return inSparse(num, until, depth);
    if (num === GRAPH_NODE) return inNode(num, until, depth);
    return false;
  };
  const inGraph: Visit = async (_, until, depth) => {
    if (depth > MAX_GRAPH_DEPTH) throw new BackendError(`The model file ${file} nests graphs deeper than ${MAX_GRAPH_DEPTH} levels`);
    await message(w, until, depth, graph);
    return true;
  };
  const fn: Visit = (num, until, depth) => num === FUNCTION_NODE && inNode(num, until, depth);
  const inFunction: Visit = async (_, until, depth) => {
    await message(w, until, depth, fn);
    return true;
  };
  const model: Visit = (num, until, depth) => {
    if (num === MODEL_GRAPH) return inGraph(num, until, depth + 1);
    if (num === MODEL_FUNCTIONS) return inFunction(num, until, depth);
    return false;
  };
  await message(w, size, 0, model);
  return refs;
}
