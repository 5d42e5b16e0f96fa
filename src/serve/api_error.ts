// Errors the HTTP API reports to clients, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
// Anything thrown while handling a request that is not an ApiError becomes a 500 "server_error".

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = "invalid_request_error",
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorBody(e: ApiError): ErrorBody {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

/** The ApiError for anything thrown: ApiErrors pass through, the rest is a 500 with the message. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new ApiError(500, `internal error: ${message}`, "server_error", "internal_error");
}

export function errorResponse(e: ApiError): Response {
  return Response.json(errorBody(e), { status: e.status });
}

export const badRequest = (
  message: string,
  param: string | null = null,
  code: string | null = "invalid_value",
) => new ApiError(400, message, "invalid_request_error", code, param);
