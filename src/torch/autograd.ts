/** Grad-mode switches. Tensors computed under `noGrad` record no graph (inference, updates). */
import { native } from "./native.js";

/** Runs fn with autograd recording off, restoring the previous mode afterwards. */
export function noGrad<R>(fn: () => R): R {
  const prev = native.setGradEnabled(false) as boolean;
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled() as boolean;
}
