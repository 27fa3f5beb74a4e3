/**
 * The words that, after a spoken number, make it a measurement or an amount of money, and how
 * each is written. Longest match wins ("ki lô mét vuông" before "ki lô mét" before "mét").
 */

/** A unit or currency as spoken and as written. */
export interface UnitEntry {
  /** The spoken words, lowercase NFC. */
  spoken: readonly string[];
  /** How it is written after the digits; undefined: the spoken words stay as they are. */
  written?: string;
  /** Written straight after the digits with no space (%, °C). */
  tight?: boolean;
  /** `N <unit> rưỡi` is N,5 (true for measures, not for giờ/phút/giây, where rưỡi is "half past"). */
  half?: boolean;
  /** `N <unit> D` is N,D ("một mét bảy" 1,7 m, "ba cân hai" 3,2 kg): lengths and weights. */
  tenths?: boolean;
  /** A time word (giờ, phút, giây). */
  time?: boolean;
  /** Takes the digit 0 ("không giờ", "không độ"); elsewhere "không" is "no" and stays a word. */
  zero?: boolean;
}

function entries(written: string | undefined, spellings: string[], extra: Omit<UnitEntry, 'spoken' | 'written'> = {}): UnitEntry[] {
  return spellings.map((spelling) => ({ spoken: spelling.split(' '), written, ...extra }));
}

/** Measures. Giờ, phút, giây, lít, tấn and độ stay words; the rest become symbols. */
export const UNITS: readonly UnitEntry[] = [
  ...entries('%', ['phần trăm'], { tight: true, zero: true }),
  ...entries('km/h', ['ki lô mét trên giờ', 'ki lô mét một giờ', 'cây số trên giờ', 'cây số một giờ'], { half: true }),
  ...entries('km²', ['ki lô mét vuông'], { half: true }),
  ...entries('km', ['ki lô mét', 'ki-lô-mét', 'kilômét', 'cây số'], { half: true, tenths: true }),
  ...entries('m²', ['mét vuông'], { half: true }),
  ...entries('m³', ['mét khối'], { half: true }),
  ...entries('cm', ['xen ti mét', 'xăng ti mét', 'xen-ti-mét', 'xăng-ti-mét', 'xentimét', 'centimét'], { half: true }),
  ...entries('mm', ['mi li mét', 'mi-li-mét', 'milimét'], { half: true }),
  ...entries('m', ['mét'], { half: true, tenths: true }),
  ...entries('kg', ['ki lô gam', 'ki-lô-gam', 'kilôgam', 'ki lô', 'ki-lô', 'kilô', 'ký lô', 'kí lô', 'ký', 'kí', 'cân'], { half: true, tenths: true }),
  ...entries('g', ['gam', 'gờ ram'], { half: true }),
  ...entries('ml', ['mi li lít', 'mi-li-lít', 'mililít'], { half: true }),
  ...entries(undefined, ['lít', 'tấn'], { half: true }),
  ...entries('ha', ['héc ta', 'héc-ta', 'hécta'], { half: true }),
  ...entries('GB', ['gi ga bai', 'gi-ga-bai', 'gigabai'], { half: true }),
  ...entries('MB', ['mê ga bai', 'mê-ga-bai', 'mêgabai'], { half: true }),
  ...entries('°C', ['độ xê', 'độ c'], { tight: true, half: true, zero: true }),
  ...entries(undefined, ['độ'], { half: true, zero: true }),
  ...entries(undefined, ['giờ'], { time: true, zero: true }),
  ...entries(undefined, ['phút', 'giây'], { time: true }),
];

/** Currencies; every one stays as spoken ("500.000 đồng", "50 đô la"). */
export const CURRENCIES: readonly UnitEntry[] = entries(
  undefined,
  [
    'việt nam đồng',
    'đồng',
    'đô la mỹ',
    'đô la',
    'đô-la',
    'đôla',
    'đô',
    'euro',
    'ơ rô',
    'usd',
    'vnd',
    'vnđ',
    'bảng anh',
    'yên nhật',
    'nhân dân tệ',
  ],
  { half: true },
);

/**
 * Words that, straight after a unit's last word, make a different word: đồng hồ (clock), đồng ý
 * (agree), đô thị (city), ký tự (character), cân bằng (balance)… "hai đồng hồ" is two clocks and
 * "mười ký tự" ten characters.
 */
const NOT_UNIT_AFTER: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [
    'đồng',
    new Set([
      'hồ', 'ý', 'nghiệp', 'hương', 'bào', 'chí', 'đội', 'thời', 'loạt', 'tình', 'ca', 'phục', 'bằng',
      'xu', 'tiền', 'lúa', 'ruộng', 'tâm', 'lòng', 'thanh', 'âm', 'cảm', 'sinh', 'môn', 'niên', 'hạng',
      'minh', 'nai', 'tháp', 'văn', 'đều', 'bộ', 'dạng', 'nhất', 'hành', 'tử', 'vị', 'cỏ', 'quê', 'bọn',
      'lõa', 'loã', 'cốt', 'thau', 'đen', 'hóa', 'hoá', 'trinh', 'chủ', 'sở', 'hữu', 'khởi', 'lần',
    ]),
  ],
  ['đô', new Set(['thị', 'vật', 'đốc', 'hộ', 'thành', 'con', 'úy', 'uý', 'sát', 'trưởng'])],
  ['ký', new Set(['tự', 'tên', 'hiệu', 'túc', 'sự', 'giả', 'kết', 'ức', 'sinh', 'ninh', 'lục', 'họa', 'hoạ', 'sổ', 'nhận', 'gửi', 'âm', 'quỹ', 'duyệt'])],
  ['kí', new Set(['tự', 'tên', 'hiệu', 'túc', 'sự', 'giả', 'kết', 'ức', 'sinh', 'ninh', 'lục', 'họa', 'hoạ', 'sổ', 'nhận', 'gửi', 'âm', 'quỹ', 'duyệt'])],
  ['cân', new Set(['bằng', 'nặng', 'đối', 'nhắc', 'xứng', 'đo', 'não'])],
  ['gam', new Set(['màu'])],
  ['độ', new Set(['tuổi', 'dài', 'cao', 'sâu', 'rộng', 'ẩm', 'chính', 'phân', 'khó', 'tin', 'nét', 'lớn', 'bền', 'nhạy', 'trễ'])],
  ['giây', new Set(['lát', 'phút'])],
  ['tấn', new Set(['công', 'tuồng', 'trò', 'kịch', 'tới', 'phong'])],
]);

/** The entry of `table` whose words start at `words[i]`, longest first, or undefined. */
export function matchUnit(table: readonly UnitEntry[], words: readonly string[], i: number): UnitEntry | undefined {
  let best: UnitEntry | undefined;
  for (const entry of table) {
    if (best && best.spoken.length >= entry.spoken.length) continue;
    if (entry.spoken.every((word, k) => words[i + k] === word)) {
      const last = entry.spoken[entry.spoken.length - 1];
      const after = words[i + entry.spoken.length];
      if (after !== undefined && NOT_UNIT_AFTER.get(last)?.has(after)) continue;
      best = entry;
    }
  }
  return best;
}
