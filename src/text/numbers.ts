/**
 * Spoken Vietnamese cardinals: the words, what they are worth, and a reader that turns a run of
 * them into a value. Pure; knows nothing of context (units, dates): `written.ts` decides what a
 * reading means and whether it becomes digits.
 *
 * Grammar (a group is 0–999; magnitudes are nghìn/ngàn 10³, triệu 10⁶, tỷ/tỉ 10⁹):
 * - digits: không 0, một 1, hai 2, ba 3, bốn 4, năm 5, sáu 6, bảy/bẩy 7, tám 8, chín 9.
 * - tens: `mười [u]` (10–19) and `d mươi [u]` (20–99), where u after mươi is mốt/một 1, tư/bốn 4,
 *   lăm/nhăm 5 or another digit; after mười the same without mốt. `năm` after mươi/mười is the
 *   word "year", never 5: "hai mươi năm" is 20 years, 25 is "hai mươi lăm".
 * - colloquial tens: `d mốt|lăm|nhăm` is d·10 + 1|5 ("ba lăm" 35, "hai mốt" 21). `d tư` is not
 *   (it is also "Ba Tư", Persia).
 * - hundreds: `d trăm` then `linh|lẻ u` (105), tens (120, 115), `rưỡi` (+50), or one abbreviated
 *   digit for the tens ("một trăm hai" 120, "một trăm tư" 140, "một trăm lăm" 150). A bare `năm`
 *   after trăm is "year" ("một trăm năm" is 100 years) unless a magnitude follows ("hai trăm năm
 *   nghìn" 250 000); a bare `một` or `không` after trăm is not read.
 * - magnitudes: each group takes the magnitude after it; magnitudes fall from left to right, and a
 *   larger one straight after a smaller multiplies ("năm nghìn tỷ" 5·10¹²). After a magnitude may
 *   come `không trăm …`, `linh|lẻ u` (2005), tens (2020), a full lower number, `rưỡi` (half the
 *   magnitude: "hai nghìn rưỡi" 2500) or one abbreviated digit worth a tenth of the magnitude
 *   ("hai nghìn hai" 2200, "ba triệu hai" 3 200 000; not năm, một or không).
 * - `tỷ lệ`, `tỷ giá`, `tỷ phú`, `triệu phú`, `triệu chứng`, `triệu tập` … are words, not magnitudes.
 */

/** A non-negative decimal number: `units / 10^scale`. Exact; no floating point. */
export interface Decimal {
  units: bigint;
  scale: number;
}

/** The ten digit words (and bẩy, a spelling of bảy) and their values. */
export const DIGIT_WORDS: ReadonlyMap<string, number> = new Map([
  ['không', 0],
  ['một', 1],
  ['hai', 2],
  ['ba', 3],
  ['bốn', 4],
  ['năm', 5],
  ['sáu', 6],
  ['bảy', 7],
  ['bẩy', 7],
  ['tám', 8],
  ['chín', 9],
]);

const UNIT_AFTER_MUOI: ReadonlyMap<string, number> = new Map([
  ['mốt', 1],
  ['một', 1],
  ['hai', 2],
  ['ba', 3],
  ['bốn', 4],
  ['tư', 4],
  ['lăm', 5],
  ['nhăm', 5],
  ['sáu', 6],
  ['bảy', 7],
  ['bẩy', 7],
  ['tám', 8],
  ['chín', 9],
]);

const UNIT_AFTER_MUOI_TEN: ReadonlyMap<string, number> = new Map([...UNIT_AFTER_MUOI].filter(([word]) => word !== 'mốt'));

const UNIT_AFTER_LINH: ReadonlyMap<string, number> = new Map([
  ...[...DIGIT_WORDS].filter(([, value]) => value > 0),
  ['tư', 4],
]);

const COLLOQUIAL_UNIT: ReadonlyMap<string, number> = new Map([
  ['mốt', 1],
  ['lăm', 5],
  ['nhăm', 5],
]);

/** One digit that, straight after trăm or a magnitude, stands for the next lower place. */
const ABBREVIATED: ReadonlyMap<string, number> = new Map([...UNIT_AFTER_MUOI].filter(([word]) => word !== 'một'));

/** nghìn/ngàn, triệu, tỷ/tỉ and their values. */
export const MAGNITUDE_WORDS: ReadonlyMap<string, bigint> = new Map([
  ['nghìn', 1_000n],
  ['ngàn', 1_000n],
  ['triệu', 1_000_000n],
  ['tỷ', 1_000_000_000n],
  ['tỉ', 1_000_000_000n],
]);

/**
 * Every word that can be part of a spoken number, and `mấy` ("some"): a number followed by one
 * of these that it could not take ("mười mươi", "mười mấy") is left as words.
 */
export const NUMBER_WORDS: ReadonlySet<string> = new Set([
  ...DIGIT_WORDS.keys(),
  ...MAGNITUDE_WORDS.keys(),
  'mười',
  'mươi',
  'trăm',
  'linh',
  'lẻ',
  'mốt',
  'lăm',
  'nhăm',
  'tư',
  'rưỡi',
  'mấy',
]);

/** A spoken cardinal read from a run of words. */
export interface Cardinal {
  value: bigint;
  /** Index of the first word after the number. */
  end: number;
  /** One digit word alone ("hai", "năm"). */
  bare: boolean;
  /** Spoken with rưỡi or an abbreviated last digit ("hai nghìn rưỡi", "một trăm hai"). */
  abbreviated: boolean;
  /** Has a magnitude word (nghìn, triệu, tỷ). */
  hasMagnitude: boolean;
  /** The last word read is trăm or a magnitude ("hai trăm", "ba nghìn"). */
  endsOnMultiplier: boolean;
  /**
   * Set when the number is one count of one magnitude, optionally with rưỡi or an abbreviated
   * digit ("ba triệu", "ba triệu rưỡi", "năm nghìn tỷ"): that count and the magnitude's word.
   */
  single?: { count: Decimal; word: string; magnitude: bigint };
}

interface Group {
  value: number;
  end: number;
  bare: boolean;
  abbreviated: boolean;
  endsOnHundred: boolean;
}

/** Words after a magnitude word that make it another word: tỷ lệ (ratio), triệu phú (millionaire)… */
const NOT_MAGNITUDE_AFTER: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['tỷ', new Set(['lệ', 'phú', 'giá', 'trọng', 'số'])],
  ['tỉ', new Set(['lệ', 'phú', 'giá', 'trọng', 'số', 'mỉ'])],
  ['triệu', new Set(['phú', 'chứng', 'tập', 'hồi', 'gọi', 'hoán'])],
]);

/** `words[i]` is nghìn, ngàn, triệu, tỷ or tỉ used as a magnitude (not the tỷ of "tỷ lệ"). */
export function isMagnitude(words: readonly string[], i: number): boolean {
  const word = words[i];
  if (word === undefined || !MAGNITUDE_WORDS.has(word)) return false;
  return !NOT_MAGNITUDE_AFTER.get(word)?.has(words[i + 1] ?? '');
}

function readTens(words: readonly string[], i: number): Group | undefined {
  const word = words[i];
  if (word === 'mười') {
    const unit = UNIT_AFTER_MUOI_TEN.get(words[i + 1] ?? '');
    return unit === undefined
      ? { value: 10, end: i + 1, bare: false, abbreviated: false, endsOnHundred: false }
      : { value: 10 + unit, end: i + 2, bare: false, abbreviated: false, endsOnHundred: false };
  }
  const digit = DIGIT_WORDS.get(word ?? '');
  if (digit === undefined || digit < 2) return undefined;
  if (words[i + 1] === 'mươi') {
    const unit = UNIT_AFTER_MUOI.get(words[i + 2] ?? '');
    return unit === undefined
      ? { value: digit * 10, end: i + 2, bare: false, abbreviated: false, endsOnHundred: false }
      : { value: digit * 10 + unit, end: i + 3, bare: false, abbreviated: false, endsOnHundred: false };
  }
  const colloquial = COLLOQUIAL_UNIT.get(words[i + 1] ?? '');
  if (colloquial !== undefined) return { value: digit * 10 + colloquial, end: i + 2, bare: false, abbreviated: false, endsOnHundred: false };
  return undefined;
}

function readLinh(words: readonly string[], i: number): number | undefined {
  if (words[i] !== 'linh' && words[i] !== 'lẻ') return undefined;
  return UNIT_AFTER_LINH.get(words[i + 1] ?? '');
}

/** What follows `d trăm`: its value and where it ends, or undefined for nothing. */
function readAfterHundred(words: readonly string[], i: number): { value: number; end: number; abbreviated: boolean } | undefined {
  const linh = readLinh(words, i);
  if (linh !== undefined) return { value: linh, end: i + 2, abbreviated: false };
  const tens = readTens(words, i);
  if (tens) return { value: tens.value, end: tens.end, abbreviated: false };
  const word = words[i] ?? '';
  if (word === 'rưỡi') return { value: 50, end: i + 1, abbreviated: true };
  const next = words[i + 1];
  if (next === 'trăm') return undefined;
  const abbreviated = ABBREVIATED.get(word) ?? (word === 'năm' && isMagnitude(words, i + 1) ? 5 : undefined);
  if (abbreviated !== undefined) return { value: abbreviated * 10, end: i + 1, abbreviated: true };
  return undefined;
}

/** A group 0–999 at `i`. `leading`: the first group of a number (no "không trăm", no "linh"). */
function readGroup(words: readonly string[], i: number, leading: boolean): Group | undefined {
  const digit = DIGIT_WORDS.get(words[i] ?? '');
  if (digit !== undefined && words[i + 1] === 'trăm' && (digit > 0 || !leading)) {
    const rest = readAfterHundred(words, i + 2);
    return rest
      ? { value: digit * 100 + rest.value, end: rest.end, bare: false, abbreviated: rest.abbreviated, endsOnHundred: false }
      : { value: digit * 100, end: i + 2, bare: false, abbreviated: false, endsOnHundred: true };
  }
  const tens = readTens(words, i);
  if (tens) return tens;
  if (!leading) {
    const linh = readLinh(words, i);
    if (linh !== undefined) return { value: linh, end: i + 2, bare: false, abbreviated: false, endsOnHundred: false };
  }
  if (digit !== undefined) return { value: digit, end: i + 1, bare: true, abbreviated: false, endsOnHundred: false };
  return undefined;
}

/** `value / 10^power` as an exact decimal without trailing zeros. */
export function divideByPowerOfTen(value: bigint, power: number): Decimal {
  let units = value;
  let scale = power;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale--;
  }
  return { units, scale };
}

/** The power of ten of a magnitude (3 for nghìn, 9 for tỷ). */
export function powerOfTen(magnitude: bigint): number {
  return magnitude.toString().length - 1;
}

/**
 * Reads the longest spoken cardinal that starts at `words[start]`, or undefined when none does.
 * `words` are lowercase NFC words. Never throws.
 */
export function readCardinal(words: readonly string[], start: number): Cardinal | undefined {
  let total = 0n;
  let i = start;
  let lastMagnitude = 0n; // 0: no magnitude read yet
  let segments = 0;
  let abbreviated = false;
  let endsOnMultiplier = false;
  let single: { count: bigint; word: string; magnitude: bigint } | undefined;
  let first: Group | undefined;
  let tail = false; // something after the last magnitude (a lower number)
  for (;;) {
    const group = readGroup(words, i, first === undefined);
    if (!group) {
      // "ba nghìn tư", "hai nghìn mốt", "ba triệu tư": the abbreviated digit is no group itself.
      const digit = lastMagnitude === 0n ? undefined : ABBREVIATED.get(words[i] ?? '');
      if (digit !== undefined) {
        total += (BigInt(digit) * lastMagnitude) / 10n;
        i++;
        abbreviated = true;
        endsOnMultiplier = false;
      }
      break;
    }
    first ??= group;
    let j = group.end;
    let magnitude = 1n;
    let word = '';
    while (isMagnitude(words, j)) {
      const next = MAGNITUDE_WORDS.get(words[j]) as bigint;
      if (magnitude !== 1n && next <= magnitude) break;
      magnitude *= next;
      word = words[j];
      j++;
    }
    if (magnitude === 1n) {
      if (lastMagnitude === 0n) {
        total = BigInt(group.value);
        i = group.end;
        abbreviated = group.abbreviated;
        endsOnMultiplier = group.endsOnHundred;
      } else if (group.bare) {
        const digit = ABBREVIATED.get(words[i]);
        if (digit !== undefined) {
          total += (BigInt(digit) * lastMagnitude) / 10n;
          i = group.end;
          abbreviated = true;
          endsOnMultiplier = false;
        }
      } else {
        total += BigInt(group.value);
        i = group.end;
        tail = true;
        endsOnMultiplier = group.endsOnHundred;
      }
      break;
    }
    if (lastMagnitude !== 0n && magnitude >= lastMagnitude) break;
    total += BigInt(group.value) * magnitude;
    lastMagnitude = magnitude;
    segments++;
    i = j;
    endsOnMultiplier = true;
    const wordValue = MAGNITUDE_WORDS.get(word) as bigint;
    single = { count: BigInt(group.value) * (magnitude / wordValue), word, magnitude: wordValue };
    if (words[i] === 'rưỡi') {
      total += magnitude / 2n;
      i++;
      abbreviated = true;
      endsOnMultiplier = false;
      break;
    }
  }
  if (!first) return undefined;
  const result: Cardinal = {
    value: total,
    end: i,
    bare: first.bare && i === start + 1,
    abbreviated,
    hasMagnitude: segments > 0,
    endsOnMultiplier,
  };
  if (segments === 1 && !tail && single) {
    const power = powerOfTen(single.magnitude);
    result.single = { count: divideByPowerOfTen(total, power), word: single.word, magnitude: single.magnitude };
  }
  return result;
}

/** Reads a run of digit words (không … chín) read one by one, as a digit string; '' for none. */
export function readDigitRun(words: readonly string[], start: number): string {
  let digits = '';
  for (let i = start; i < words.length; i++) {
    const digit = DIGIT_WORDS.get(words[i]);
    if (digit === undefined) break;
    digits += String(digit);
  }
  return digits;
}

/** Groups an integer's digits in threes with ".", the Vietnamese thousands separator. */
export function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+$)/g, '.');
}

/**
 * A decimal in Vietnamese notation: "," before the fraction, and the integer part grouped by "."
 * when `group` is set and it has four digits or more.
 */
export function formatDecimal(value: Decimal, group: boolean): string {
  const divisor = 10n ** BigInt(value.scale);
  const integer = (value.units / divisor).toString();
  const head = group && integer.length >= 4 ? groupThousands(integer) : integer;
  if (value.scale === 0) return head;
  const fraction = (value.units % divisor).toString().padStart(value.scale, '0');
  return `${head},${fraction}`;
}
