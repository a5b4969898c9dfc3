/**
 * Timing helpers shared by the bench sections: command-line flags, sample statistics, and an
 * interleaved runner that measures several engines round-robin (one sample of each per round, the
 * order rotated), so slow drifts of a shared machine's load hit every engine alike.
 */

export interface BenchArgs {
  /** Fewer samples (a smoke run, about a third of the time). */
  quick: boolean;
  /** Where a section writes its JSON result (set by run.ts for its children). */
  out?: string;
  /** Other --key=value flags. */
  flags: Record<string, string>;
}

export function parseArgs(argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  const flags: Record<string, string> = {};
  for (const a of argv) {
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(a);
    if (m) flags[m[1]] = m[2] ?? 'true';
  }
  return { quick: flags.quick === 'true', out: flags.out, flags };
}

export interface Stats {
  /** Milliseconds per call. */
  median: number;
  best: number;
  mean: number;
  /** Median absolute deviation / median: the spread, relative. */
  madRel: number;
  samples: number;
}

export function stats(ms: readonly number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const med = (v: number[]): number => (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2);
  const median = med(s);
  const mad = med(s.map((x) => Math.abs(x - median)).sort((a, b) => a - b));
  return { median, best: s[0], mean: s.reduce((a, b) => a + b, 0) / s.length, madRel: median > 0 ? mad / median : 0, samples: s.length };
}

/** One engine in an interleaved measurement: `run` does one call (sync or async). */
export interface Contender {
  readonly name: string;
  readonly run: () => unknown;
}

/** Milliseconds of one call of `run`, awaited when it returns a promise. */
export async function timeOnce(run: () => unknown): Promise<number> {
  const t0 = performance.now();
  const r = run();
  if (r instanceof Promise) await r;
  return performance.now() - t0;
}

/**
 * Calls per sample so one sample lasts about `targetMs` (short calls are batched: the timer and
 * the scheduler's noise stay small against the sample).
 */
export async function callsPerSample(run: () => unknown, targetMs: number): Promise<number> {
  const t = Math.max(await timeOnce(run), 1e-3);
  return Math.max(1, Math.min(1000, Math.round(targetMs / t)));
}

/**
 * Interleaved measurement: `warmup` rounds untimed, then `samples` rounds; each round takes one
 * sample of every contender (each sample = a number of back-to-back calls lasting about
 * `targetMs`, or one call with `oneCallPerSample`), rotating who goes first. Returns
 * per-contender statistics in ms per call.
 */
export async function interleave(contenders: readonly Contender[], opts: { warmup: number; samples: number; targetMs: number; oneCallPerSample?: boolean }): Promise<Record<string, Stats>> {
  const calls: Record<string, number> = {};
  for (const c of contenders) {
    if (opts.oneCallPerSample) { calls[c.name] = 1; continue; }
    const first = await timeOnce(c.run); // first call: lazy set-up, tier-up
    calls[c.name] = first * 2 >= opts.targetMs ? 1 : await callsPerSample(c.run, opts.targetMs);
  }
  const times: Record<string, number[]> = Object.fromEntries(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < opts.warmup + opts.samples; round++) {
    for (let j = 0; j < contenders.length; j++) {
      const c = contenders[(round + j) % contenders.length];
      const n = calls[c.name];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = c.run();
        if (r instanceof Promise) await r;
      }
      const dt = (performance.now() - t0) / n;
      if (round >= opts.warmup) times[c.name].push(dt);
    }
  }
  return Object.fromEntries(contenders.map((c) => [c.name, stats(times[c.name])]));
}

/** Writes a progress line to stderr (stdout stays for the final table). */
export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** Runs a section's main and writes its JSON result to --out (or stdout). */
export async function sectionMain(name: string, main: (args: BenchArgs) => Promise<unknown>): Promise<void> {
  const args = parseArgs();
  try {
    const result = await main(args);
    const json = JSON.stringify(result, null, 2);
    if (args.out) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(args.out, json + '\n');
    } else {
      process.stdout.write(json + '\n');
    }
    process.exit(process.exitCode ?? 0);
  } catch (e) {
    process.stderr.write(`[bench] ${name} failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  }
}
