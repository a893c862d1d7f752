/**
 * The store cannot take writes right now (its backend is unreachable). Nothing of
 * the batch was acknowledged: the HTTP API answers 503, and the registry holds a
 * source's events and retries them with backoff until the store is back.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** True for a StoreUnavailableError, also one thrown by another copy of this package. */
export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError || (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'STORE_UNAVAILABLE');
}
