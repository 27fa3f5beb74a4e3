import { describe, expect, it } from 'vitest';
import { foldVietnamese, foldedWords } from '../../src/text/fold.js';

/** Every vowel of the alphabet with the five tones, written out: none, huyền, sắc, hỏi, ngã, nặng. */
const VOWELS: Record<string, { folded: string; tones: [string, string, string, string, string, string] }> = {
  a: { folded: 'a', tones: ['a', 'à', 'á', 'ả', 'ã', 'ạ'] },
  ă: { folded: 'a', tones: ['ă', 'ằ', 'ắ', 'ẳ', 'ẵ', 'ặ'] },
  â: { folded: 'a', tones: ['â', 'ầ', 'ấ', 'ẩ', 'ẫ', 'ậ'] },
  e: { folded: 'e', tones: ['e', 'è', 'é', 'ẻ', 'ẽ', 'ẹ'] },
  ê: { folded: 'e', tones: ['ê', 'ề', 'ế', 'ể', 'ễ', 'ệ'] },
  i: { folded: 'i', tones: ['i', 'ì', 'í', 'ỉ', 'ĩ', 'ị'] },
  o: { folded: 'o', tones: ['o', 'ò', 'ó', 'ỏ', 'õ', 'ọ'] },
  ô: { folded: 'o', tones: ['ô', 'ồ', 'ố', 'ổ', 'ỗ', 'ộ'] },
  ơ: { folded: 'o', tones: ['ơ', 'ờ', 'ớ', 'ở', 'ỡ', 'ợ'] },
  u: { folded: 'u', tones: ['u', 'ù', 'ú', 'ủ', 'ũ', 'ụ'] },
  ư: { folded: 'u', tones: ['ư', 'ừ', 'ứ', 'ử', 'ữ', 'ự'] },
  y: { folded: 'y', tones: ['y', 'ỳ', 'ý', 'ỷ', 'ỹ', 'ỵ'] },
};
const TONE_NAMES = ['no tone', 'huyền', 'sắc', 'hỏi', 'ngã', 'nặng'];

const cases = Object.entries(VOWELS).flatMap(([vowel, { folded, tones }]) =>
  tones.map((letter, tone) => ({ vowel, tone: TONE_NAMES[tone], letter, folded })),
);

describe('foldVietnamese', () => {
  it('covers 12 vowels × 6 tones, each a distinct precomposed letter', () => {
    expect(cases).toHaveLength(72);
    expect(new Set(cases.map((c) => c.letter)).size).toBe(72);
    for (const { letter } of cases) expect(letter.normalize('NFC')).toBe(letter);
  });

  it.each(cases)('$vowel with $tone: $letter → $folded', ({ letter, folded }) => {
    expect(foldVietnamese(letter)).toBe(folded);
    expect(foldVietnamese(letter.toUpperCase())).toBe(folded);
    expect(foldVietnamese(letter.normalize('NFD'))).toBe(folded);
    expect(foldVietnamese(letter.toUpperCase().normalize('NFD'))).toBe(folded);
  });

  it.each([
    ['đ', 'd'],
    ['Đ', 'd'],
    ['đường', 'duong'],
    ['ĐÀ NẴNG', 'da nang'],
    ['Họp lúc Chín Giờ', 'hop luc chin gio'],
    ['Nguyễn Thị Minh Khai', 'nguyen thi minh khai'],
    ['chuyển khoản 500.000 đồng', 'chuyen khoan 500.000 dong'],
    ['HỌP', 'hop'],
    ['', ''],
  ])('%j → %j', (input, folded) => {
    expect(foldVietnamese(input)).toBe(folded);
    expect(foldVietnamese(input.normalize('NFD'))).toBe(folded);
  });

  it('gives NFC and NFD spellings of a sentence the same folded text', () => {
    const nfc = 'Người ta hẹn gặp nhau ở phường Bến Thành';
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    expect(foldVietnamese(nfd)).toBe(foldVietnamese(nfc));
    expect(foldVietnamese(nfc)).toBe('nguoi ta hen gap nhau o phuong ben thanh');
  });

  it('is idempotent', () => {
    const once = foldVietnamese('Trường Sa, Hoàng Sa: ĐỪNG QUÊN!');
    expect(foldVietnamese(once)).toBe(once);
  });
});

describe('foldedWords', () => {
  it.each([
    ['Họp lúc 9 giờ 30, phòng B.', ['hop', 'luc', '9', 'gio', '30', 'phong', 'b']],
    ['9:30', ['9', '30']],
    ['“chín giờ” — sáng mai!', ['chin', 'gio', 'sang', 'mai']],
    ['500.000 đồng', ['500', '000', 'dong']],
    ['  ...  ', []],
    ['', []],
  ])('%j → %j', (input, words) => {
    expect(foldedWords(input)).toEqual(words);
  });
});
