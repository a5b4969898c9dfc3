/**
 * The page-fault floor of loading: how long a fresh process takes just to make a memory of
 * vit-mae-base's size resident — the cost any engine pays to hold the weights in its own memory,
 * whatever it computes. `--how=fill`: one thread writes every byte (what packing on one thread
 * pays); `--how=prefault`: edge-mae's prefaultMemory (reads of /dev/zero from libuv's threads).
 * Spawned by load-rss.ts: `node dist/bench/fault-floor.js --pages=N --how=fill|prefault`; prints
 * one JSON line { how, bytes, ms }.
 */
import { prefaultMemory } from '../src/node/prefault.js';
import { parseArgs } from './timing.js';

const args = parseArgs();
const pages = Number(args.flags.pages);
const how = args.flags.how;
const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
const t0 = performance.now();
if (how === 'fill') new Uint8Array(memory.buffer).fill(1);
else if (how === 'prefault') await prefaultMemory(memory, [[0, memory.buffer.byteLength]]).done;
else throw new Error(`--how must be fill or prefault, got ${how}`);
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ how, bytes: memory.buffer.byteLength, ms }) + '\n');
