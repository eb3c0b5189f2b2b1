// Error helpers every part of the code base may use: the message of an unknown throwable,
// and a context prefix added once to an error without changing its class.

/** `err.message`, for error text built from unknown throwables. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Prefixes `context` to an error's message (once), keeping its class so callers can still
 * tell an AuthError from a NotFoundError. Non-errors become Errors.
 */
export function withContext(err: unknown, context: string): Error {
  if (!(err instanceof Error)) return new Error(`${context}: ${String(err)}`);
  if (!err.message.startsWith(context)) {
    err.message = `${context}: ${err.message}`;
  }
  return err;
}
