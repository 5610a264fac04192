/** The little the fleet needs to know about PNG files: the signature and the size in the IHDR chunk. */
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function isPng(data: Buffer): boolean {
  return data.length > 24 && data.subarray(0, 8).equals(PNG_SIGNATURE) && data.subarray(12, 16).toString("latin1") === "IHDR";
}

/** Width and height from a PNG's IHDR chunk. */
export function pngSize(data: Buffer): { width: number; height: number } {
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
}
