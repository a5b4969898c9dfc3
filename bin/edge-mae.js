#!/usr/bin/env node
// The CLI entry: runs the compiled TypeScript in dist/ (built by `npm install` / `npm run build`).
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('edge-mae: not built yet; run `npm install` (or `npm run build`) in the package folder\n');
  process.exit(1);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
