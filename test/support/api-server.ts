/**
 * A child process for the handler's load test: the bundled model behind the Node http adapter on
 * an ephemeral loopback port (printed as `listening <port>`), with memory use in /healthz.
 */
import { MaeModel } from '../../src/model.js';
import { createHandler } from '../../src/serve/handler.js';
import { createHttpServer } from '../../src/node/http-adapter.js';
import { DEFAULT_MODEL_DIR } from '../../src/node/paths.js';

const model = await MaeModel.load(DEFAULT_MODEL_DIR);
const maxBodyBytes = Number(process.env.MAX_BODY_BYTES ?? 64 * 1024);
const handler = createHandler({ model, limits: { maxBodyBytes, maxImageSide: 512 }, stats: () => ({ rss: process.memoryUsage().rss }) });
const server = createHttpServer(handler);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.on('SIGTERM', () => { server.close(); model.dispose(); process.exit(0); });
