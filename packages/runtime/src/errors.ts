// Base errors shared by every package. Each package adds its own named
// classes in its errors.ts; all set `name` and carry `cause`.

export class FlowhoundError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlowhoundError';
  }
}

/** A configuration value is missing or invalid; the message names the key. */
export class ConfigError extends FlowhoundError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** A component failed to start or stop. */
export class ComponentError extends FlowhoundError {
  readonly component: string;
  constructor(component: string, message: string, options?: { cause?: unknown }) {
    super(`${component}: ${message}`, options);
    this.name = 'ComponentError';
    this.component = component;
  }
}
