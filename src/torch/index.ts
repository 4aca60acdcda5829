/** The engine's public face: `import * as torch from "gr2/torch"` style access to everything. */
export * from "./dtype.js";
export { Tensor, tidy, keep, dispose, liveTensors, withTemp, fromHandle } from "./tensor.js";
export * from "./create.js";
export * from "./ops.js";
export * from "./autograd.js";
export * from "./runtime.js";
export * from "./optim.js";
export * from "./safetensors.js";
