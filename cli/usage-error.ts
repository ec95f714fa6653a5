/**
 * A command line the CLI cannot run: a bad flag, a bad value, a missing argument. `flag` names
 * what was wrong ("--port", "host"), so the message a person sees points at it. Exit code 2.
 */
export class UsageError extends Error {
  override readonly name = "UsageError";
  constructor(
    readonly flag: string,
    readonly problem: string,
  ) {
    super(`${flag}: ${problem}`);
  }
}
