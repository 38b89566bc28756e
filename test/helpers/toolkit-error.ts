import { ToolkitError } from '../../src/errors.js';

/** The ToolkitError `fn` throws; anything else it throws, or nothing thrown, fails the test. */
export function toolkitErrorOf(fn: () => unknown): ToolkitError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ToolkitError) return e;
    throw e;
  }
  throw new Error('expected a ToolkitError');
}
