/**
 * edge-mae: Masked Autoencoders (ViT-MAE) on generated WebAssembly SIMD kernels.
 * Everything here runs without a file system (browsers, Workers, Deno): load models from bytes
 * with MaeModel.load({ config, weights, kernels }). The Node entry (src/node/index.ts) adds folders.
 */
export { MaeModel } from './model.js';
export type { ForwardOptions, ForwardResult, EncodeOptions, LoadOptions, ModelSource, BytesSource } from './model.js';
export { type MaeConfig, type MaeShapes, parseConfig, preset, PRESET_NAMES, shapesOf, lenKeep, toHfJson } from './config.js';
export { SafetensorsFile, encodeSafetensors, type TensorToWrite, type TensorInfo, type DType } from './safetensors.js';
export { loadWeights, type MaeWeights, type BlockWeights } from './weights.js';
export { sincos2dPositionEmbedding } from './pos-embed.js';
export { patchify, unpatchify } from './patchify.js';
export { randomMasking, seededNoise, type Masking } from './masking.js';
export { forwardLoss, maskedMse, normPixTarget } from './loss.js';
export type { Manifest } from './manifest.js';
export type { KernelModule } from './backend/wasm.js';
export type { MaeBackend } from './backend/backend.js';
export * from './errors.js';
export { chooseSimd, relaxedSimdSupported, type SimdVariant } from './simd-support.js';

// Images in, pictures out.
export { type RawImage, type DecodeLimits, decodeImage as loadImage } from './image/decode.js';
export { type ImageSize, imageSize } from './image/image-size.js';
export { type PreprocessorConfig, parsePreprocessorConfig, preprocessImage, checkImageSize } from './image/preprocess.js';
export { encodePng } from './image/encode-png.js';
export { preprocess } from './jobs/preprocess.js';
export { reconstruct, type Reconstruction, type ReconstructOptions } from './jobs/reconstruct.js';
export { renderFigure, type FigureOptions } from './jobs/figure.js';
export { score, type ImageScore, type ScoreOptions } from './jobs/score.js';
export { embed as encode, type Pooling } from './jobs/embed.js';
export type { Image8 } from './jobs/display.js';
export { parseIdx, fashionMnistImage, fashionMnistLabel, FASHION_MNIST_CLASSES } from './data/fashion-mnist.js';

// Linear probing and classification (pooled encoder features → logistic regression head).
export { type ProbeHead, type ClassScore, PROBE_HEAD_FILE, encodeProbeHead, parseProbeHead, probeProbabilities, probePredictions, topClasses } from './probe/head.js';
export { classify } from './probe/classify.js';
export { runLinearProbe, DEFAULT_L2_GRID, type ProbeInput, type ProbeOptions, type ProbeReport, type ProbeResult, type ProbeSet } from './probe/probe.js';
export { fitLogistic, lbfgs, softmaxObjective, type LogisticFit, type LbfgsOptions, type LbfgsResult, type Objective } from './probe/logistic.js';

// Serving: a fetch-style handler for Workers, Deno, Bun, Vercel Edge (Node: src/node/http-adapter).
export { createHandler, DEFAULT_LIMITS, type Handler, type HandlerOptions, type HandlerLimits } from './serve/handler.js';
