// Errors a user can act on, shared by every layer (io, model, backends, engine, chat, cli, serve). The CLI
// prints `message` on one line and exits with `exitCode`; anything else is a bug.

export class OssiError extends Error {
  override name = "OssiError";
  /** Exit status the CLI uses for this error. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** A file we were asked to read is malformed (truncated, bad header, wrong dtype or shape). */
export class FormatError extends OssiError {
  override name = "FormatError";
}

/** A required file, tensor or config key is absent. */
export class MissingError extends OssiError {
  override name = "MissingError";
}

/** A model file changed on disk after it was loaded (its mapping may no longer be readable). */
export class ModelChangedError extends OssiError {
  override name = "ModelChangedError";
}
