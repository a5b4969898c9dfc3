/**
 * WebAssembly objects recognised by their brand, not by `instanceof`: a module or memory made in
 * another realm (Vercel's edge runtime compiles `?module` imports in the host and hands them into
 * the VM; iframes; node:vm) is not an instance of this realm's constructor, but it carries the same
 * internal slot, which Object.prototype.toString reports.
 */
const brand = (v: unknown): string => Object.prototype.toString.call(v);

/** A WebAssembly.Module from any realm. */
export function isWasmModule(v: unknown): v is WebAssembly.Module {
  return brand(v) === '[object WebAssembly.Module]';
}

/** A WebAssembly.Memory from any realm. */
export function isWasmMemory(v: unknown): v is WebAssembly.Memory {
  return brand(v) === '[object WebAssembly.Memory]';
}
