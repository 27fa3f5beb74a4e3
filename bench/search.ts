/**
 * `npx tsx bench/search.ts`: history search at scale. Fills a store with transcripts of
 * voice-note length (Vietnamese-like text drawn from a word list by a seeded generator, with
 * numbers, times and amounts so that the written form differs from the spoken), then times
 * `search` over a few hundred queries of the kinds people type: one word, two words, a quoted
 * phrase, with and without marks. Prints a markdown table: fill rate, search p50/p95/p99/max,
 * and size on disk per 1,000 transcripts.
 *
 * SQLite always (in a temporary folder, removed after). PostgreSQL as well when DATABASE_URL is
 * set; it must name an empty database, and the transcripts the bench adds are removed after:
 *
 *   DATABASE_URL=postgres://user:password@127.0.0.1:5432/bench npx tsx bench/search.ts
 *
 * Options: --count N (transcripts, default 100000), --queries N (default 300), --chats N
 * (default 20; chat k holds a share of 1/k, as a few busy groups and many quiet ones do).
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SQLITE_FILE, openStore, type ChatKey, type Store } from '../src/store/index.js';
import { toWritten } from '../src/text/written.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '300' },
    chats: { type: 'string', default: '20' },
  },
});
const COUNT = Number(args.count);
const QUERIES = Number(args.queries);
const CHATS = Number(args.chats);
const WARMUP = 30;

/** mulberry32: a small seeded generator, so every run searches the same corpus with the same queries. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Common words of spoken Vietnamese, roughly most frequent first (drawn with Zipf weights).
const WORDS = (
  'là và của có không được cho người này một những các trong với đã đi anh em chị thì mình ' +
  'rồi ở nói làm ra nhé đó vậy lại cũng nhưng khi thế nào ạ biết bạn muốn phải nên về ' +
  'cái gì đây sẽ còn mà hay bây giờ hôm nay mai sáng chiều tối ngày tuần tháng năm ' +
  'họp gặp gửi nhận tiền hóa đơn hợp đồng khách hàng công ty dự án báo cáo kế hoạch ' +
  'giao hàng đơn kho xe đường văn phòng máy tính điện thoại tin nhắn email lịch ' +
  'giá tiền mặt chuyển khoản tài khoản ngân hàng thanh toán nợ trả lương thưởng ' +
  'quán cà phê cơm trưa ăn uống nhà con mẹ bố trường học bệnh viện thuốc bác sĩ ' +
  'kiểm tra sửa lỗi xong chưa gấp nhanh chậm sớm muộn đúng sai tốt xấu mới cũ ' +
  'giúp hỏi trả lời gọi lại nghe thấy xem đọc viết ghi nhớ quên chờ đợi đến về ' +
  'hà nội sài gòn đà nẵng hải phòng cần thơ huế nha trang quận phường số nhà tầng phòng ' +
  'sản phẩm mẫu thiết kế chất lượng số lượng đặt hàng hủy đổi giảm giá khuyến mãi ' +
  'lớn nhỏ nhiều ít hết cả mỗi từng vài mấy rất quá lắm hơi thật chắc có lẽ'
).split(' ');
const NUMBER_PHRASES = [
  'chín giờ',
  'mười giờ ba mươi',
  'hai giờ chiều',
  'ba trăm nghìn đồng',
  'hai triệu đồng',
  'năm mươi phần trăm',
  'hai mươi lăm',
  'mười hai',
  'ngày mười lăm tháng tám',
  'một trăm hai mươi',
  'không chín không một hai ba bốn năm sáu bảy',
];

const rand = random(15);
const cumulative: number[] = [];
WORDS.reduce((sum, _, rank) => (cumulative.push(sum + 1 / (rank + 1)), sum + 1 / (rank + 1)), 0);
const totalWeight = cumulative[cumulative.length - 1];

function word(): string {
  const target = rand() * totalWeight;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] < target) lo = mid + 1;
    else hi = mid;
  }
  return WORDS[lo];
}

/** A voice note: 8 to 60 words (about 3 to 25 seconds of speech), now and then a number. */
function note(): string {
  const length = 8 + Math.floor(rand() * 53);
  const out: string[] = [];
  while (out.length < length) {
    if (rand() < 0.04) out.push(NUMBER_PHRASES[Math.floor(rand() * NUMBER_PHRASES.length)]);
    else out.push(word());
  }
  return out.join(' ');
}

const chatWeights = Array.from({ length: CHATS }, (_, k) => 1 / (k + 1));
const chatTotal = chatWeights.reduce((a, b) => a + b, 0);
function chat(): ChatKey {
  let target = rand() * chatTotal;
  for (let k = 0; k < CHATS; k++) {
    target -= chatWeights[k];
    if (target <= 0) return { platform: 'telegram', chatId: `bench-${k}` };
  }
  return { platform: 'telegram', chatId: `bench-${CHATS - 1}` };
}

const anyWord = () => WORDS[Math.floor(rand() * WORDS.length)];
const strip = (text: string) => text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/đ/g, 'd');

/**
 * Queries as people type them: a word, two words, a phrase from some note, words near each other
 * in a note; half of them without marks. Searched words are drawn evenly from the word list, not
 * by frequency: people look for "hóa đơn" or a place, rarely for "là". The last row of the
 * table is that rare worst case: the commonest word, in the biggest chat.
 */
function queries(samples: string[]): { chat: ChatKey; query: string }[] {
  return Array.from({ length: QUERIES + WARMUP }, (_, i) => {
    const sample = samples[Math.floor(rand() * samples.length)].split(' ');
    const at = Math.floor(rand() * (sample.length - 1));
    let query: string;
    switch (i % 4) {
      case 0:
        query = anyWord();
        break;
      case 1:
        query = `${anyWord()} ${anyWord()}`;
        break;
      case 2:
        query = `"${sample[at]} ${sample[at + 1]}"`;
        break;
      default:
        query = `${sample[at]} ${sample[Math.min(sample.length - 1, at + 2)]}`;
    }
    return { chat: chat(), query: i % 2 === 0 ? strip(query) : query };
  });
}

interface Row {
  engine: string;
  fillPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  meanResults: number;
  /** Median of the commonest word searched in the biggest chat. */
  commonest: number;
  bytesPer1000: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function fill(store: Store, inFlight: number): Promise<{ perSec: number; samples: string[] }> {
  const now = Date.now();
  const samples: string[] = [];
  const started = performance.now();
  let made = 0;
  const worker = async () => {
    while (made < COUNT) {
      const number = ++made;
      const spoken = note();
      if (samples.length < 2000 && rand() < 0.05) samples.push(spoken);
      await store.remember({
        chat: chat(),
        messageRef: String(number),
        authorId: `user-${Math.floor(rand() * 50)}`,
        transcript: spoken,
        written: toWritten(spoken),
        duration: spoken.split(' ').length * 0.4,
        createdAt: new Date(now - Math.floor(rand() * 25 * 24 * 3600 * 1000)),
      });
      if (number % 10_000 === 0) process.stderr.write(`  ${store.dialect}: ${number} stored\n`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { perSec: COUNT / ((performance.now() - started) / 1000), samples };
}

async function measure(store: Store, samples: string[]): Promise<Pick<Row, 'p50' | 'p95' | 'p99' | 'max' | 'meanResults' | 'commonest'>> {
  const times: number[] = [];
  let results = 0;
  for (const [i, { chat: key, query }] of queries(samples).entries()) {
    const started = performance.now();
    const page = await store.search(key, query);
    const ms = performance.now() - started;
    if (i < WARMUP) continue;
    times.push(ms);
    results += page.results.length;
  }
  times.sort((a, b) => a - b);
  const common: number[] = [];
  for (let i = 0; i < 21; i++) {
    const started = performance.now();
    await store.search({ platform: 'telegram', chatId: 'bench-0' }, WORDS[0]);
    common.push(performance.now() - started);
  }
  common.sort((a, b) => a - b);
  return {
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    p99: percentile(times, 99),
    max: times[times.length - 1],
    meanResults: results / times.length,
    commonest: percentile(common, 50),
  };
}

async function sqliteRow(): Promise<Row> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stt-bench-search-'));
  try {
    const store = await openStore({ dataDir: dir, historyDays: 3650, purgeIntervalMs: 0 });
    const { perSec, samples } = await fill(store, 1);
    const timing = await measure(store, samples);
    // Closing checkpoints the WAL into the file, so the file alone is the size.
    await store.close();
    let bytes = 0;
    for (const suffix of ['', '-wal', '-shm']) bytes += await stat(path.join(dir, SQLITE_FILE + suffix)).then((s) => s.size, () => 0);
    return { engine: 'SQLite (FTS5)', fillPerSec: perSec, ...timing, bytesPer1000: bytes / (COUNT / 1000) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function postgresRow(databaseUrl: string): Promise<Row> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const store = await openStore({ dataDir: os.tmpdir(), databaseUrl, historyDays: 3650, purgeIntervalMs: 0 });
  try {
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM transcripts');
    if (Number(rows[0].n) > 0) throw new Error('DATABASE_URL must name an empty database: the bench adds transcripts and removes them after.');
    const { perSec, samples } = await fill(store, 8);
    await client.query('VACUUM ANALYZE transcripts');
    const timing = await measure(store, samples);
    const size = await client.query<{ bytes: string }>("SELECT pg_total_relation_size('transcripts') AS bytes");
    return { engine: 'PostgreSQL (tsvector + GIN)', fillPerSec: perSec, ...timing, bytesPer1000: Number(size.rows[0].bytes) / (COUNT / 1000) };
  } finally {
    for (let k = 0; k < CHATS; k++) await store.forget({ platform: 'telegram', chatId: `bench-${k}` });
    await store.close();
    await client.end();
  }
}

const rows: Row[] = [await sqliteRow()];
if (process.env.DATABASE_URL) rows.push(await postgresRow(process.env.DATABASE_URL));
else process.stderr.write('PostgreSQL skipped: set DATABASE_URL=postgres://… (an empty database) to measure it too.\n');

const ms = (v: number) => `${v.toFixed(1)} ms`;
console.log(`\n${COUNT.toLocaleString('en')} transcripts in ${CHATS} chats, ${QUERIES} queries (limit 5), Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}\n`);
console.log(`| engine | fill | search p50 | p95 | p99 | max | results per query | "${WORDS[0]}" in the biggest chat | on disk per 1,000 |`);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) {
  console.log(
    `| ${row.engine} | ${Math.round(row.fillPerSec)}/s | ${ms(row.p50)} | ${ms(row.p95)} | ${ms(row.p99)} | ${ms(row.max)} | ${row.meanResults.toFixed(1)} | ${ms(row.commonest)} | ${(row.bytesPer1000 / 1024).toFixed(0)} KiB |`,
  );
}
