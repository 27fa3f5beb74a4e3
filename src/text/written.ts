/**
 * Inverse text normalisation: the model's spoken Vietnamese ("chuyển khoản năm trăm nghìn đồng")
 * in the written form a reader expects ("chuyển khoản 500.000 đồng"). Pure, never throws.
 *
 * The rules, in the order they are tried at each word (how cardinals are read is in numbers.ts):
 *
 * 1. Dates: `ngày [mùng|mồng] D tháng M [năm Y]` → "ngày 18/5/2022", "ngày 18/5"; `mùng|mồng D
 *    tháng M` → "mùng 2/9"; `tháng M năm Y` → "tháng 5/2022". D is 1–31, M 1–12 (tháng tư is 4),
 *    Y a cardinal or four digits read one by one ("năm hai không hai hai" → "năm 2022"). A month
 *    with neither day nor year stays words ("tháng năm", "tháng mười hai"); lunar tháng giêng and
 *    tháng chạp always stay words.
 * 2. Digit strings: four or more digit words in a row are read one by one ("không chín không một
 *    hai ba bốn năm sáu bảy" → "0901234567").
 * 3. Numbers followed by a unit, currency or "phần trăm" always become digits, even below 10:
 *    - percent is tight: "năm mươi phần trăm" → "50%", "ba phẩy năm phần trăm" → "3,5%";
 *    - units: km, m, cm, mm, km², m², m³, km/h, kg (ki lô gam, ki lô, ký, cân), g, ml, ha, GB, MB,
 *      °C (tight: "30°C"); lít, tấn, độ, giờ, phút, giây stay words ("5 phút", "9 giờ sáng");
 *      `N <measure> rưỡi` is N,5 ("ba cân rưỡi" → "3,5 kg"); for lengths and weights (km, m,
 *      kg) `N <unit> D` is N,D ("cao một mét bảy" → "cao 1,7 m", "một mét bảy lăm" → "1,75 m")
 *      unless a counted noun follows D ("mười mét hai bên" → "10 m hai bên");
 *    - money: the amount is written in full, grouped by "." ("hai triệu đồng" → "2.000.000 đồng",
 *      "ba triệu rưỡi đồng" → "3.500.000 đồng"), the currency word stays as spoken;
 *    - times: the house style is "9 giờ 30": numbers before giờ/phút/giây become digits and the
 *      minutes after giờ follow the threshold ("chín giờ ba mươi" → "9 giờ 30", "chín giờ năm
 *      phút" → "9 giờ 5 phút", "chín giờ rưỡi" → "9 giờ rưỡi"); `giờ kém N` takes N as digits;
 *    - "không" becomes 0 only before giờ, độ and phần trăm (elsewhere it is "no");
 *    - "âm" before a temperature is a minus sign ("âm năm độ xê" → "-5°C").
 * 4. Decimals with phẩy always become digits with a decimal comma ("ba phẩy năm" → "3,5",
 *    "ba phẩy một bốn" → "3,14"); a magnitude after them stays a word ("ba phẩy năm triệu" →
 *    "3,5 triệu").
 * 5. Any other cardinal becomes digits when its value is 10 or more and stays words below 10
 *    ("hai cái xoong", "một người", "năm nay"). Outside money and units, a number that is one count
 *    of triệu or tỷ keeps that word ("ba triệu người" → "3 triệu người", "ba triệu rưỡi" → "3,5
 *    triệu", "năm nghìn tỷ" → "5.000 tỷ"); any other number is written in full. Integers of five
 *    digits or more are grouped by "."; four-digit ones too ("2.500", "2.000 người"), except those
 *    that read as years: after "năm" ("năm 2000"), or 1000–2099 read in full and not a whole
 *    hundred ("2024", "1990"). Before a unit four digits are always grouped ("2.024 km").
 *
 * Left as words, because Vietnamese is ambiguous there: weekdays (thứ hai … thứ bảy, chủ nhật);
 * approximations ("mười mấy", "hai mươi mấy", "bảy tám mươi tuổi", "hai ba ngày"); a number
 * followed by a number word it cannot take ("mười mươi", "một trăm một", "mười hai rưỡi"); the
 * idioms "mười phân vẹn mười", "chín bỏ làm mười" and "chín người mười ý"; "một chút", "một số", "mấy".
 *
 * Input is the model's lowercase NFC words; other text is tolerated: it is NFC-normalised, matched
 * case-insensitively, numbers never join across punctuation or line breaks, and everything that
 * is not part of a number comes out as it went in. Digits pass through, so the output is a fixed
 * point: `toWritten(toWritten(s)) === toWritten(s)`.
 */
import {
  DIGIT_WORDS,
  NUMBER_WORDS,
  divideByPowerOfTen,
  formatDecimal,
  isMagnitude,
  readCardinal,
  readDigitRun,
  type Cardinal,
  type Decimal,
  MAGNITUDE_WORDS,
} from './numbers.js';
import { CURRENCIES, UNITS, matchUnit, type UnitEntry } from './units.js';

/** A span of words and what it becomes; `text` undefined: the words stay as they are. */
interface Span {
  end: number;
  text?: string;
}

/** The words of one chunk: `words` lowercase for matching, `original` as they came. */
interface Words {
  words: readonly string[];
  original: readonly string[];
}

interface NumberReading {
  value: Decimal;
  end: number;
  cardinal: Cardinal;
  decimal: boolean;
  /** One count of one magnitude: "3,5" and "triệu". */
  single?: { count: Decimal; word: string };
}

const IDIOMS: readonly (readonly string[])[] = [
  ['mười', 'phân', 'vẹn', 'mười'],
  ['chín', 'bỏ', 'làm', 'mười'],
  ['chín', 'người', 'mười', 'ý'],
];

/**
 * Counted nouns: after `N <unit> D` one of these makes D a count, not tenths ("mười mét hai bên"
 * is ten metres on two sides).
 */
const CLASSIFIERS = new Set([
  'bên', 'cái', 'con', 'người', 'chiếc', 'lần', 'cây', 'quả', 'trái', 'tấm', 'cuộn', 'bao', 'túi',
  'gói', 'hộp', 'thùng', 'chai', 'lon', 'ly', 'cốc', 'bát', 'đĩa', 'miếng', 'phần', 'đứa', 'tầng',
  'phòng', 'lớp', 'hàng', 'dãy', 'cột', 'bước', 'vòng', 'đợt', 'ngày', 'tháng', 'năm', 'tuần', 'giờ',
  'phút', 'giây', 'đồng', 'nghìn', 'ngàn', 'triệu', 'tỷ', 'tỉ', 'trăm', 'mươi', 'phẩy',
]);

/** Words after a number that it could have taken but did not: the reading is doubtful. */
const STRAY = new Set(['mươi', 'mười', 'linh', 'lẻ', 'mốt', 'lăm', 'nhăm', 'trăm', 'rưỡi', 'mấy', ...MAGNITUDE_WORDS.keys()]);

/** Words that continue a spoken number after a digit (so that digit is not the end of a digit string). */
const CONTINUES = new Set(['mươi', 'trăm', 'linh', 'lẻ', 'mốt', 'lăm', 'nhăm', 'rưỡi', ...MAGNITUDE_WORDS.keys()]);

const KEPT_MAGNITUDES = new Set(['triệu', 'tỷ', 'tỉ']);

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** The end of the run of number words that starts at `i`. */
function numberRunEnd(words: readonly string[], i: number): number {
  let j = i;
  while (j < words.length && NUMBER_WORDS.has(words[j])) j++;
  return Math.max(j, i + 1);
}

/** The digits after "phẩy": read one by one ("một bốn" 14, "không năm" 05) or as a small cardinal ("mười bốn"). */
function readFraction(words: readonly string[], i: number): { digits: string; end: number } | undefined {
  const run = readDigitRun(words, i);
  const cardinal = readCardinal(words, i);
  if (cardinal && !cardinal.hasMagnitude && cardinal.end - i > run.length) {
    return { digits: cardinal.value.toString(), end: cardinal.end };
  }
  return run.length === 0 ? undefined : { digits: run, end: i + run.length };
}

function readNumber(words: readonly string[], i: number): NumberReading | undefined {
  const cardinal = readCardinal(words, i);
  if (!cardinal) return undefined;
  if (words[cardinal.end] === 'phẩy' && !cardinal.hasMagnitude) {
    const fraction = readFraction(words, cardinal.end + 1);
    if (fraction) {
      const scale = fraction.digits.length;
      let value: Decimal = { units: cardinal.value * pow10(scale) + BigInt(fraction.digits), scale };
      let end = fraction.end;
      let single: NumberReading['single'];
      if (isMagnitude(words, end)) {
        const magnitude = MAGNITUDE_WORDS.get(words[end]) as bigint;
        single = { count: value, word: words[end] };
        value = divideByPowerOfTen(value.units * magnitude, value.scale);
        end++;
      }
      return { value, end, cardinal, decimal: true, single };
    }
  }
  const single = cardinal.single ? { count: cardinal.single.count, word: cardinal.single.word } : undefined;
  return { value: { units: cardinal.value, scale: 0 }, end: cardinal.end, cardinal, decimal: false, single };
}

/**
 * An integer as the house writes it outside money (rule 5). `previous`: the word before it;
 * undefined where it cannot be a year (before a unit), so four digits are always grouped.
 */
function formatInteger(value: bigint, cardinal: Cardinal, previous: string | null | undefined): string {
  const digits = value.toString();
  if (digits.length >= 5) return formatDecimal({ units: value, scale: 0 }, true);
  if (digits.length === 4) {
    const yearLike = previous !== null && (previous === 'năm' || (!cardinal.abbreviated && value >= 1000n && value <= 2099n && value % 100n !== 0n));
    return yearLike ? digits : formatDecimal({ units: value, scale: 0 }, true);
  }
  return digits;
}

/** The number as written before a unit (or alone): a single triệu/tỷ count keeps its word. */
function formatPlain(reading: NumberReading, keepMagnitude: boolean, previous: string | null | undefined): string {
  if (keepMagnitude && reading.single && KEPT_MAGNITUDES.has(reading.single.word)) {
    return `${formatDecimal(reading.single.count, true)} ${reading.single.word}`;
  }
  if (reading.decimal) return formatDecimal(reading.value, true);
  return formatInteger(reading.value.units, reading.cardinal, previous);
}

function matchIdiom({ words }: Words, i: number): Span | undefined {
  const idiom = IDIOMS.find((phrase) => phrase.every((word, k) => words[i + k] === word));
  return idiom ? { end: i + idiom.length } : undefined;
}

/** Month 1–12 at `i` ("tư" is April). */
function readMonth(words: readonly string[], i: number): { value: number; end: number } | undefined {
  if (words[i] === 'tư') return { value: 4, end: i + 1 };
  const cardinal = readCardinal(words, i);
  if (!cardinal || cardinal.hasMagnitude || cardinal.abbreviated) return undefined;
  const value = Number(cardinal.value);
  return value >= 1 && value <= 12 ? { value, end: cardinal.end } : undefined;
}

/** `năm Y` at `i`: Y as a cardinal of 10–9999 or four digits read one by one. */
function readYear(words: readonly string[], i: number): { text: string; end: number } | undefined {
  if (words[i] !== 'năm') return undefined;
  const run = readDigitRun(words, i + 1);
  if (run.length === 4 && !CONTINUES.has(words[i + 5] ?? '')) return { text: run, end: i + 5 };
  const cardinal = readCardinal(words, i + 1);
  if (!cardinal || cardinal.bare || cardinal.value < 10n || cardinal.value > 9999n) return undefined;
  if (STRAY.has(words[cardinal.end] ?? '')) return undefined;
  return { text: cardinal.value.toString(), end: cardinal.end };
}

function matchDate({ words, original }: Words, i: number): Span | undefined {
  let j = i;
  if (words[j] === 'ngày') j++;
  if (words[j] === 'mùng' || words[j] === 'mồng') j++;
  if (j === i) return undefined;
  const day = readCardinal(words, j);
  if (!day || day.hasMagnitude || day.abbreviated || day.value < 1n || day.value > 31n) return undefined;
  if (words[day.end] !== 'tháng') return undefined;
  const month = readMonth(words, day.end + 1);
  if (!month) return undefined;
  let text = `${original.slice(i, j).join(' ')} ${day.value}/${month.value}`;
  let end = month.end;
  const year = readYear(words, end);
  if (year) {
    text += `/${year.text}`;
    end = year.end;
  } else if (STRAY.has(words[end] ?? '')) {
    return undefined;
  }
  return { end, text };
}

function matchMonthYear({ words, original }: Words, i: number): Span | undefined {
  if (words[i] !== 'tháng') return undefined;
  const month = readMonth(words, i + 1);
  if (!month) return undefined;
  const year = readYear(words, month.end);
  return year ? { end: year.end, text: `${original[i]} ${month.value}/${year.text}` } : undefined;
}

function matchYearDigits({ words, original }: Words, i: number): Span | undefined {
  if (words[i] !== 'năm') return undefined;
  const run = readDigitRun(words, i + 1);
  if (run.length !== 4 || !/^[12]/.test(run) || CONTINUES.has(words[i + 5] ?? '')) return undefined;
  return { end: i + 5, text: `${original[i]} ${run}` };
}

function matchDigitString({ words }: Words, i: number): Span | undefined {
  if (words[i - 1] === 'thứ') return undefined;
  let run = readDigitRun(words, i);
  if (CONTINUES.has(words[i + run.length] ?? '')) run = run.slice(0, -1);
  return run.length >= 4 ? { end: i + run.length, text: run } : undefined;
}

/** The D of `N <unit> D`: 1–99 without a magnitude, not followed by a counted noun or a number word. */
function readTenths(words: readonly string[], i: number): { digits: string; end: number } | undefined {
  const cardinal = readCardinal(words, i);
  if (!cardinal || cardinal.hasMagnitude || cardinal.value < 1n || cardinal.value > 99n) return undefined;
  const after = words[cardinal.end];
  if (after !== undefined && (CLASSIFIERS.has(after) || NUMBER_WORDS.has(after) || matchUnit(UNITS, words, cardinal.end))) return undefined;
  return { digits: cardinal.value.toString(), end: cardinal.end };
}

/** A number and the unit, currency or percent after it (rule 3). */
function withUnit(chunk: Words, reading: NumberReading, negative: boolean): Span | undefined {
  const { words, original } = chunk;
  let entry: UnitEntry | undefined = matchUnit(UNITS, words, reading.end);
  const money = entry === undefined;
  entry ??= matchUnit(CURRENCIES, words, reading.end);
  if (!entry) return undefined;
  const isZero = reading.cardinal.bare && reading.cardinal.value === 0n && !reading.decimal;
  if (isZero && !entry.zero) return undefined;
  if (negative && !(entry.written === '°C' || entry.spoken[0] === 'độ')) return undefined;
  let end = reading.end + entry.spoken.length;
  let value = reading;
  const plainInteger = !reading.decimal && !reading.single && !reading.cardinal.abbreviated;
  if (entry.half && words[end] === 'rưỡi' && plainInteger) {
    value = { ...reading, decimal: true, value: { units: reading.value.units * 10n + 5n, scale: 1 } };
    end++;
  } else if (entry.tenths && plainInteger) {
    const tenths = readTenths(words, end);
    if (tenths) {
      const scale = tenths.digits.length;
      value = { ...reading, decimal: true, value: { units: reading.value.units * pow10(scale) + BigInt(tenths.digits), scale } };
      end = tenths.end;
    }
  }
  const unit = entry.written ?? original.slice(reading.end, reading.end + entry.spoken.length).join(' ');
  const amount = money ? formatDecimal(value.value, true) : formatPlain(value, !entry.tight, null);
  let text = `${negative ? '-' : ''}${amount}${entry.tight ? '' : ' '}${unit}`;
  if (entry.time && words[reading.end] === 'giờ' && words[end] === 'kém') {
    const minutes = readCardinal(words, end + 1);
    if (minutes && !minutes.hasMagnitude && minutes.value >= 1n && minutes.value <= 59n && !STRAY.has(words[minutes.end] ?? '')) {
      text += ` ${original[end]} ${minutes.value}`;
      end = minutes.end;
    }
  }
  return { end, text };
}

function matchNumber(chunk: Words, i: number): Span | undefined {
  const { words } = chunk;
  const negative = words[i] === 'âm';
  const start = negative ? i + 1 : i;
  const reading = readNumber(words, start);
  if (!reading) return undefined;
  const cardinal = reading.cardinal;
  if (words[start - 1] === 'thứ' && cardinal.bare) return { end: reading.end };
  const unit = withUnit(chunk, reading, negative);
  if (unit) return unit;
  if (negative) return undefined;
  if (reading.decimal) return { end: reading.end, text: formatPlain(reading, true, words[start - 1]) };
  const next = words[reading.end];
  if (next !== undefined) {
    const stray = (STRAY.has(next) && (!MAGNITUDE_WORDS.has(next) || isMagnitude(words, reading.end))) || (cardinal.endsOnMultiplier && next === 'một');
    const digit = DIGIT_WORDS.get(words[start]);
    const range = cardinal.bare && digit !== undefined && DIGIT_WORDS.get(next) === digit + 1;
    if (stray || range) return { end: numberRunEnd(words, start) };
  }
  if (words[start - 1] === 'tháng' && !cardinal.hasMagnitude && cardinal.value >= 1n && cardinal.value <= 12n) return { end: reading.end };
  if (cardinal.value < 10n) return { end: reading.end };
  return { end: reading.end, text: formatPlain(reading, true, words[start - 1]) };
}

const MATCHERS = [matchIdiom, matchDate, matchMonthYear, matchYearDigits, matchDigitString, matchNumber];

/** The spans of one chunk of words (no punctuation or line break inside) that change. */
function rewriteChunk(chunk: Words): { start: number; end: number; text: string }[] {
  const spans: { start: number; end: number; text: string }[] = [];
  let i = 0;
  while (i < chunk.words.length) {
    let span: Span | undefined;
    for (const matcher of MATCHERS) {
      span = matcher(chunk, i);
      if (span) break;
    }
    if (!span || span.end <= i) {
      i++;
      continue;
    }
    if (span.text !== undefined) spans.push({ start: i, end: span.end, text: span.text });
    i = span.end;
  }
  return spans;
}

interface Token {
  lead: string;
  core: string;
  trail: string;
  /** The whitespace after the token. */
  gap: string;
}

function tokenize(text: string): { prefix: string; tokens: Token[] } {
  const prefix = /^\s*/u.exec(text)?.[0] ?? '';
  const body = text.slice(prefix.length);
  const tokens: Token[] = [];
  if (body === '') return { prefix, tokens };
  const parts = body.split(/(\s+)/u);
  for (let k = 0; k < parts.length; k += 2) {
    const raw = parts[k];
    const lead = /^[^\p{L}\p{N}]*/u.exec(raw)?.[0] ?? '';
    const rest = raw.slice(lead.length);
    const trail = /[^\p{L}\p{N}]*$/u.exec(rest)?.[0] ?? '';
    tokens.push({ lead, core: rest.slice(0, rest.length - trail.length), trail, gap: parts[k + 1] ?? '' });
  }
  return { prefix, tokens };
}

function rewriteText(text: string): string {
  const { prefix, tokens } = tokenize(text);
  const output: string[] = [prefix];
  let t = 0;
  while (t < tokens.length) {
    // A chunk: tokens joined by plain spaces, punctuation only at its two ends.
    let end = t + 1;
    if (tokens[t].core !== '') {
      while (
        end < tokens.length &&
        tokens[end].core !== '' &&
        tokens[end - 1].trail === '' &&
        tokens[end].lead === '' &&
        !tokens[end - 1].gap.includes('\n')
      ) {
        end++;
      }
    }
    const chunkTokens = tokens.slice(t, end);
    const original = chunkTokens.map((token) => token.core);
    const spans = tokens[t].core === '' ? [] : rewriteChunk({ words: original.map((word) => word.toLowerCase()), original });
    let k = 0;
    for (const span of spans) {
      for (; k < span.start; k++) {
        const token = chunkTokens[k];
        output.push(token.lead, token.core, token.trail, token.gap);
      }
      const last = chunkTokens[span.end - 1];
      output.push(chunkTokens[span.start].lead, span.text, last.trail, last.gap);
      k = span.end;
    }
    for (; k < chunkTokens.length; k++) {
      const token = chunkTokens[k];
      output.push(token.lead, token.core, token.trail, token.gap);
    }
    t = end;
  }
  return output.join('');
}

/**
 * The written form of the model's spoken Vietnamese: numbers, amounts, measures, times, dates and
 * digit strings in digits by the rules at the top of this module; every other word as it is.
 * Never throws (on anything unexpected it returns its input, NFC-normalised).
 *
 * @example toWritten('chuyển khoản năm trăm nghìn đồng') // 'chuyển khoản 500.000 đồng'
 * @example toWritten('cuộc họp lúc chín giờ sáng mai') // 'cuộc họp lúc 9 giờ sáng mai'
 */
export function toWritten(spoken: string): string {
  let text: string;
  try {
    text = String(spoken ?? '').normalize('NFC');
  } catch {
    return '';
  }
  try {
    return rewriteText(text);
  } catch {
    return text;
  }
}
