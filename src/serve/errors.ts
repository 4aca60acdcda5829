/**
 * API errors: every failure the server reports is one of these, rendered as
 *
 *   {"error": {"message": "...", "type": "invalid_request_error", "param": "documents[3].sid", "code": "..."}}
 *
 * (OpenAI's error shape, which Cohere- and Jina-style clients also read). Client mistakes are
 * 4xx and name the offending field in `param`; only the server's own faults are 5xx.
 */

export type ErrorType =
  | "invalid_request_error"
  | "not_found_error"
  | "method_not_allowed"
  | "request_too_large"
  | "rate_limit_error"
  | "timeout_error"
  | "service_unavailable"
  | "not_implemented"
  | "server_error";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly param?: string,
    readonly code?: string,
    /** Extra response headers (e.g. Allow for 405, Retry-After for 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): { error: { message: string; type: ErrorType; param?: string; code?: string } } {
    return {
      error: {
        message: this.message,
        type: this.type,
        ...(this.param !== undefined ? { param: this.param } : {}),
        ...(this.code !== undefined ? { code: this.code } : {}),
      },
    };
  }
}

/** 400 naming the field (`param` is a path such as `documents[2].id`). */
export const badRequest = (param: string | undefined, message: string, code?: string): ApiError => new ApiError(400, "invalid_request_error", message, param, code);

export const notFound = (message: string): ApiError => new ApiError(404, "not_found_error", message);

export const modelNotFound = (requested: string, served: string): ApiError =>
  new ApiError(404, "invalid_request_error", `model ${JSON.stringify(requested)} does not exist; this server serves ${JSON.stringify(served)}`, "model", "model_not_found");

export const methodNotAllowed = (method: string, path: string, allowed: readonly string[]): ApiError =>
  new ApiError(405, "method_not_allowed", `${method} is not allowed on ${path}; use ${allowed.join(" or ")}`, undefined, undefined, { Allow: allowed.join(", ") });

export const tooLarge = (limit: number): ApiError => new ApiError(413, "request_too_large", `request body exceeds ${limit} bytes`, undefined, "body_too_large");

export const queueFull = (depth: number): ApiError =>
  new ApiError(429, "rate_limit_error", `server is at capacity (${depth} requests queued); retry shortly`, undefined, "queue_full", { "Retry-After": "1" });

export const timedOut = (ms: number): ApiError => new ApiError(504, "timeout_error", `request did not complete within ${ms} ms`, undefined, "timeout");

export const draining = (): ApiError => new ApiError(503, "service_unavailable", "server is shutting down", undefined, "draining", { Connection: "close" });

export const serverError = (message: string): ApiError => new ApiError(500, "server_error", message);

/** A request the client dropped before it was answered (nothing is sent; counted as 499). */
export class CancelledError extends Error {
  constructor() {
    super("client closed the request");
  }
}
