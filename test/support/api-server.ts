/**
 * A child process for the handler's tests: the bundled model behind the Node http adapter on an
 * ephemeral loopback port (printed as `listening <port>`), with memory use in /healthz (after a
 * full GC when run with --expose-gc). HANDLER_LIMITS and HTTP_LIMITS (JSON) override limits.
 */
import { MaeModel } from '../../src/node/index.js';
import { type HandlerLimits, createHandler } from '../../src/serve/handler.js';
import { type HttpServerLimits, createHttpServer } from '../../src/node/http-adapter.js';
import { DEFAULT_MODEL_DIR } from '../../src/node/paths.js';

const model = await MaeModel.load(DEFAULT_MODEL_DIR);
const maxBodyBytes = Number(process.env.MAX_BODY_BYTES ?? 64 * 1024);
const handlerLimits = JSON.parse(process.env.HANDLER_LIMITS ?? '{}') as Partial<HandlerLimits>;
const httpLimits = JSON.parse(process.env.HTTP_LIMITS ?? '{}') as Partial<HttpServerLimits>;
const gc = (globalThis as { gc?: () => void }).gc;
const memory = (): Record<string, number> => {
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
};
const handler = createHandler({ model, limits: { maxBodyBytes, maxImageSide: 512, ...handlerLimits }, stats: memory });
const server = createHttpServer(handler, httpLimits);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.on('SIGTERM', () => { server.close(); model.dispose(); process.exit(0); });
