/**
 * The serverless handler: a standard `fetch(request) => Promise<Response>` (Cloudflare Workers,
 * Deno, Bun, Vercel Edge; Node through src/node/http-adapter.ts) around one loaded model.
 *
 *   GET  /healthz       → 200 JSON: model and backend
 *   POST /reconstruct   image bytes → PNG figure (masked | reconstruction | original); losses in headers
 *   POST /encode        image bytes → JSON { embedding, pool }
 *   POST /score         image bytes → JSON { score, loss, repeats, maskRatio }
 *   POST /classify      image bytes → JSON { top: [{ label, probability }], pool } (with a probe head)
 *
 * Query parameters: mask_ratio, seed, scale (reconstruct), pool (encode), repeats (score), top (classify).
 * Bad input gets a 4xx JSON { error } naming the problem; bodies and image sizes are bounded.
 * Requests run one at a time on the model (its kernels share scratch memory), in arrival order;
 * at most maxPendingRequests are admitted at once, and more get 503 with Retry-After.
 */
import { MaeModel } from '../model.js';
import { EdgeMaeError, UsageError } from '../errors.js';
import { decodeImage } from '../image/decode.js';
import { type ImageSize, imageSize } from '../image/image-size.js';
import { encodePng } from '../image/encode-png.js';
import { checkImageSize, preprocessImage } from '../image/preprocess.js';
import { reconstruct } from '../jobs/reconstruct.js';
import { renderFigure } from '../jobs/figure.js';
import { score } from '../jobs/score.js';
import { embed } from '../jobs/embed.js';
import { type ProbeHead, checkProbeHead, probeProbabilities, topClasses } from '../probe/head.js';

export interface HandlerLimits {
  /** Largest request body, bytes (default 8 MiB). */
  maxBodyBytes: number;
  /** Largest image side, pixels (default 4096). */
  maxImageSide: number;
  /** Most random masks for /score (default 32). */
  maxRepeats: number;
  /**
   * Most model requests admitted at once: being read, decoded, waiting for the model or on it
   * (default 32). One more is answered 503 with Retry-After before its body is read.
   */
  maxPendingRequests: number;
}

export interface HandlerOptions {
  model: MaeModel;
  limits?: Partial<HandlerLimits>;
  /**
   * A linear-probe head for this model (parseProbeHead(bytes) of an `edge-mae probe` head; in Node
   * findProbeHead(modelDir) reads the folder's probe-head.safetensors): adds POST /classify.
   */
  head?: ProbeHead;
  /** Extra fields for /healthz (the Node adapter adds memory use). */
  stats?: () => Record<string, unknown>;
}

export interface Handler {
  fetch(request: Request): Promise<Response>;
}

export const DEFAULT_LIMITS: HandlerLimits = { maxBodyBytes: 8 * 2 ** 20, maxImageSide: 4096, maxRepeats: 32, maxPendingRequests: 32 };

/** Seconds a client refused for a full queue is told to wait. */
const RETRY_AFTER_S = 1;

/** A client error (or a full queue): becomes a 4xx (503) JSON response. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

function numberParam(url: URL, name: string, check: (v: number) => boolean, rule: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !check(v)) throw new HttpError(400, `query parameter '${name}' ${rule}, got '${raw}'`);
  return v;
}

/** Reads the body up to the limit, refusing larger ones without buffering them. */
async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, `body of ${declared} bytes exceeds the ${limit}-byte limit`);
  if (!request.body) throw new HttpError(400, 'empty body: send the image bytes (PNG or JPEG)');
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      // The client went away or sent a broken body (bad chunked encoding, cut short).
      throw new HttpError(400, `request body could not be read: ${(e as Error).message}`);
    }
    const { done, value } = chunk;
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new HttpError(413, `body exceeds the ${limit}-byte limit`);
    }
    chunks.push(value);
  }
  if (size === 0) throw new HttpError(400, 'empty body: send the image bytes (PNG or JPEG)');
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

/** The options, checked: a loaded model and positive integer limits, or a UsageError now rather than a 500 per request. */
function checkOptions(opts: HandlerOptions | undefined): HandlerLimits {
  if (!(opts?.model instanceof MaeModel)) throw new UsageError('createHandler: options.model must be a loaded MaeModel (await MaeModel.load(...))');
  const limits: HandlerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  for (const name of Object.keys(DEFAULT_LIMITS) as Array<keyof HandlerLimits>) {
    const v = limits[name];
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`createHandler: limits.${name} must be a positive integer, got ${v}`);
  }
  if (opts.head !== undefined) {
    try {
      checkProbeHead(opts.head, 'createHandler: options.head');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (opts.head.dim !== opts.model.config.hiddenSize) {
      throw new UsageError(`createHandler: options.head was fitted on ${opts.head.dim}-dimensional features, but the model's hidden size is ${opts.model.config.hiddenSize}`);
    }
  }
  return limits;
}

export function createHandler(opts: HandlerOptions): Handler {
  const limits = checkOptions(opts);
  const { model } = opts;
  /** Model requests admitted and not yet answered. */
  let pending = 0;
  let queue: Promise<unknown> = Promise.resolve();
  /** Runs jobs on the model one at a time. */
  const exclusive = <T>(job: () => Promise<T>): Promise<T> => {
    const run = queue.then(job, job);
    queue = run.catch(() => undefined);
    return run;
  };

  const pixelsOf = (bytes: Uint8Array): Float32Array => {
    const size = imageSize(bytes);
    if (size && (size.width > limits.maxImageSide || size.height > limits.maxImageSide)) {
      throw new HttpError(413, `image is ${size.width}×${size.height}, larger than the ${limits.maxImageSide}-pixel limit per side`);
    }
    // Without a size, decodeImage fails at the header; with one, it checks the size again (the
    // limit, and whether the model takes it) before decoding anything.
    const name = 'request body';
    const fitsModel = (s: ImageSize) => checkImageSize(s, model.preprocessor, name);
    const img = decodeImage(bytes, name, { maxSide: limits.maxImageSide, checkSize: fitsModel });
    return preprocessImage(img, model.preprocessor, model.config.numChannels as 1 | 3);
  };

  const routes: Record<string, (url: URL, body: Uint8Array) => Promise<Response>> = {
    '/reconstruct': async (url, body) => {
      const maskRatio = numberParam(url, 'mask_ratio', (v) => v >= 0 && v < 1, 'must be a number in [0, 1)');
      const seed = numberParam(url, 'seed', (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32, 'must be an integer in [0, 2^32)');
      const scale = numberParam(url, 'scale', (v) => Number.isInteger(v) && v >= 1 && v <= 16, 'must be an integer from 1 to 16');
      const pixels = pixelsOf(body);
      const [row] = await exclusive(() => reconstruct(model, pixels, model.preprocessor, { batch: 1, maskRatio, seed }));
      const fig = renderFigure([row], { scale });
      return new Response(encodePng(fig.data, fig.width, fig.height, 3) as Uint8Array<ArrayBuffer>, {
        status: 200,
        headers: { 'content-type': 'image/png', 'x-loss': String(row.loss), 'x-loss-norm-pix': String(row.lossNormPix) },
      });
    },
    '/encode': async (url, body) => {
      const pool = url.searchParams.get('pool') ?? 'mean';
      if (pool !== 'mean' && pool !== 'cls') throw new HttpError(400, `query parameter 'pool' must be mean or cls, got '${pool}'`);
      const pixels = pixelsOf(body);
      const embedding = await exclusive(() => embed(model, pixels, { batch: 1, pool }));
      return json(200, { pool, dim: embedding.length, embedding: Array.from(embedding) });
    },
    '/score': async (url, body) => {
      // A score is the loss on removed patches: a ratio that removes none leaves nothing to score.
      const maskRatio = numberParam(url, 'mask_ratio', (v) => v > 0 && v < 1, 'must be a number in (0, 1) for a score (at least one patch removed)');
      const seed = numberParam(url, 'seed', (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32, 'must be an integer in [0, 2^32)');
      const repeats = numberParam(url, 'repeats', (v) => Number.isInteger(v) && v >= 1 && v <= limits.maxRepeats, `must be an integer from 1 to ${limits.maxRepeats}`) ?? 1;
      const pixels = pixelsOf(body);
      const [s] = await exclusive(() => score(model, pixels, { batch: 1, maskRatio, seed, repeats }));
      return json(200, { score: s.score, loss: s.loss, repeats, maskRatio: maskRatio ?? model.config.maskRatio });
    },
  };
  const { head } = opts;
  if (head) {
    routes['/classify'] = async (url, body) => {
      const K = head.classes.length;
      const top = numberParam(url, 'top', (v) => Number.isInteger(v) && v >= 1 && v <= K, `must be an integer from 1 to ${K} (the head's classes)`) ?? Math.min(5, K);
      const pixels = pixelsOf(body);
      const features = await exclusive(() => embed(model, pixels, { batch: 1, pool: head.pool }));
      const scores = topClasses(head, probeProbabilities(head, features, 1), 0, top);
      return json(200, { top: scores.map((t) => ({ label: t.label, probability: t.probability })), pool: head.pool, classes: K });
    };
  }
  const routeList = `POST ${Object.keys(routes).join(', ')}; GET /healthz`;

  return {
    async fetch(request: Request): Promise<Response> {
      try {
        const url = new URL(request.url);
        if (url.pathname === '/healthz') {
          if (request.method !== 'GET' && request.method !== 'HEAD') throw new HttpError(405, `${request.method} /healthz: use GET`);
          const c = model.config;
          return json(200, {
            status: 'ok',
            backend: model.backendDescription,
            model: { image_size: c.imageSize, patch_size: c.patchSize, num_channels: c.numChannels, hidden_size: c.hiddenSize, mask_ratio: c.maskRatio },
            ...(head ? { probe_head: { classes: head.classes, pool: head.pool } } : {}),
            ...opts.stats?.(),
          });
        }
        const route = routes[url.pathname];
        if (!route) {
          const why = url.pathname === '/classify' ? ': this handler has no probe head (createHandler({ model, head }); edge-mae probe writes one)' : '';
          throw new HttpError(404, `no route ${url.pathname}${why} (${routeList})`);
        }
        if (request.method !== 'POST') throw new HttpError(405, `${request.method} ${url.pathname}: use POST with the image bytes`);
        if (pending >= limits.maxPendingRequests) {
          throw new HttpError(503, `busy: ${pending} requests already admitted (limit ${limits.maxPendingRequests}); retry after ${RETRY_AFTER_S} s`, { 'retry-after': String(RETRY_AFTER_S) });
        }
        pending++;
        try {
          return await route(url, await readBody(request, limits.maxBodyBytes));
        } finally {
          pending--;
        }
      } catch (e) {
        if (e instanceof HttpError) return json(e.status, { error: e.message }, e.headers);
        // Typed errors come from the request's content (an unreadable image, a bad parameter).
        if (e instanceof EdgeMaeError) return json(e.name === 'KernelError' ? 500 : 400, { error: e.message });
        return json(500, { error: 'internal error' });
      }
    },
  };
}
