/** Well-known non-audio file signatures, refused with 415 before ffmpeg sees them. */
const SIGNATURES: { name: string; bytes: number[]; offset?: number }[] = [
  { name: 'png', bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { name: 'jpeg', bytes: [0xff, 0xd8, 0xff] },
  { name: 'gif', bytes: [0x47, 0x49, 0x46, 0x38] },
  { name: 'pdf', bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] },
  { name: 'zip', bytes: [0x50, 0x4b, 0x03, 0x04] },
  { name: 'webp', bytes: [0x57, 0x45, 0x42, 0x50], offset: 8 },
  { name: 'elf', bytes: [0x7f, 0x45, 0x4c, 0x46] },
];

/** The kind of a known non-audio file (an image, a document, an archive), or undefined. */
export function sniffNonAudio(bytes: Uint8Array): string | undefined {
  for (const signature of SIGNATURES) {
    const offset = signature.offset ?? 0;
    if (bytes.length >= offset + signature.bytes.length && signature.bytes.every((b, i) => bytes[offset + i] === b)) {
      return signature.name;
    }
  }
  return undefined;
}

/** True for a declared content type that cannot hold audio (images, text, JSON). */
export function isNonAudioType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  return /^(image|text|font|model)\//i.test(contentType) || /^application\/(json|pdf|zip|xml)/i.test(contentType);
}
