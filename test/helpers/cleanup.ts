// Stops what a test started, after each test, in reverse order of start.
import { afterEach } from "vitest";

export interface Stoppable {
  stop(): Promise<void>;
}

/** Call in a describe (or at file level); returns track(resource), which stops it after each test. */
export function stopAfterEach(): <T extends Stoppable>(resource: T) => T {
  const started: Stoppable[] = [];
  afterEach(async () => {
    const errors: unknown[] = [];
    for (const resource of started.splice(0).reverse()) {
      try {
        await resource.stop();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "stopping test resources failed");
  });
  return (resource) => {
    started.push(resource);
    return resource;
  };
}
