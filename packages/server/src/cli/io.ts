/**
 * The CLI's view of its surroundings (output streams, environment, working
 * directory), passed in so commands can be run in-process by tests.
 */

/** Output streams, environment and working directory of a CLI run. */
export interface CliIo {
  /** Writes to standard output (text includes its own newlines). */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Writes raw bytes to standard output (binary function answers); text-only test ios leave it out. */
  stdoutBytes?(bytes: Uint8Array): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** The real process's streams, environment and working directory. */
export function processIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    stdoutBytes: (bytes) => void process.stdout.write(bytes),
    env: process.env,
    cwd: process.cwd(),
  };
}
