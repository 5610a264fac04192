/**
 * Output for a model's context: short enough to be useful, honest about what was left out.
 * Long text keeps its head and tail (on line boundaries when possible) with the byte counts.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function byteLength(text: string): number {
  return encoder.encode(text).length;
}

/** Cut `text` to at most `bytes` bytes without splitting a character. */
function headBytes(text: string, bytes: number): string {
  const encoded = encoder.encode(text);
  if (encoded.length <= bytes) return text;
  return decoder.decode(encoded.subarray(0, bytes)).replace(/\uFFFD+$/, "");
}

function tailBytes(text: string, bytes: number): string {
  const encoded = encoder.encode(text);
  if (encoded.length <= bytes) return text;
  return decoder.decode(encoded.subarray(encoded.length - bytes)).replace(/^\uFFFD+/, "");
}

/**
 * `text` itself when it fits in `budget` bytes; otherwise about 60 % head and 40 % tail with a line
 * in between saying how many bytes were left out of how many.
 */
export function summarizeText(text: string, budget: number): string {
  const total = byteLength(text);
  if (total <= budget) return text;
  let head = headBytes(text, Math.floor(budget * 0.6));
  let tail = tailBytes(text, Math.floor(budget * 0.4));
  // Prefer whole lines: drop a partial last line of the head and a partial first line of the tail.
  const headCut = head.lastIndexOf("\n");
  if (headCut > head.length / 2) head = head.slice(0, headCut + 1);
  const tailCut = tail.indexOf("\n");
  if (tailCut >= 0 && tailCut < tail.length / 2) tail = tail.slice(tailCut + 1);
  const omitted = total - byteLength(head) - byteLength(tail);
  const joiner = head.endsWith("\n") ? "" : "\n";
  return `${head}${joiner}[... ${omitted} of ${total} bytes omitted ...]\n${tail}`;
}
