/** Label selectors: a node matches when it has every key=value of the selector. */
import type { Labels } from "../protocol/messages.js";

export function labelsMatch(labels: Labels, selector: Labels): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}
