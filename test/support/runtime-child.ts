/**
 * `node runtime-child.js node|edge-runtime PROJECT ASSETS`: the handler served by Node, or by the
 * edge-runtime VM running the project's edge-light bundle, in a process of its own; prints
 * `listening <port> <backend>` and stops on SIGTERM (see startChildRuntime).
 */
import { type RuntimeServer, bundleEdgeFunction, startEdgeRuntime, startNode } from './runtimes.js';

const [name, project, dir] = process.argv.slice(2);
const assets = { dir, maskRatios: [] };
const server: RuntimeServer = name === 'edge-runtime' ? await startEdgeRuntime(await bundleEdgeFunction(project), assets) : await startNode(assets);
process.stdout.write(`listening ${new URL(server.url).port} ${server.backend}\n`);
process.on('SIGTERM', () => { void server.stop().then(() => process.exit(0)); });
