import { CacheError, type Tensor, type TensorMap } from '../../core/index.js';
import { tensorCodec } from '../codec.js';
import type { MaybePromise } from '../store.js';

/** One change to a semantic cache, as replicas share it through a {@link SemanticLog}. */
export type SemanticRecord =
  | {
      readonly kind: 'add';
      readonly partition: string;
      readonly exactKey: string;
      readonly query: string | TensorMap;
      readonly vector: Float32Array;
      readonly value: TensorMap;
      /** The entry's time to live when written, in milliseconds; undefined: none. */
      readonly ttlMs: number | undefined;
    }
  | {
      readonly kind: 'clear';
      /** The partition cleared; undefined: all of them. */
      readonly partition: string | undefined;
      /** True: the partitions whose parts begin with its parts were cleared too. */
      readonly prefix?: boolean;
    };

/** A record read back, with how long ago it was written (by the log's own clock). */
export interface LoggedRecord {
  readonly record: SemanticRecord;
  readonly ageMs: number;
}

/**
 * An append-only log of semantic-cache changes shared by replicas (see `RedisSemanticLog` in
 * `servable/redis`). Each replica appends its own changes and replays everyone's, in log order.
 */
export interface SemanticLog {
  append(record: SemanticRecord): MaybePromise<void>;
  /**
   * Every record after `cursor` (from the start when undefined), oldest first, and the cursor to
   * pass next time; records that cannot be decoded are skipped and reported in `errors`. A log
   * that may have lost records after `cursor` answers a clear of every partition first.
   */
  read(cursor: string | undefined): MaybePromise<{ records: LoggedRecord[]; cursor: string | undefined; errors?: CacheError[] }>;
}

const text = (values: string[]): Tensor => ({ datatype: 'BYTES', shape: [values.length], data: values });

/** A record as bytes, through the binary tensor codec (names starting `#` are fields, `q:` query tensors, `r:` result tensors). */
export function encodeRecord(record: SemanticRecord): Uint8Array {
  if (record.kind === 'clear') {
    const map: TensorMap = { '#kind': text(['clear']), '#partition': text(record.partition === undefined ? [] : [record.partition]) };
    // A replica that predates prefixes reads this as a clear of one partition.
    if (record.prefix) map['#prefix'] = text(['1']);
    return tensorCodec.encode(map);
  }
  const map: TensorMap = {
    '#kind': text(['add']),
    '#partition': text([record.partition]),
    '#key': text([record.exactKey]),
    '#vector': { datatype: 'FP32', shape: [record.vector.length], data: record.vector },
    '#ttl': { datatype: 'FP64', shape: [record.ttlMs === undefined ? 0 : 1], data: Float64Array.from(record.ttlMs === undefined ? [] : [record.ttlMs]) },
  };
  if (typeof record.query === 'string') map['#query'] = text([record.query]);
  else for (const [name, t] of Object.entries(record.query)) map[`q:${name}`] = t;
  for (const [name, t] of Object.entries(record.value)) map[`r:${name}`] = t;
  return tensorCodec.encode(map);
}

/** @throws CacheError when the bytes are not a record. */
export function decodeRecord(bytes: Uint8Array): SemanticRecord {
  const map = tensorCodec.decode(bytes);
  const field = (name: string): string[] => {
    const t = map[name];
    if (t?.datatype !== 'BYTES') throw new CacheError(`Cannot decode a semantic-cache record: field ${name} is missing`);
    return t.data as string[];
  };
  const kind = field('#kind')[0];
  if (kind === 'clear') return { kind, partition: field('#partition')[0], ...(map['#prefix'] ? { prefix: true } : {}) };
  if (kind !== 'add') throw new CacheError(`Cannot decode a semantic-cache record of kind ${JSON.stringify(kind)}`);
  const vector = map['#vector'];
  const ttl = map['#ttl'];
  if (vector?.datatype !== 'FP32' || ttl?.datatype !== 'FP64') throw new CacheError('Cannot decode a semantic-cache record: no vector or TTL');
  const query: TensorMap = {};
  const value: TensorMap = {};
  for (const [name, t] of Object.entries(map)) {
    if (name.startsWith('q:')) query[name.slice(2)] = t;
    else if (name.startsWith('r:')) value[name.slice(2)] = t;
  }
  return {
    kind,
    partition: field('#partition')[0] ?? '',
    exactKey: field('#key')[0] ?? '',
    query: map['#query'] ? field('#query')[0] ?? '' : query,
    vector: vector.data as Float32Array,
    value,
    ttlMs: (ttl.data as Float64Array)[0],
  };
}
