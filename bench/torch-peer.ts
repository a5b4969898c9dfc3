/**
 * The PyTorch peer (bench/torch_mae.py) as child processes of Debian's /usr/bin/python3: whether
 * python3-torch is there, which BLAS it runs on, a one-shot golden check, and a long-lived
 * `serve` process per thread count that times full passes on request (one JSON line each way).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Debian's interpreter: python3-torch is built for it, not for a pyenv python3 on PATH. */
export const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'torch_mae.py');
export const TORCH_MISSING = "not run: Debian's python3-torch is not installed (apt-get install python3-torch)";

/**
 * OpenBLAS's folder when a Debian libopenblas0 variant is installed (openmp first: its threads
 * follow torch.set_num_threads, as torch's own OpenMP pool does). It goes first on
 * LD_LIBRARY_PATH, so the peer runs on OpenBLAS whatever the system's libblas.so.3 alternative
 * is (reference BLAS, the goldens' BLAS, is ~15× slower on these GEMMs).
 */
export function openBlasDir(): string | undefined {
  return ['openblas-openmp', 'openblas-pthread'].map((d) => `/usr/lib/x86_64-linux-gnu/${d}`).find((d) => existsSync(join(d, 'libblas.so.3')));
}

/** Undefined when torch imports; else the reason the peer is not run. */
export function torchMissing(): string | undefined {
  if (!existsSync(PYTHON)) return TORCH_MISSING;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
  return r.status === 0 ? undefined : TORCH_MISSING;
}

/** The child's environment: the thread count pinned for OpenMP and OpenBLAS, OpenBLAS preferred. */
function peerEnv(threads: number): NodeJS.ProcessEnv {
  const blas = openBlasDir();
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  if (blas) env.LD_LIBRARY_PATH = [blas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return env;
}

export interface TorchCheck {
  loss: number;
  loss_norm_pix: number;
  pos_table_max_abs_diff: number;
  pred_max_abs_diff?: number;
  mask_equal?: boolean;
}

/** torch_mae.py check: the peer's losses on a golden io file (its pixel_values and noise). */
export function torchCheck(model: string, io: string): TorchCheck {
  const r = spawnSync(PYTHON, [SCRIPT, 'check', '--model', model, '--io', io], { env: peerEnv(1), encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`torch_mae.py check failed (${r.status ?? r.signal}): ${r.stderr.slice(-500)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchCheck;
}

export interface PassResult {
  seconds: number;
  /** CPU time of the engine's process (all its threads) during the pass. */
  cpu_seconds: number;
  loss: number;
  loss_norm_pix: number;
}

/** A `torch_mae.py serve` process: loaded and warmed up once, then one pass per `pass()`. */
export class TorchServer {
  private constructor(private readonly child: ChildProcess, private readonly lines: AsyncIterator<string>, readonly ready: Record<string, unknown>) {}

  static async start(model: string, data: string, batch: number, threads: number): Promise<TorchServer> {
    const child = spawn(PYTHON, [SCRIPT, 'serve', '--model', model, '--data', data, '--batch', String(batch), '--threads', String(threads)], {
      env: peerEnv(threads), stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw new Error(`torch_mae.py serve (${threads} threads) exited before it was ready`);
    const ready = (JSON.parse(first.value) as { ready: Record<string, unknown> }).ready;
    return new TorchServer(child, lines, ready);
  }

  async pass(): Promise<PassResult> {
    this.child.stdin!.write('pass\n');
    const line = await this.lines.next();
    if (line.done) throw new Error('torch_mae.py serve exited during a pass');
    const r = JSON.parse(line.value) as PassResult & { error?: string };
    if (r.error) throw new Error(`torch_mae.py serve: ${r.error}`);
    return r;
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((done) => this.child.once('exit', () => done()));
    this.child.stdin!.end('quit\n');
    await exited;
  }
}
