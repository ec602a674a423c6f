// Errors of the testkit. Every one names the tool, what it was asked to do
// and what to try next, and carries the tool's own output where there is one.

export class TestkitError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestkitError';
  }
}

/** An external program the test needs is not installed. */
export class ToolNotFoundError extends TestkitError {
  readonly tool: string;
  constructor(tool: string, hint: string, options?: { cause?: unknown }) {
    super(`${tool} was not found on PATH (${process.env.PATH ?? ''}); ${hint}`, options);
    this.name = 'ToolNotFoundError';
    this.tool = tool;
  }
}

/** An external program exited with a failure, or could not be started. */
export class ToolFailedError extends TestkitError {
  readonly tool: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly output: string;
  constructor(tool: string, args: readonly string[], exitCode: number | null, signal: string | null, output: string, options?: { cause?: unknown }) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    super(`${tool} ${how}: ${tool} ${args.join(' ')}\n${output.trim() || '(no output)'}`, options);
    this.name = 'ToolFailedError';
    this.tool = tool;
    this.exitCode = exitCode;
    this.signal = signal;
    this.output = output;
  }
}

/** An external program did not finish, or did not become ready, in time. */
export class ToolTimeoutError extends TestkitError {
  readonly tool: string;
  readonly timeoutMs: number;
  readonly output: string;
  constructor(tool: string, what: string, timeoutMs: number, output: string, options?: { cause?: unknown }) {
    super(`${tool} ${what} within ${timeoutMs} ms; its output so far:\n${output.trim() || '(no output)'}`, options);
    this.name = 'ToolTimeoutError';
    this.tool = tool;
    this.timeoutMs = timeoutMs;
    this.output = output;
  }
}
