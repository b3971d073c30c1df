/** An emitter listeners can be added to and removed from by event name. */
export interface Listenable {
  on(...args: never[]): unknown;
  off(...args: never[]): unknown;
}

type Listener = (event: never) => void;

/** Adds each of `listeners` to `source` under its event's name; the function returned removes them all. */
export function listen(source: Listenable, listeners: Readonly<Record<string, Listener>>): () => void {
  const emitter = source as unknown as { on(event: string, fn: Listener): unknown; off(event: string, fn: Listener): unknown };
  const entries = Object.entries(listeners);
  for (const [event, fn] of entries) emitter.on(event, fn);
  return () => {
    for (const [event, fn] of entries) emitter.off(event, fn);
  };
}
