import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { Counter, Gauge, Histogram, Registry, register } from 'prom-client';
import { counted, inFlight, timed } from '../../src/metrics/index.js';

function setup() {
  const promRegistry = new Registry();
  const registers = [promRegistry];
  return {
    promRegistry,
    seconds: new Histogram({ name: 'op_seconds', help: 'op', labelNames: ['op', 'outcome', 'fn'], buckets: [0.01, 0.1], registers }),
    calls: new Counter({ name: 'op_total', help: 'op', labelNames: ['op', 'outcome'], registers }),
    running: new Gauge({ name: 'op_running', help: 'op', labelNames: ['op'], registers }),
    clock: { ms: 0, now(): number { return this.ms; } },
  };
}

async function samples(metric: Histogram | Counter | Gauge): Promise<string[]> {
  const values: { metricName?: string; labels: object; value: number }[] = (await metric.get()).values;
  return values.map((v) => `${v.metricName ?? ''}${JSON.stringify(v.labels)} ${v.value}`);
}

test('timed records seconds for returns, throws, resolutions and rejections, keeping this and arguments', async () => {
  const { seconds, clock } = setup();
  const target = {
    base: 10,
    add(x: number, y: number): number {
      clock.ms += 5;
      if (x < 0) throw new RangeError('negative');
      return this.base + x + y;
    },
    async later(x: number): Promise<number> {
      await null;
      clock.ms += 50;
      if (x < 0) throw new RangeError('negative');
      return x;
    },
  };
  target.add = timed(target.add, seconds, { clock, labels: { op: 'add' }, outcomeLabel: 'outcome', methodLabel: 'fn' });
  target.later = timed(target.later, seconds, { clock, labels: { op: 'later' }, outcomeLabel: 'outcome' });

  assert.equal(target.add(1, 2), 13);
  assert.throws(() => target.add(-1, 0), RangeError);
  assert.equal(await target.later(7), 7);
  await assert.rejects(target.later(-1), RangeError);

  const all = await samples(seconds);
  assert.ok(all.includes('op_seconds_sum{"op":"add","fn":"add","outcome":"success"} 0.005'), all.join('\n'));
  assert.ok(all.includes('op_seconds_sum{"op":"add","fn":"add","outcome":"failure"} 0.005'));
  assert.ok(all.includes('op_seconds_sum{"op":"later","outcome":"success"} 0.05'));
  assert.ok(all.includes('op_seconds_bucket{"le":0.01,"op":"later","outcome":"failure"} 0'));
  assert.ok(all.includes('op_seconds_bucket{"le":0.1,"op":"later","outcome":"failure"} 1'));
  assert.equal(target.add.name, 'add');
  assert.equal(target.add.length, 2);
});

test('counted counts once per call after it ends; inFlight holds the running calls', async () => {
  const { calls, running } = setup();
  const releases: (() => void)[] = [];
  const work = (fail: boolean) =>
    new Promise<string>((resolve, reject) => releases.push(() => (fail ? reject(new Error('no')) : resolve('yes'))));
  const wrapped = counted(inFlight(work, running, { labels: { op: 'w' } }), calls, { labels: { op: 'w' }, outcomeLabel: 'outcome' });

  const a = wrapped(false);
  const b = wrapped(true);
  assert.deepEqual(await samples(running), ['{"op":"w"} 2']);
  assert.deepEqual(await samples(calls), []);
  releases[0]!();
  assert.equal(await a, 'yes');
  assert.deepEqual(await samples(running), ['{"op":"w"} 1']);
  releases[1]!();
  await assert.rejects(b, /no/);
  assert.deepEqual(await samples(running), ['{"op":"w"} 0']);
  assert.deepEqual(await samples(calls), ['{"op":"w","outcome":"success"} 1', '{"op":"w","outcome":"failure"} 1']);
});

test('a synchronous throw still brings inFlight back down', async () => {
  const { running } = setup();
  const boom = inFlight(() => {
    throw new Error('boom');
  }, running, { labels: { op: 'x' } });
  assert.throws(boom, /boom/);
  assert.deepEqual(await samples(running), ['{"op":"x"} 0']);
});

test('bad arguments fail at wrap time with the value quoted, and nothing touches the global registry', () => {
  const { seconds } = setup();
  assert.throws(() => timed(() => 1, {} as Histogram), { name: 'TypeError', message: 'Expected `histogram` to be a prom-client metric with observe(), got {} (object)' });
  assert.throws(() => inFlight(() => 1, { inc() {} } as unknown as Gauge), /Expected `gauge` to be a prom-client metric with inc\(\) and dec\(\)/);
  assert.throws(() => timed(42 as unknown as () => void, seconds), { message: 'Expected `fn` to be a function, got 42 (number)' });
  // A class cannot be called: its wrapper would throw on every call, after recording a failure.
  assert.throws(() => timed(class Repository {} as unknown as () => void, seconds), {
    name: 'TypeError',
    message: 'Expected `fn` to be a function to call, got class Repository: wrap its methods, or a function that calls `new`',
  });
  assert.equal(timed({ class() { return 'a method named class'; } }.class, seconds)(), 'a method named class');
  assert.throws(() => timed(() => 1, seconds, { clock: {} as never }), { message: 'Expected `clock` to have now(), got {} (object)' });
  assert.throws(() => timed(() => 1, seconds, { outcomelabel: 'outcome' } as never), {
    message: 'Unknown option `outcomelabel`; the metric wrapper takes labels, outcomeLabel, methodLabel, clock',
  });
  assert.throws(() => counted(() => 1, new Counter({ name: 'c', help: 'c', registers: [] }), { outcomeLabel: '' }), {
    message: 'Expected `outcomeLabel` to be a non-empty string, got "" (string)',
  });
  assert.throws(() => timed(() => 1, seconds, { labels: [] as never }), {
    message: 'Expected `labels` to be an object, got [] (array)',
  });
  assert.throws(() => timed(() => 1, seconds, { labels: { tier: {} } as never }), {
    name: 'TypeError',
    message: 'Expected `labels.tier` to be a string or a finite number, got {} (object)',
  });
  assert.throws(() => timed(() => 1, seconds, { labels: { tier: null } as never }), { message: 'Expected `labels.tier` to be a string or a finite number, got null (null)' });
  assert.throws(() => timed(() => 1, seconds, { labels: { tier: undefined } as never }), { message: 'Expected `labels.tier` to be a string or a finite number, got undefined (undefined)' });
  assert.throws(() => timed(() => 1, seconds, { labels: { tier: NaN } }), { message: 'Expected `labels.tier` to be a string or a finite number, got NaN (number)' });
  assert.throws(() => timed(() => 1, seconds, { labels: { outcome: 'fixed' }, outcomeLabel: 'outcome' }), {
    name: 'TypeError',
    message: 'Expected `outcomeLabel` to name a label no other option sets, got "outcome" (string)',
  });
  assert.throws(() => counted(() => 1, new Counter({ name: 'c2', help: 'c', labelNames: ['op'], registers: [] }), { methodLabel: 'op', outcomeLabel: 'op' }), {
    message: 'Expected `outcomeLabel` to name a label no other option sets, got "op" (string)',
  });
  assert.throws(() => inFlight(() => 1, new Gauge({ name: 'g2', help: 'g', labelNames: ['op'], registers: [] }), { labels: { op: 'x' }, methodLabel: 'op' }), {
    message: 'Expected `methodLabel` to name a label no other option sets, got "op" (string)',
  });
  assert.equal(register.getMetricsAsArray().length, 0);
});

test('a label the metric does not declare fails at wrap time, naming the metric and the label', () => {
  const promRegistry = new Registry();
  const bare = new Histogram({ name: 'work_seconds', help: 'h', registers: [promRegistry] });
  const byMethod = new Gauge({ name: 'work_running', help: 'h', labelNames: ['method'], registers: [promRegistry] });
  assert.throws(() => timed(async () => 1, bare, { outcomeLabel: 'outcome' }), {
    name: 'TypeError',
    message: "Expected the labelNames of metric `work_seconds` to include 'outcome' (set by `outcomeLabel`), got [] (array)",
  });
  assert.throws(() => counted(() => 1, new Counter({ name: 'work_total', help: 'h', labelNames: ['outcome'], registers: [] }), { methodLabel: 'method' }), {
    message: "Expected the labelNames of metric `work_total` to include 'method' (set by `methodLabel`), got [\"outcome\"] (array)",
  });
  assert.throws(() => inFlight(() => 1, byMethod, { labels: { region: 'eu' } }), {
    message: "Expected the labelNames of metric `work_running` to include 'region' (set by `labels`), got [\"method\"] (array)",
  });
  // inFlight ignores outcomeLabel, so its gauge need not declare it.
  assert.equal(inFlight(function probe() { return 'ok'; }, byMethod, { methodLabel: 'method', outcomeLabel: 'outcome' })(), 'ok');
});

test("methodLabel on a bound method is the method's name, as Express apps pass controller.list.bind(controller)", async () => {
  const calls = new Counter({ name: 'bound_total', help: 'h', labelNames: ['method'], registers: [new Registry()] });
  const controller = {
    prefix: 'item',
    list(): string {
      return `${this.prefix}s`;
    },
  };
  const list = counted(controller.list.bind(controller), calls, { methodLabel: 'method' });
  const twice = counted(controller.list.bind(controller).bind(null), calls, { methodLabel: 'method' });
  assert.deepEqual([list(), twice()], ['items', 'items']);
  assert.deepEqual((await calls.get()).values.map((v) => [v.labels.method, v.value]), [['list', 2]]);
  assert.equal(list.name, 'bound list', 'the wrapper keeps the function\'s own name');
});

test('methodLabel on an anonymous function fails at wrap time, where it would label its samples method=""', async () => {
  const promRegistry = new Registry();
  const calls = new Counter({ name: 'anon_total', help: 'h', labelNames: ['method'], registers: [promRegistry] });
  assert.throws(() => counted(async () => 1, calls, { methodLabel: 'method' }), {
    name: 'TypeError',
    message: "Expected `fn` to have a name for `methodLabel` 'method', got an anonymous function: name it, or set the label in `labels`",
  });
  const handler = async (): Promise<number> => 1;
  assert.equal(await counted(handler, calls, { methodLabel: 'method' })(), 1);
  assert.equal(counted(() => 2, calls, { labels: { method: 'inline' } })(), 2);
  assert.deepEqual((await calls.get()).values.map((v) => [v.labels.method, v.value]), [['handler', 1], ['inline', 1]]);
});

test('inFlight stays up while a call has not settled and comes down when its AbortSignal ends it', async () => {
  const { calls, running } = setup();
  const wait = (signal: AbortSignal): Promise<never> =>
    new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
  const options = { labels: { op: 'wait' } };
  const wrapped = counted(inFlight(wait, running, options), calls, { ...options, outcomeLabel: 'outcome' });
  const forever = new AbortController();
  const aborted = new AbortController();
  void wrapped(forever.signal).catch(() => {});
  const pending = wrapped(aborted.signal);
  assert.deepEqual(await samples(running), ['{"op":"wait"} 2']);
  aborted.abort(new Error('client went away'));
  await assert.rejects(pending, { message: 'client went away' });
  assert.deepEqual(await samples(running), ['{"op":"wait"} 1'], 'the call never settled: still in flight');
  assert.deepEqual(await samples(calls), ['{"op":"wait","outcome":"failure"} 1']);
});

test('one metric shared by two classes and by every instance: a method name both classes use is one series unless a fixed label parts them', async () => {
  const promRegistry = new Registry();
  const shared = (): Counter => (promRegistry.getSingleMetric('find_calls_total') as Counter | undefined) ??
    new Counter({ name: 'find_calls_total', help: 'h', labelNames: ['method', 'controller'], registers: [promRegistry] });
  class Users {
    find = counted(function find() { return 'user'; }, shared(), { methodLabel: 'method' });
  }
  class Orders {
    find = counted(function find() { return 'order'; }, shared(), { methodLabel: 'method' });
    findParted = counted(function find() { return 'order'; }, shared(), { methodLabel: 'method', labels: { controller: 'orders' } });
  }
  const users = [new Users(), new Users()];
  assert.deepEqual([users[0]!.find(), users[1]!.find(), new Orders().find(), new Orders().findParted()], ['user', 'user', 'order', 'order']);
  assert.deepEqual(await samples(shared()), ['{"method":"find"} 3', '{"controller":"orders","method":"find"} 1']);
  assert.throws(() => new Counter({ name: 'find_calls_total', help: 'h', registers: [promRegistry] }), /already been registered/);
});

test('a metric that fails when recording never changes what the function returns or throws', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => warnings.push(`${w.code}: ${w.message}`);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const broken = { observe(): void { throw new Error('observe broke'); } };
  const brokenGauge = { inc(): void { throw new Error('inc broke'); }, dec(): void {} };
  let ran = 0;

  const save = timed(async function save(x: number) { ran++; return `saved ${x}`; }, broken);
  assert.equal(await save(1), 'saved 1');
  assert.equal(await save(2), 'saved 2');
  const fails = timed(() => { throw new RangeError('the real error'); }, broken);
  assert.throws(fails, { name: 'RangeError', message: 'the real error' });
  const rejects = timed(async () => { throw new RangeError('the real rejection'); }, broken);
  await assert.rejects(rejects(), { name: 'RangeError', message: 'the real rejection' });
  const runs = inFlight(() => ++ran, brokenGauge);
  assert.equal(runs(), 3);

  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(warnings.sort(), [
    'SERVABLE_METRIC_RECORDING: Recording a metric of an anonymous function failed: observe broke',
    'SERVABLE_METRIC_RECORDING: Recording a metric of an anonymous function failed: observe broke',
    'SERVABLE_METRIC_RECORDING: Recording a metric of an anonymous function failed: inc broke',
    'SERVABLE_METRIC_RECORDING: Recording a metric of save failed: observe broke',
  ].sort(), 'once per wrapper');
});

test('only real promises are awaited; another thenable is returned untouched and timed as a value', async () => {
  const { seconds, calls, clock } = setup();
  let executed = 0;
  class LazyQuery implements PromiseLike<string[]> {
    where(): this { return this; }
    then<A = string[], B = never>(ok?: ((v: string[]) => A | PromiseLike<A>) | null, ko?: ((e: unknown) => B | PromiseLike<B>) | null): PromiseLike<A | B> {
      executed++;
      return Promise.resolve(['row']).then(ok, ko);
    }
  }
  const query = counted(timed(() => { clock.ms += 5; return new LazyQuery(); }, seconds, { clock, labels: { op: 'q' } }), calls, { labels: { op: 'q' } });
  const built = query();
  assert.ok(built instanceof LazyQuery);
  assert.equal(executed, 0, 'the query did not run');
  assert.deepEqual(await samples(calls), ['{"op":"q"} 1']);
  assert.ok((await samples(seconds)).includes('op_seconds_sum{"op":"q"} 0.005'));
  assert.deepEqual(await built.where(), ['row']);
  assert.equal(executed, 1);

  class Deferred<T> extends Promise<T> {}
  const later = timed(() => new Deferred<number>((resolve) => setImmediate(() => { clock.ms += 50; resolve(7); })), seconds, { clock, labels: { op: 'p' } });
  const pending = later();
  assert.ok(pending instanceof Deferred, 'a promise of the same class');
  assert.equal(await pending, 7);
  assert.ok((await samples(seconds)).includes('op_seconds_sum{"op":"p"} 0.05'));
});

test("a promise's own properties stay on the wrapper's (ky's .json(), promisify(exec)'s .child)", async () => {
  const { seconds, clock } = setup();
  // As ky builds its ResponsePromise and util.promisify(child_process.exec) its result: a native
  // promise with properties of its own, which callers read at once.
  const request = (): Promise<string> & { json(): Promise<unknown>; child: { pid: number } } =>
    Object.assign(Promise.resolve('{"ok":true}'), { json: async () => ({ ok: true }), child: { pid: 42 } });
  const wrapped = timed(request, seconds, { clock, labels: { op: 'ky' } });
  const pending = wrapped();
  assert.equal(pending.child.pid, 42);
  assert.deepEqual(await pending.json(), { ok: true });
  assert.equal(await pending, '{"ok":true}');
  assert.ok((await samples(seconds)).includes('op_seconds_count{"op":"ky"} 1'));

  // A subclass that freezes its instances, then.then()'s among them: its properties stay its own.
  let made = 0;
  class Frozen<T> extends Promise<T> {
    readonly id = ++made;
    constructor(executor: (resolve: (value: T) => void, reject: (error: unknown) => void) => void) {
      super(executor);
      Object.freeze(this);
    }
  }
  const frozen = timed(() => new Frozen<number>((resolve) => resolve(5)), seconds, { clock, labels: { op: 'frozen' } })();
  assert.deepEqual([frozen instanceof Frozen, frozen.id, await frozen], [true, 2, 5]);
});

test("the wrapper's promise keeps its own async_hooks identity: a promise's symbol-keyed properties are not copied", async () => {
  const { seconds, clock } = setup();
  // With any init hook on (AsyncLocalStorage, APM agents), Node keeps each promise's async id,
  // trigger id and stores under symbols of its own: the wrapper's promise has its own.
  const ids = new Map<object, number>();
  const resolved: number[] = [];
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (type === 'PROMISE') ids.set(resource, id);
    },
    promiseResolve(id) {
      resolved.push(id);
    },
  }).enable();
  try {
    const pending = timed(async () => 1, seconds, { clock, labels: { op: 'hooks' } })();
    assert.equal(await pending, 1);
    const own = ids.get(pending);
    assert.equal(typeof own, 'number');
    assert.ok(resolved.includes(own!), `the resolve of the wrapper's promise reported under its own async id ${own}, got ${resolved.join(', ')}`);
  } finally {
    hook.disable();
  }
});

test("a promise's own then(), catch() and finally() are not copied: the caller's handler handles the wrapper's promise", async () => {
  const { seconds, clock } = setup();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    // A promise whose own methods forward to itself: copied, they would hand the caller's
    // handlers to the function's promise and leave the wrapper's rejected with none.
    const failing = (): Promise<never> => {
      const own = Promise.reject(new RangeError('no'));
      return Object.assign(own, {
        then: (ok?: (v: unknown) => unknown, fail?: (e: unknown) => unknown) => Promise.prototype.then.call(own, ok, fail),
        catch: (fail?: (e: unknown) => unknown) => Promise.prototype.catch.call(own, fail),
        finally: (done?: () => void) => Promise.prototype.finally.call(own, done),
      });
    };
    const wrapped = timed(failing, seconds, { clock, labels: { op: 'own-then' } });
    await assert.rejects(wrapped(), RangeError);
    await wrapped().catch(() => undefined);
    await wrapped().finally(() => undefined).catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
    assert.ok((await samples(seconds)).includes('op_seconds_count{"op":"own-then"} 3'));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('a generator is timed, counted and in flight from its first next() until it finishes, throws or is returned', async () => {
  const { seconds, calls, running, clock } = setup();
  const options = { clock, labels: { op: 'gen' }, outcomeLabel: 'outcome' };
  function* rows(this: { step: number }, n: number) {
    for (let i = 0; i < n; i++) {
      clock.ms += this.step;
      if (i === 2 && n === 9) throw new RangeError('row 2');
      yield i;
    }
    return 'done';
  }
  const wrapped = timed(counted(inFlight(rows, running, { labels: { op: 'gen' } }), calls, options), seconds, options);
  assert.equal(Object.getPrototypeOf(wrapped), Object.getPrototypeOf(rows), 'still a generator function');
  const self = { step: 125 };

  const unstarted = wrapped.call(self, 3);
  assert.deepEqual(await samples(running), [], 'nothing runs before the first next()');
  const it = wrapped.call(self, 3);
  assert.deepEqual(it.next(), { value: 0, done: false });
  assert.deepEqual(await samples(running), ['{"op":"gen"} 1']);
  assert.deepEqual([...{ [Symbol.iterator]: () => it }], [1, 2]);
  assert.deepEqual(it.next(), { value: undefined, done: true });
  assert.deepEqual(await samples(running), ['{"op":"gen"} 0']);
  for (const i of wrapped.call(self, 3)) if (i === 1) break; // return(): a success, ended early
  assert.throws(() => [...wrapped.call(self, 9)], { message: 'row 2' });
  assert.deepEqual(unstarted.next(), { value: 0, done: false });
  assert.deepEqual(unstarted.return('early'), { value: 'early', done: true });

  assert.deepEqual(await samples(running), ['{"op":"gen"} 0']);
  assert.deepEqual(await samples(calls), ['{"op":"gen","outcome":"success"} 3', '{"op":"gen","outcome":"failure"} 1']);
  const all = await samples(seconds);
  assert.ok(all.includes('op_seconds_sum{"op":"gen","outcome":"success"} 0.75'), all.join('\n')); // 375 + 250 + 125 ms
  assert.ok(all.includes('op_seconds_sum{"op":"gen","outcome":"failure"} 0.375'), all.join('\n'));
});

test('an async generator is timed and in flight while it is consumed, across its awaits', async () => {
  const { seconds, running, clock } = setup();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  async function* stream(fail: boolean) {
    yield 'a';
    await gate;
    clock.ms += 40;
    if (fail) throw new Error('stream broke');
    yield 'b';
  }
  const wrapped = timed(inFlight(stream, running, { labels: { op: 's' } }), seconds, { clock, labels: { op: 's' }, outcomeLabel: 'outcome' });
  assert.equal(Object.getPrototypeOf(wrapped), Object.getPrototypeOf(stream), 'still an async generator function');

  const ok = wrapped(false);
  const broken = wrapped(true);
  assert.deepEqual(await ok.next(), { value: 'a', done: false });
  assert.deepEqual(await broken.next(), { value: 'a', done: false });
  const pending = [ok.next(), broken.next()];
  assert.deepEqual(await samples(running), ['{"op":"s"} 2']);
  release();
  assert.deepEqual(await pending[0], { value: 'b', done: false });
  await assert.rejects(pending[1]!, { message: 'stream broke' });
  assert.deepEqual(await samples(running), ['{"op":"s"} 1']);
  assert.deepEqual(await ok.next(), { value: undefined, done: true });
  assert.deepEqual(await samples(running), ['{"op":"s"} 0']);
  const all = await samples(seconds);
  assert.ok(all.includes('op_seconds_sum{"op":"s","outcome":"success"} 0.08'), all.join('\n'));
  assert.ok(all.includes('op_seconds_sum{"op":"s","outcome":"failure"} 0.08'), all.join('\n'));
});

test('a bad metric or option of timed/counted throws with code ERR_SERVABLE_INVALID_OPTION', () => {
  assert.throws(() => timed(() => 1, {} as Histogram), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
  assert.throws(() => counted(class Repository {} as unknown as () => void, new Counter({ name: 'code_c', help: 'c', registers: [] })), { name: 'TypeError', code: 'ERR_SERVABLE_INVALID_OPTION' });
});
