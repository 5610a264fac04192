/**
 * Untrusted text. A peer may send any characters; some of them steer a terminal or reorder what a
 * person reads: C0 controls (U+0000–U+001F: carriage return, escape, ...), DEL (U+007F), C1
 * controls (U+0080–U+009F, among them the 8-bit CSI) and the Unicode bidi embeddings, overrides
 * (U+202A–U+202E) and isolates (U+2066–U+2069). Join fields refuse them at the edge
 * (messages.ts `plainText`); whatever text is shown to a person goes through `printable`.
 */

/** Whether the UTF-16 code unit `code` is one of the characters above. */
export function isControlCharacter(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
}

/** Index of the first control character in `value`, or -1. */
export function controlCharacterAt(value: string): number {
  for (let i = 0; i < value.length; i += 1) {
    if (isControlCharacter(value.charCodeAt(i))) return i;
  }
  return -1;
}

/** "U+001B" for the character at `index`. */
export function codePointName(value: string, index: number): string {
  return `U+${value.charCodeAt(index).toString(16).toUpperCase().padStart(4, "0")}`;
}

const NAMED: Record<number, string> = { 0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r" };

function escaped(code: number): string {
  return NAMED[code] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`);
}

/**
 * `value` with every control character written as a visible escape (`\r`, `\x1b`, `\u202e`), so
 * text from the fleet can never move the cursor, clear a line or reverse what follows it.
 * `keep` lists characters left as they are (a message's own line breaks).
 */
export function printable(value: string, keep = ""): string {
  if (controlCharacterAt(value) < 0) return value;
  let out = "";
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    out += isControlCharacter(code) && !keep.includes(value.charAt(i)) ? escaped(code) : value.charAt(i);
  }
  return out;
}
