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

/**
 * The sample rates and channel counts the service reads. Voice is recorded from 8 kHz
 * (telephony) to 384 kHz (the highest rate studio converters offer), in 1 to 32 channels (a
 * multitrack or Ambisonics recorder); 4 kHz leaves room below telephony. Nothing outside these
 * bounds is a voice recording, and rates far from 16 kHz make ffmpeg's resampler allocate
 * without bound (a 200 KB WAV at 1 Hz takes 1.5 GB before the duration cap stops it).
 */
export const AUDIO_BOUNDS = { minSampleRate: 4_000, maxSampleRate: 384_000, maxChannels: 32 } as const;

/** What a file's own header says about its audio. */
export interface AudioHeader {
  container: 'wav' | 'aiff' | 'au' | 'caf';
  sampleRate: number;
  channels: number;
}

/** The most chunks walked in a WAV or AIFF header to find its format chunk. */
const MAX_HEADER_CHUNKS = 64;

/**
 * The sample rate and channel count in the header of a WAV (RIFF, RIFX, RF64 or BW64, any
 * `fmt ` including WAVE_FORMAT_EXTENSIBLE), AIFF/AIFC (`COMM`, its rate an 80-bit float), AU/SND
 * or CAF (`desc`) file; undefined for any other file or a header cut before its format.
 */
export function sniffAudioHeader(bytes: Uint8Array): AudioHeader | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = fourCC(bytes, 0);
  if ((magic === 'RIFF' || magic === 'RIFX' || magic === 'RF64' || magic === 'BW64') && fourCC(bytes, 8) === 'WAVE') {
    const little = magic !== 'RIFX';
    const fmt = findChunk(bytes, 12, 'fmt ', little, 16);
    if (fmt === undefined) return undefined;
    return { container: 'wav', channels: view.getUint16(fmt + 2, little), sampleRate: view.getUint32(fmt + 4, little) };
  }
  if (magic === 'FORM' && (fourCC(bytes, 8) === 'AIFF' || fourCC(bytes, 8) === 'AIFC')) {
    const comm = findChunk(bytes, 12, 'COMM', false, 18);
    if (comm === undefined) return undefined;
    return { container: 'aiff', channels: view.getUint16(comm), sampleRate: readExtended(view, comm + 8) };
  }
  if (magic === '.snd' && bytes.length >= 24) {
    return { container: 'au', sampleRate: view.getUint32(16), channels: view.getUint32(20) };
  }
  // CAF: the 8-byte file header, then the `desc` chunk (type, 64-bit size), whose data starts at 20.
  if (magic === 'caff' && fourCC(bytes, 8) === 'desc' && bytes.length >= 48) {
    return { container: 'caf', sampleRate: view.getFloat64(20), channels: view.getUint32(44) };
  }
  return undefined;
}

/**
 * Why audio with these parameters is refused, as a sentence for the user; undefined when it is
 * read. An unknown channel count (undefined) is not checked.
 */
export function audioOutOfBounds({ sampleRate, channels }: { sampleRate: number; channels?: number }): string | undefined {
  const { minSampleRate, maxSampleRate, maxChannels } = AUDIO_BOUNDS;
  if (!(sampleRate >= minSampleRate && sampleRate <= maxSampleRate)) {
    const rate = Number.isFinite(sampleRate) ? `${Math.round(sampleRate * 1000) / 1000} Hz` : 'not a number';
    return `The audio's sample rate (${rate}) is outside the ${minSampleRate}–${maxSampleRate} Hz this service reads.`;
  }
  if (channels !== undefined && !(channels >= 1 && channels <= maxChannels)) {
    return `The audio has ${channels} channels; this service reads 1 to ${maxChannels}.`;
  }
  return undefined;
}

function fourCC(bytes: Uint8Array, offset: number): string {
  if (offset + 4 > bytes.length) return '';
  return String.fromCharCode(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]);
}

/**
 * The offset of the data of the first chunk of `type` (4-byte id, 32-bit size, data padded to an
 * even length) from `offset` on, when at least `need` bytes of it are present.
 */
function findChunk(bytes: Uint8Array, offset: number, type: string, little: boolean, need: number): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < MAX_HEADER_CHUNKS && offset + 8 <= bytes.length; i++) {
    const id = fourCC(bytes, offset);
    const size = view.getUint32(offset + 4, little);
    if (id === type) return offset + 8 + need <= bytes.length && size >= need ? offset + 8 : undefined;
    offset += 8 + size + (size % 2);
  }
  return undefined;
}

/** An IEEE 754 80-bit extended float (AIFF's sample rate), big-endian. */
export function readExtended(view: DataView, offset: number): number {
  const signExponent = view.getUint16(offset);
  const exponent = signExponent & 0x7fff;
  const mantissa = view.getUint32(offset + 2) * 2 ** 32 + view.getUint32(offset + 6);
  if (exponent === 0x7fff) return Number.NaN;
  const value = mantissa * 2 ** (exponent - 16383 - 63);
  return signExponent & 0x8000 ? -value : value;
}
