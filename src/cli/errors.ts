/** Exit codes of `ocf` (documented in the README). `exec` exits with the remote command's code. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  unreachable: 3,
  unauthorized: 4,
  notFound: 5,
  offline: 6,
  timeout: 124,
} as const;

/** An error the CLI reports as one line, exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
    this.name = "CliError";
  }
}
