/**
 * The Worker: one model per isolate, loaded on the first request from modules bundled with the
 * script (no file system, no run-time compilation), then edge-mae's fetch handler:
 * POST /reconstruct, /encode, /score (image bytes), GET /healthz.
 */
import { MaeModel, createHandler, type Handler, type Manifest } from 'edge-mae';
import kernels from '../assets/kernels.wasm';
import manifest from '../assets/manifest.json';
import weights from '../assets/model.safetensors';
import config from '../assets/config.json';
import preprocessor from '../assets/preprocessor_config.json';

let handler: Promise<Handler> | undefined;

function load(): Promise<Handler> {
  return MaeModel.load({ config, weights, preprocessor, kernels: { module: kernels, manifest: manifest as unknown as Manifest } })
    .then((model) => createHandler({ model, limits: { maxBodyBytes: 4 * 2 ** 20, maxImageSide: 2048 } }));
}

export default {
  async fetch(request: Request): Promise<Response> {
    handler ??= load();
    return (await handler).fetch(request);
  },
};
