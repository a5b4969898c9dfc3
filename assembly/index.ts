// The hand-written core as one entry, for building it alone with the project's compiler options:
//   npx asc assembly/index.ts --config asconfig.json --target simd128 -o core.wasm
// Generated kernels import these modules one by one (as core/<name>); nothing imports this file.
// The exports make asc compile every function; its AS112 warnings (v128 at an export) are expected.
export * from './simd';
export * from './gelu';
export * from './layernorm';
export * from './softmax';
export * from './tokens';
export * from './pack';
export * from './layernorm_backward';
export * from './gelu_backward';
export * from './loss';
export * from './colsum';
export * from './tokens_backward';
