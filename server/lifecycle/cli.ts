/** What a command-line tool prints and exits with for an error it knows. */
export interface CliFailure {
  message: string;
  code: number;
}

/**
 * Runs a command-line tool's `main` on the process arguments and sets the exit code (never
 * process.exit, so pending output is flushed). An error `explain` knows prints its message;
 * any other prints `error: <message>` and exits 1.
 */
export function runCli(main: (argv: string[]) => Promise<number>, explain: (error: unknown) => CliFailure | undefined): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const known = explain(error);
      process.stderr.write(known?.message ?? `error: ${(error as Error)?.message ?? String(error)}\n`);
      process.exitCode = known?.code ?? 1;
    },
  );
}
