/**
 * Shared by the per-engine load scripts (edge-mae-load.ts, tfjs-load.ts, ort-load.ts), each run in
 * a fresh process by load-rss.ts: a timeline of milliseconds since the process started
 * (performance.now() counts from the process's time origin) and the memory at the end — peak RSS
 * (resourceUsage().maxRSS) and, after a full GC, the RSS the loaded model keeps.
 */
export interface LoadReport {
  engine: string;
  /** ms since process start at each step, in order. */
  timeline: Array<[string, number]>;
  /** ms since process start when the first forward's outputs were in JS. */
  firstResultMs: number;
  /** Of which: before the script's own code ran (node start-up, module loading). */
  scriptStartMs: number;
  peakRssBytes: number;
  /** RSS after the first result and a full GC (the model stays alive). */
  steadyRssBytes: number;
  memory: NodeJS.MemoryUsage;
  notes: Record<string, unknown>;
}

const scriptStart = performance.now();
const timeline: Array<[string, number]> = [['script start', scriptStart]];

export function mark(step: string): void {
  timeline.push([step, performance.now()]);
}

/** Call with the model still referenced (so GC keeps it): prints the report as one JSON line. */
export function report(engine: string, notes: Record<string, unknown>, keepAlive: unknown): void {
  const firstResultMs = performance.now();
  timeline.push(['first result', firstResultMs]);
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  const r: LoadReport = { engine, timeline, firstResultMs, scriptStartMs: scriptStart, peakRssBytes, steadyRssBytes: memory.rss, memory, notes };
  process.stdout.write(JSON.stringify(r) + '\n');
  void keepAlive;
  process.exit(0);
}
