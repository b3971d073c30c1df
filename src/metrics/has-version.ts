/** Whether a registry still has that version of the model, in any state. */
export function hasVersion(registry: { list(): readonly { readonly name: string; readonly version: string }[] }, model: string, version: string): boolean {
  return registry.list().some((v) => v.name === model && v.version === version);
}
