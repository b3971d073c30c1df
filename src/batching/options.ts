import {
  assertBoolean,
  assertClock,
  assertFunction,
  assertInteger,
  assertOptionKeys,
  assertNumber,
  assertObject,
  assertOneOf,
  describe,
  optionError,
  systemClock,
  type Clock,
} from '../core/index.js';
import type { BatcherOptions, ExecuteBatch, QueuePolicy, TimeoutAction } from './types.js';

/** The queue policy of one level with every field settled. */
export interface LevelPolicy {
  readonly maxQueueSize: number;
  readonly defaultTimeoutMs: number | undefined;
  readonly timeoutAction: TimeoutAction;
  readonly allowTimeoutOverride: boolean;
}

/** Batcher options validated, with defaults applied. */
export interface ResolvedOptions<Req, Res> {
  readonly execute: ExecuteBatch<Req, Res>;
  readonly maxBatchSize: number;
  /** undefined when not given: 0 in delay mode, no cap in adaptive mode. */
  readonly maxQueueDelayMs: number | undefined;
  readonly concurrency: number;
  readonly sizeOf: ((request: Req) => number) | undefined;
  readonly splitOnFailure: boolean;
  readonly clock: Clock;
  readonly priorityLevels: number;
  readonly defaultPriority: number;
  /** Index level - 1. */
  readonly policies: readonly LevelPolicy[];
  readonly agingMs: number | undefined;
  readonly preferred: ReadonlySet<number> | undefined;
  readonly maxLatencyMs: number | undefined;
  readonly batchKey: ((request: Req) => unknown) | undefined;
  readonly split: ((request: Req, sizes: readonly number[]) => readonly Req[]) | undefined;
  readonly merge: ((results: readonly Res[], request: Req) => Res) | undefined;
  readonly maxRequestItems: number;
}

/** The most priority levels a batcher accepts. */
const MAX_PRIORITY_LEVELS = 256;
/** Priority levels when none are configured: every request on one level. */
export const DEFAULT_PRIORITY_LEVELS = 1;
/** The most requests a priority level holds when `maxQueueSize` is not given. */
export const DEFAULT_MAX_QUEUE_SIZE = 1024;

const TIMEOUT_ACTIONS: readonly TimeoutAction[] = ['reject', 'delay'];
/** How many parts a request may be split into by default: enough for any real request, few enough that the list of parts stays small. */
const DEFAULT_PARTS_PER_REQUEST = 1024;

/** Every option's name, so a misspelt one is refused, not ignored; `satisfies` keeps each list complete. */
const OPTION_KEYS = Object.keys({
  execute: true,
  maxBatchSize: true,
  maxQueueDelayMs: true,
  maxQueueSize: true,
  concurrency: true,
  sizeOf: true,
  defaultTimeoutMs: true,
  timeoutAction: true,
  allowTimeoutOverride: true,
  priorityLevels: true,
  defaultPriority: true,
  queuePolicies: true,
  agingMs: true,
  preferredBatchSizes: true,
  maxLatencyMs: true,
  batchKey: true,
  split: true,
  merge: true,
  maxRequestItems: true,
  splitOnFailure: true,
  clock: true,
} satisfies Record<keyof BatcherOptions<unknown, unknown>, true>);
const POLICY_KEYS = Object.keys({
  maxQueueSize: true,
  defaultTimeoutMs: true,
  timeoutAction: true,
  allowTimeoutOverride: true,
} satisfies Record<keyof QueuePolicy, true>);

/** Validates the options of a DynamicBatcher; throws TypeError/RangeError quoting the bad value. */
export function resolveOptions<Req, Res>(options: BatcherOptions<Req, Res>): ResolvedOptions<Req, Res> {
  assertObject('options', options);
  assertOptionKeys('DynamicBatcher', options, OPTION_KEYS);
  const o = options;
  assertFunction('execute', o.execute);
  assertInteger('maxBatchSize', o.maxBatchSize, 1);
  if (o.maxQueueDelayMs !== undefined) assertNumber('maxQueueDelayMs', o.maxQueueDelayMs, 0);
  const concurrency = o.concurrency ?? 1;
  assertInteger('concurrency', concurrency, 1);
  if (o.sizeOf !== undefined) assertFunction('sizeOf', o.sizeOf);
  const splitOnFailure = o.splitOnFailure ?? true;
  assertBoolean('splitOnFailure', splitOnFailure);
  const clock = o.clock ?? systemClock;
  assertClock('clock', clock);

  const priorityLevels = o.priorityLevels ?? DEFAULT_PRIORITY_LEVELS;
  assertInteger('priorityLevels', priorityLevels, 1, MAX_PRIORITY_LEVELS);
  const defaultPriority = o.defaultPriority ?? Math.ceil((priorityLevels + 1) / 2);
  assertInteger('defaultPriority', defaultPriority, 1, priorityLevels);
  const base = resolvePolicy('', o, {
    maxQueueSize: DEFAULT_MAX_QUEUE_SIZE,
    defaultTimeoutMs: undefined,
    timeoutAction: 'reject',
    allowTimeoutOverride: false,
  });
  const policies: LevelPolicy[] = Array.from({ length: priorityLevels }, () => base);
  if (o.queuePolicies !== undefined) {
    assertObject('queuePolicies', o.queuePolicies);
    for (const [key, policy] of Object.entries(o.queuePolicies)) {
      const level = Number(key);
      if (!Number.isInteger(level) || String(level) !== key || level < 1 || level > priorityLevels) {
        throw optionError(`Expected \`queuePolicies\` keys to be priority levels between 1 and ${priorityLevels}, got ${describe(key)}`, RangeError);
      }
      assertObject(`queuePolicies[${level}]`, policy);
      assertOptionKeys('a queue policy', policy, POLICY_KEYS, { path: `queuePolicies[${level}].` });
      policies[level - 1] = resolvePolicy(`queuePolicies[${level}].`, policy as QueuePolicy, base);
    }
  }

  if (o.agingMs !== undefined) assertPositive('agingMs', o.agingMs);
  let preferred: Set<number> | undefined;
  if (o.preferredBatchSizes !== undefined) {
    const sizes: unknown = o.preferredBatchSizes;
    if (!Array.isArray(sizes)) {
      throw optionError(`Expected \`preferredBatchSizes\` to be an array of integers, got ${describe(sizes)}`);
    }
    preferred = new Set();
    // By index, not forEach: a hole must be refused, not skipped.
    for (let i = 0; i < sizes.length; i++) {
      const size: unknown = sizes[i];
      assertInteger(`preferredBatchSizes[${i}]`, size, 1, o.maxBatchSize);
      preferred.add(size);
    }
    // Any order, as Triton takes them. A size given twice is likelier a typo ([4, 4] for [4, 8]) than meant.
    if (preferred.size < sizes.length) {
      throw optionError(`Expected \`preferredBatchSizes\` to hold each size once, got ${describe(sizes)}`, RangeError);
    }
    // [] is none, as Triton reads an empty preferred_batch_size.
    if (preferred.size === 0) preferred = undefined;
  }
  if (o.maxLatencyMs !== undefined) assertPositive('maxLatencyMs', o.maxLatencyMs);
  checkPairs(o, priorityLevels);
  if (o.batchKey !== undefined) assertFunction('batchKey', o.batchKey);
  if (o.split !== undefined) assertFunction('split', o.split);
  if (o.merge !== undefined) assertFunction('merge', o.merge);
  if ((o.split === undefined) !== (o.merge === undefined)) {
    throw optionError(`Expected \`split\` and \`merge\` to be given together, got only \`${o.split === undefined ? 'merge' : 'split'}\``);
  }
  // Bounded, so a maxBatchSize near the largest safe integer (no cap, in effect) is not refused for an option not given.
  const maxRequestItems = o.maxRequestItems ?? Math.min(o.maxBatchSize * DEFAULT_PARTS_PER_REQUEST, Number.MAX_SAFE_INTEGER);
  assertInteger('maxRequestItems', maxRequestItems, o.maxBatchSize);

  return {
    execute: o.execute,
    maxBatchSize: o.maxBatchSize,
    maxQueueDelayMs: o.maxQueueDelayMs,
    concurrency,
    sizeOf: o.sizeOf,
    splitOnFailure,
    clock,
    priorityLevels,
    defaultPriority,
    policies,
    agingMs: o.agingMs,
    preferred,
    maxLatencyMs: o.maxLatencyMs,
    batchKey: o.batchKey,
    split: o.split,
    merge: o.merge,
    maxRequestItems,
  };
}

/** Refuses options each valid alone that mean nothing together; each is checked alone first. */
function checkPairs(
  o: Pick<BatcherOptions<unknown, unknown>, 'agingMs' | 'priorityLevels' | 'maxQueueDelayMs' | 'maxLatencyMs'>,
  priorityLevels: number,
): void {
  if (o.agingMs !== undefined && priorityLevels === 1) {
    const levels = o.priorityLevels === undefined ? 'left out (1 level)' : describe(priorityLevels);
    throw optionError(
      `Expected \`agingMs\` only with \`priorityLevels\` above 1 (aging lifts a request to a higher level), got agingMs ${describe(o.agingMs)} with priorityLevels ${levels}`,
      RangeError,
    );
  }
  // Adaptive mode ends every wait while the oldest request can still run within the objective, so before maxLatencyMs.
  if (o.maxLatencyMs !== undefined && o.maxQueueDelayMs !== undefined && o.maxQueueDelayMs >= o.maxLatencyMs) {
    throw optionError(
      'Expected `maxQueueDelayMs` to be below `maxLatencyMs` (adaptive mode ends every wait before the objective, so a cap at or above it never ends one), ' +
        `got maxQueueDelayMs ${describe(o.maxQueueDelayMs)} with maxLatencyMs ${describe(o.maxLatencyMs)}`,
      RangeError,
    );
  }
}

function resolvePolicy(prefix: string, policy: QueuePolicy, fallback: LevelPolicy): LevelPolicy {
  const maxQueueSize = policy.maxQueueSize ?? fallback.maxQueueSize;
  if (maxQueueSize !== Infinity) assertInteger(`${prefix}maxQueueSize`, maxQueueSize, 1);
  const defaultTimeoutMs = policy.defaultTimeoutMs ?? fallback.defaultTimeoutMs;
  if (defaultTimeoutMs !== undefined) assertPositive(`${prefix}defaultTimeoutMs`, defaultTimeoutMs);
  const timeoutAction = policy.timeoutAction ?? fallback.timeoutAction;
  assertOneOf(`${prefix}timeoutAction`, timeoutAction, TIMEOUT_ACTIONS);
  const allowTimeoutOverride = policy.allowTimeoutOverride ?? fallback.allowTimeoutOverride;
  assertBoolean(`${prefix}allowTimeoutOverride`, allowTimeoutOverride);
  return { maxQueueSize, defaultTimeoutMs, timeoutAction, allowTimeoutOverride };
}

/** Asserts a finite number > 0. */
export function assertPositive(name: string, value: unknown): asserts value is number {
  assertNumber(name, value, -Number.MAX_VALUE);
  if (value <= 0) throw optionError(`Expected \`${name}\` to be a number > 0, got ${describe(value)}`, RangeError);
}

