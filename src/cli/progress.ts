/** Progress of a long job: a bar (cli-progress) on a terminal, a few plain lines otherwise (logs, CI). */
import cliProgress from 'cli-progress';

export interface Progress {
  tick(n: number): void;
  stop(): void;
}

export function progress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} images | {eta_formatted} left`, stream, hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(total, 0);
    return { tick: (n) => bar.increment(n), stop: () => bar.stop() };
  }
  let done = 0;
  let next = Math.max(1, Math.ceil(total / 10));
  return {
    tick(n) {
      done += n;
      if (done >= next || done === total) {
        stream.write(`${label}: ${done}/${total} images\n`);
        while (next <= done) next += Math.max(1, Math.ceil(total / 10));
      }
    },
    stop() {},
  };
}
