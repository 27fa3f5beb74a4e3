import { describe, expect, it } from 'vitest';
import { toWritten } from '../../src/text/written.js';

// Every table is [spoken, written], written from the rules at the top of src/text/written.ts.
// Each written form must also be a fixed point (checked at the end over every table).

type Row = [spoken: string, written: string];
const all: Row[] = [];
function table(rows: Row[]): Row[] {
  all.push(...rows);
  return rows;
}

describe('the examples of the brief hold exactly', () => {
  it.each(
    table([
      ['hai mươi mốt', '21'],
      ['một trăm linh năm', '105'],
      ['hai nghìn không trăm hai mươi tư', '2024'],
      ['ba triệu rưỡi', '3,5 triệu'],
      ['hai mươi lăm', '25'],
      ['ba lăm', '35'],
      ['một trăm hai', '120'],
      ['hai nghìn rưỡi', '2.500'],
      ['ba phẩy năm', '3,5'],
      ['năm mươi phần trăm', '50%'],
      ['năm trăm nghìn đồng', '500.000 đồng'],
      ['hai triệu đồng', '2.000.000 đồng'],
      ['chín giờ ba mươi', '9 giờ 30'],
      ['chín giờ sáng', '9 giờ sáng'],
      ['ngày mười tám tháng năm năm hai nghìn không trăm hai mươi hai', 'ngày 18/5/2022'],
      ['ngày mười tám tháng năm', 'ngày 18/5'],
      ['không chín không một hai ba bốn năm sáu bảy', '0901234567'],
      ['năm ki lô mét', '5 km'],
      ['ba ki lô gam', '3 kg'],
      ['ba cân', '3 kg'],
      ['hai cái xoong', 'hai cái xoong'],
      ['một người', 'một người'],
      ['mấy', 'mấy'],
      ['thứ hai', 'thứ hai'],
      ['năm nay', 'năm nay'],
      ['năm ngoái', 'năm ngoái'],
      ['tháng năm', 'tháng năm'],
      ['một chút', 'một chút'],
      ['một số', 'một số'],
      ['mười mấy', 'mười mấy'],
      ['cuộc họp lúc chín giờ sáng mai', 'cuộc họp lúc 9 giờ sáng mai'],
      ['chuyển khoản năm trăm nghìn đồng', 'chuyển khoản 500.000 đồng'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('tens: mười, mươi and the spoken variants of their units', () => {
  it.each(
    table([
      ['mười', '10'],
      ['mười một', '11'],
      ['mười hai', '12'],
      ['mười ba', '13'],
      ['mười bốn', '14'],
      ['mười tư', '14'],
      ['mười lăm', '15'],
      ['mười nhăm', '15'],
      ['mười sáu', '16'],
      ['mười bảy', '17'],
      ['mười bẩy', '17'],
      ['mười tám', '18'],
      ['mười chín', '19'],
      ['hai mươi', '20'],
      ['ba mươi', '30'],
      ['bốn mươi', '40'],
      ['năm mươi', '50'],
      ['sáu mươi', '60'],
      ['bảy mươi', '70'],
      ['bẩy mươi', '70'],
      ['tám mươi', '80'],
      ['chín mươi', '90'],
      ['hai mươi một', '21'],
      ['ba mươi mốt', '31'],
      ['chín mươi mốt', '91'],
      ['hai mươi hai', '22'],
      ['ba mươi ba', '33'],
      ['hai mươi tư', '24'],
      ['hai mươi bốn', '24'],
      ['bốn mươi tư', '44'],
      ['bốn mươi bốn', '44'],
      ['hai mươi nhăm', '25'],
      ['năm mươi lăm', '55'],
      ['chín mươi lăm', '95'],
      ['sáu mươi sáu', '66'],
      ['ba mươi bảy', '37'],
      ['ba mươi bẩy', '37'],
      ['tám mươi tám', '88'],
      ['chín mươi chín', '99'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['mười năm', '10 năm'],
      ['hai mươi năm', '20 năm'],
      ['ba mươi năm trước', '30 năm trước'],
      ['năm mươi năm', '50 năm'],
      ['mười lăm năm', '15 năm'],
      ['hai mươi lăm năm', '25 năm'],
    ]),
  )('năm after mươi/mười is "year", not 5: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['hai mốt', '21'],
      ['ba mốt', '31'],
      ['chín mốt', '91'],
      ['hai lăm', '25'],
      ['năm lăm', '55'],
      ['chín lăm', '95'],
      ['bốn nhăm', '45'],
      ['hai mốt tuổi', '21 tuổi'],
      ['ba lăm người', '35 người'],
      ['ba tư', 'ba tư'],
      ['mèo ba tư', 'mèo ba tư'],
      ['hai tư', 'hai tư'],
    ]),
  )('colloquial tens "d mốt|lăm|nhăm" (not "d tư"): %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('hundreds: linh/lẻ, tens, rưỡi and the abbreviated tens digit', () => {
  it.each(
    table([
      ['một trăm', '100'],
      ['hai trăm', '200'],
      ['chín trăm', '900'],
      ['một trăm linh một', '101'],
      ['một trăm lẻ một', '101'],
      ['một trăm lẻ năm', '105'],
      ['một trăm linh tư', '104'],
      ['một trăm lẻ bốn', '104'],
      ['hai trăm linh chín', '209'],
      ['một trăm mười', '110'],
      ['một trăm mười một', '111'],
      ['một trăm mười lăm', '115'],
      ['một trăm hai mươi', '120'],
      ['một trăm hai mươi mốt', '121'],
      ['ba trăm bốn mươi lăm', '345'],
      ['năm trăm năm mươi', '550'],
      ['bảy trăm bảy mươi bảy', '777'],
      ['chín trăm chín mươi chín', '999'],
      ['bốn trăm ba lăm', '435'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['một trăm ba', '130'],
      ['một trăm tư', '140'],
      ['một trăm bốn', '140'],
      ['một trăm lăm', '150'],
      ['một trăm rưỡi', '150'],
      ['một trăm sáu', '160'],
      ['hai trăm bảy', '270'],
      ['một trăm tám', '180'],
      ['chín trăm chín', '990'],
      ['một trăm mốt', '110'],
      ['hai trăm rưỡi', '250'],
      ['một trăm hai nghìn', '120.000'],
      ['hai trăm năm nghìn', '250.000'],
    ]),
  )('abbreviated: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['một trăm năm', '100 năm'],
      ['hai trăm năm lịch sử', '200 năm lịch sử'],
      ['một trăm mười năm', '110 năm'],
      ['một trăm một', 'một trăm một'],
    ]),
  )('not abbreviated: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('thousands: nghìn/ngàn, không trăm, linh, rưỡi and abbreviations', () => {
  it.each(
    table([
      ['một nghìn', '1.000'],
      ['hai nghìn', '2.000'],
      ['ba nghìn', '3.000'],
      ['một ngàn', '1.000'],
      ['năm ngàn', '5.000'],
      ['mười nghìn', '10.000'],
      ['mười hai nghìn', '12.000'],
      ['hai mươi nghìn', '20.000'],
      ['hai mươi lăm ngàn', '25.000'],
      ['hai lăm nghìn', '25.000'],
      ['năm mươi nghìn', '50.000'],
      ['một trăm nghìn', '100.000'],
      ['năm trăm nghìn', '500.000'],
      ['ba trăm linh năm nghìn', '305.000'],
      ['một trăm hai mươi ba nghìn', '123.000'],
      ['chín trăm chín mươi chín nghìn', '999.000'],
      ['hai mươi ba nghìn bốn trăm năm mươi sáu', '23.456'],
      ['chín trăm chín mươi chín nghìn chín trăm chín mươi chín', '999.999'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['hai nghìn không trăm linh năm', '2005'],
      ['hai nghìn linh năm', '2005'],
      ['hai nghìn lẻ một', '2001'],
      ['hai nghìn hai mươi', '2020'],
      ['hai nghìn mười lăm', '2015'],
      ['một nghìn chín trăm chín mươi', '1990'],
      ['một nghìn chín trăm bảy mươi lăm', '1975'],
      ['một nghìn chín trăm bốn mươi lăm', '1945'],
      ['một nghìn không trăm linh một', '1001'],
    ]),
  )('1000–2099 read in full and not a whole hundred reads as a year: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['ba nghìn hai trăm', '3.200'],
      ['năm nghìn năm trăm năm mươi', '5.550'],
      ['hai nghìn một trăm', '2.100'],
      ['một nghìn năm trăm', '1.500'],
      ['hai nghìn năm trăm', '2.500'],
      ['chín nghìn chín trăm chín mươi chín', '9.999'],
      ['bốn nghìn không trăm linh năm', '4.005'],
      ['hai nghìn người', '2.000 người'],
      ['năm nghìn người', '5.000 người'],
    ]),
  )('other four-digit numbers are grouped: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['hai nghìn hai', '2.200'],
      ['ba nghìn tư', '3.400'],
      ['hai nghìn mốt', '2.100'],
      ['năm nghìn lăm', '5.500'],
      ['một nghìn hai', '1.200'],
      ['ba nghìn sáu', '3.600'],
      ['mười nghìn rưỡi', '10.500'],
      ['hai nghìn năm', '2.000 năm'],
      ['một nghìn năm', '1.000 năm'],
      ['hai nghìn một', 'hai nghìn một'],
    ]),
  )('after nghìn one digit is the hundreds (not năm, not một): %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('millions and billions: one count keeps its word, anything else is written in full', () => {
  it.each(
    table([
      ['một triệu', '1 triệu'],
      ['ba triệu', '3 triệu'],
      ['mười triệu', '10 triệu'],
      ['hai trăm triệu', '200 triệu'],
      ['ba triệu hai', '3,2 triệu'],
      ['ba triệu tư', '3,4 triệu'],
      ['một triệu rưỡi', '1,5 triệu'],
      ['ba triệu người', '3 triệu người'],
      ['chín mươi triệu dân', '90 triệu dân'],
      ['ba triệu năm', '3 triệu năm'],
      ['ba triệu hai trăm nghìn', '3.200.000'],
      ['một triệu năm trăm nghìn', '1.500.000'],
      ['hai triệu không trăm năm mươi nghìn', '2.050.000'],
      ['một triệu không trăm linh một', '1.000.001'],
      ['một tỷ', '1 tỷ'],
      ['hai tỉ', '2 tỉ'],
      ['một tỷ rưỡi', '1,5 tỷ'],
      ['một tỷ hai', '1,2 tỷ'],
      ['năm trăm tỷ', '500 tỷ'],
      ['năm nghìn tỷ', '5.000 tỷ'],
      ['hai nghìn tỷ', '2.000 tỷ'],
      ['một tỷ hai trăm triệu', '1.200.000.000'],
      ['hai tỷ không trăm năm mươi triệu', '2.050.000.000'],
      ['hai tỷ ba trăm triệu bốn trăm nghìn', '2.300.400.000'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['tỷ lệ năm mươi phần trăm', 'tỷ lệ 50%'],
      ['hai tỷ phú', 'hai tỷ phú'],
      ['ba triệu chứng', 'ba triệu chứng'],
      ['tỷ giá', 'tỷ giá'],
      ['hàng triệu người', 'hàng triệu người'],
      ['hàng trăm năm', 'hàng trăm năm'],
      ['nghìn năm', 'nghìn năm'],
      ['trăm năm', 'trăm năm'],
      ['triệu phú', 'triệu phú'],
    ]),
  )('magnitude words that are other words, or have no count: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('threshold: a lone cardinal below 10 stays a word, 10 and more become digits', () => {
  it.each(
    table([
      ['tôi có hai con mèo', 'tôi có hai con mèo'],
      ['ba người bạn', 'ba người bạn'],
      ['bốn mùa', 'bốn mùa'],
      ['năm ngón tay', 'năm ngón tay'],
      ['sáu tháng', 'sáu tháng'],
      ['bảy ngày', 'bảy ngày'],
      ['bẩy ngày', 'bẩy ngày'],
      ['tám chuyện', 'tám chuyện'],
      ['chín người', 'chín người'],
      ['không biết', 'không biết'],
      ['một mình', 'một mình'],
      ['một lúc', 'một lúc'],
      ['ba mẹ', 'ba mẹ'],
      ['mười người', '10 người'],
      ['hai mươi bạn', '20 bạn'],
      ['mười lăm học sinh', '15 học sinh'],
      ['ba mươi tuổi', '30 tuổi'],
      ['mười tuổi', '10 tuổi'],
      ['mười hai tháng', '12 tháng'],
      ['điểm mười', 'điểm 10'],
      ['quận mười', 'quận 10'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('decimals with phẩy', () => {
  it.each(
    table([
      ['không phẩy năm', '0,5'],
      ['một phẩy hai', '1,2'],
      ['một phẩy hai lăm', '1,25'],
      ['ba phẩy một bốn', '3,14'],
      ['ba phẩy một bốn một năm', '3,1415'],
      ['không phẩy không năm', '0,05'],
      ['hai phẩy năm mươi', '2,50'],
      ['ba phẩy mười bốn', '3,14'],
      ['mười phẩy năm', '10,5'],
      ['mười hai phẩy năm', '12,5'],
      ['một trăm phẩy năm', '100,5'],
      ['ba phẩy năm triệu', '3,5 triệu'],
      ['một phẩy hai tỷ', '1,2 tỷ'],
      ['một phẩy năm ki lô mét', '1,5 km'],
      ['không phẩy năm độ', '0,5 độ'],
      ['chỉ số tăng hai phẩy một', 'chỉ số tăng 2,1'],
      ['dấu phẩy', 'dấu phẩy'],
      ['ba dấu phẩy', 'ba dấu phẩy'],
      ['ba phẩy', 'ba phẩy'],
      ['phẩy năm', 'phẩy năm'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('percent: "phần trăm" after a number is a tight %', () => {
  it.each(
    table([
      ['năm phần trăm', '5%'],
      ['một phần trăm', '1%'],
      ['không phần trăm', '0%'],
      ['mười lăm phần trăm', '15%'],
      ['một trăm phần trăm', '100%'],
      ['hai nghìn phần trăm', '2.000%'],
      ['ba phẩy năm phần trăm', '3,5%'],
      ['không phẩy năm phần trăm', '0,5%'],
      ['tăng hai mươi phần trăm', 'tăng 20%'],
      ['bao nhiêu phần trăm', 'bao nhiêu phần trăm'],
      ['phần trăm', 'phần trăm'],
      ['ba phần tư', 'ba phần tư'],
      ['hai phần ba', 'hai phần ba'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('money: the amount in full, grouped by ".", the currency as spoken', () => {
  it.each(
    table([
      ['ba triệu rưỡi đồng', '3.500.000 đồng'],
      ['một tỷ đồng', '1.000.000.000 đồng'],
      ['mười triệu đồng', '10.000.000 đồng'],
      ['hai mươi nghìn đồng', '20.000 đồng'],
      ['năm nghìn đồng', '5.000 đồng'],
      ['hai nghìn đồng', '2.000 đồng'],
      ['hai nghìn không trăm hai mươi tư đồng', '2.024 đồng'],
      ['hai lăm nghìn đồng', '25.000 đồng'],
      ['hai trăm năm mươi nghìn đồng', '250.000 đồng'],
      ['một triệu hai đồng', '1.200.000 đồng'],
      ['một phẩy năm triệu đồng', '1.500.000 đồng'],
      ['hai phẩy năm tỷ đồng', '2.500.000.000 đồng'],
      ['ba tỷ năm trăm triệu đồng', '3.500.000.000 đồng'],
      ['một trăm đồng', '100 đồng'],
      ['năm đồng', '5 đồng'],
      ['hai đồng', '2 đồng'],
      ['năm mươi nghìn việt nam đồng', '50.000 việt nam đồng'],
      ['năm mươi đô', '50 đô'],
      ['hai đô rưỡi', '2,5 đô'],
      ['một trăm đô la', '100 đô la'],
      ['năm đô la mỹ', '5 đô la mỹ'],
      ['ba trăm euro', '300 euro'],
      ['một nghìn ơ rô', '1.000 ơ rô'],
      ['hai triệu đồng một tháng', '2.000.000 đồng một tháng'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['hai đồng hồ', 'hai đồng hồ'],
      ['ba đồng nghiệp', 'ba đồng nghiệp'],
      ['hai đồng ý', 'hai đồng ý'],
      ['không đồng nào', 'không đồng nào'],
      ['hai đô thị', 'hai đô thị'],
      ['mười đô thị', '10 đô thị'],
      ['mười đồng hồ', '10 đồng hồ'],
      ['đồng hồ', 'đồng hồ'],
    ]),
  )('đồng and đô in other words: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('units after a number: symbols for measures, words for time, lít, tấn and độ', () => {
  it.each(
    table([
      ['một ki lô mét', '1 km'],
      ['mười ki lô mét', '10 km'],
      ['năm cây số', '5 km'],
      ['hai mét', '2 m'],
      ['một trăm mét', '100 m'],
      ['ba mươi xen ti mét', '30 cm'],
      ['hai mươi xăng ti mét', '20 cm'],
      ['năm mi li mét', '5 mm'],
      ['hai ký', '2 kg'],
      ['năm ký lô', '5 kg'],
      ['hai ki lô', '2 kg'],
      ['năm trăm gam', '500 g'],
      ['hai lít', '2 lít'],
      ['năm mi li lít', '5 ml'],
      ['ba tấn', '3 tấn'],
      ['một trăm héc ta', '100 ha'],
      ['hai mươi mét vuông', '20 m²'],
      ['ba mét khối', '3 m³'],
      ['sáu mươi ki lô mét trên giờ', '60 km/h'],
      ['ba mươi độ xê', '30°C'],
      ['ba mươi độ', '30 độ'],
      ['không độ xê', '0°C'],
      ['âm năm độ xê', '-5°C'],
      ['âm mười độ', '-10 độ'],
      ['hai gi ga bai', '2 GB'],
      ['năm trăm mê ga bai', '500 MB'],
      ['hai nghìn mét', '2.000 m'],
      ['hai nghìn không trăm hai mươi tư mét', '2.024 m'],
      ['ba triệu ki lô mét', '3 triệu km'],
      ['ki lô mét', 'ki lô mét'],
      ['mấy ki lô', 'mấy ki lô'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['ba cân rưỡi', '3,5 kg'],
      ['hai ki lô mét rưỡi', '2,5 km'],
      ['mười lăm ki lô mét rưỡi', '15,5 km'],
      ['hai lít rưỡi', '2,5 lít'],
      ['cao một mét bảy', 'cao 1,7 m'],
      ['một mét bảy lăm', '1,75 m'],
      ['một mét bảy mươi', '1,70 m'],
      ['ba cân hai', '3,2 kg'],
      ['mười mét hai bên', '10 m hai bên'],
      ['dài hai mét không', 'dài 2 m không'],
    ]),
  )('halves and tenths after a measure: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['mười ký tự', '10 ký tự'],
      ['hai ký tên', 'hai ký tên'],
      ['ba gam màu', 'ba gam màu'],
      ['hai độ tuổi', 'hai độ tuổi'],
      ['âm năm', 'âm năm'],
      ['âm nhạc', 'âm nhạc'],
      ['âm năm mét', 'âm 5 m'],
      ['cân nặng', 'cân nặng'],
    ]),
  )('unit words in other words: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('times: "9 giờ 30"', () => {
  it.each(
    table([
      ['chín giờ', '9 giờ'],
      ['hai giờ chiều', '2 giờ chiều'],
      ['mười giờ tối', '10 giờ tối'],
      ['mười hai giờ trưa', '12 giờ trưa'],
      ['không giờ', '0 giờ'],
      ['một giờ', '1 giờ'],
      ['năm giờ sáng', '5 giờ sáng'],
      ['chín giờ ba mươi phút', '9 giờ 30 phút'],
      ['chín giờ năm phút', '9 giờ 5 phút'],
      ['chín giờ mười lăm', '9 giờ 15'],
      ['mười giờ bốn mươi lăm', '10 giờ 45'],
      ['hai giờ mười phút', '2 giờ 10 phút'],
      ['chín giờ ba mươi sáng', '9 giờ 30 sáng'],
      ['chín giờ rưỡi', '9 giờ rưỡi'],
      ['chín giờ kém mười lăm', '9 giờ kém 15'],
      ['chín giờ kém năm', '9 giờ kém 5'],
      ['chín giờ kém năm phút', '9 giờ kém 5 phút'],
      ['chín giờ năm', '9 giờ năm'],
      ['năm phút', '5 phút'],
      ['ba mươi giây', '30 giây'],
      ['hai giờ đồng hồ', '2 giờ đồng hồ'],
      ['bốn mươi tám giờ', '48 giờ'],
      ['lúc hai mươi giờ', 'lúc 20 giờ'],
      ['bây giờ', 'bây giờ'],
      ['mấy giờ rồi', 'mấy giờ rồi'],
      ['giờ', 'giờ'],
      ['một giây lát', 'một giây lát'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('dates: D/M and D/M/Y with a day, M/Y with a year, else the month stays words', () => {
  it.each(
    table([
      ['ngày hai tháng chín', 'ngày 2/9'],
      ['ngày mùng hai tháng chín', 'ngày mùng 2/9'],
      ['mùng một tháng một', 'mùng 1/1'],
      ['mồng ba tháng hai', 'mồng 3/2'],
      ['ngày ba mươi tháng tư', 'ngày 30/4'],
      ['ngày bốn tháng tư', 'ngày 4/4'],
      ['ngày bốn tháng bốn', 'ngày 4/4'],
      ['ngày một tháng sáu', 'ngày 1/6'],
      ['ngày hai mươi mốt tháng mười hai', 'ngày 21/12'],
      ['ngày ba mốt tháng mười', 'ngày 31/10'],
      ['ngày mười tháng mười một', 'ngày 10/11'],
      ['ngày ba mươi tháng tư năm một nghìn chín trăm bảy mươi lăm', 'ngày 30/4/1975'],
      ['ngày mười lăm tháng mười một năm hai nghìn hai mươi', 'ngày 15/11/2020'],
      ['ngày mười tháng mười năm hai nghìn không trăm mười', 'ngày 10/10/2010'],
      ['ngày hai tháng chín năm hai không hai năm', 'ngày 2/9/2025'],
      ['ngày một tháng một năm hai nghìn', 'ngày 1/1/2000'],
      ['ngày mười tám tháng năm năm nay', 'ngày 18/5 năm nay'],
      ['thứ hai ngày mười tám tháng năm', 'thứ hai ngày 18/5'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['tháng năm năm hai nghìn không trăm hai mươi hai', 'tháng 5/2022'],
      ['tháng mười hai năm hai nghìn hai mươi', 'tháng 12/2020'],
      ['tháng tư năm một nghìn chín trăm bảy mươi lăm', 'tháng 4/1975'],
      ['năm hai nghìn không trăm hai mươi hai', 'năm 2022'],
      ['năm hai không hai hai', 'năm 2022'],
      ['năm một chín chín năm', 'năm 1995'],
      ['năm hai nghìn', 'năm 2000'],
      ['năm chín lăm', 'năm 95'],
      ['năm một nghìn chín trăm chín mươi', 'năm 1990'],
      ['năm năm mươi', 'năm 50'],
    ]),
  )('months with a year, and years: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['tháng một', 'tháng một'],
      ['tháng hai', 'tháng hai'],
      ['tháng tư', 'tháng tư'],
      ['tháng chín', 'tháng chín'],
      ['tháng mười', 'tháng mười'],
      ['tháng mười một', 'tháng mười một'],
      ['tháng mười hai', 'tháng mười hai'],
      ['tháng mười hai năm ngoái', 'tháng mười hai năm ngoái'],
      ['tháng giêng', 'tháng giêng'],
      ['ngày mười tháng giêng', 'ngày 10 tháng giêng'],
      ['mười tám tháng năm', '18 tháng năm'],
      ['ngày ba mươi hai tháng năm', 'ngày 32 tháng năm'],
      ['ngày mười tháng mười ba', 'ngày 10 tháng 13'],
      ['ngày mai', 'ngày mai'],
      ['ngày năm', 'ngày năm'],
      ['mùng một tết', 'mùng một tết'],
      ['năm năm', 'năm năm'],
      ['năm tháng', 'năm tháng'],
    ]),
  )('not dates: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('digit strings: four digit words or more are read one by one', () => {
  it.each(
    table([
      ['không chín tám bảy sáu năm bốn ba hai một', '0987654321'],
      ['một hai ba bốn', '1234'],
      ['mã số không không một hai', 'mã số 0012'],
      ['mã otp là bốn năm sáu bảy tám chín', 'mã otp là 456789'],
      ['số tài khoản một không không hai ba bốn năm sáu bẩy tám', 'số tài khoản 1002345678'],
      ['gọi không chín không một hai ba bốn năm sáu bảy nhé', 'gọi 0901234567 nhé'],
      ['ba không hai', 'ba không hai'],
      ['có một không hai', 'có một không hai'],
      ['hai ba', 'hai ba'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('ambiguous Vietnamese is left as words', () => {
  it.each(
    table([
      ['thứ ba', 'thứ ba'],
      ['thứ tư', 'thứ tư'],
      ['thứ năm', 'thứ năm'],
      ['thứ sáu', 'thứ sáu'],
      ['thứ bảy', 'thứ bảy'],
      ['chủ nhật', 'chủ nhật'],
      ['thứ hai tuần sau', 'thứ hai tuần sau'],
      ['thứ năm năm nay', 'thứ năm năm nay'],
      ['thứ hai mười giờ', 'thứ hai 10 giờ'],
      ['thứ mười', 'thứ 10'],
      ['thứ hai mươi', 'thứ 20'],
      ['thứ ba mươi mốt', 'thứ 31'],
    ]),
  )('weekdays and ordinals: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['hai mươi mấy', 'hai mươi mấy'],
      ['một trăm mấy', 'một trăm mấy'],
      ['ba nghìn mấy', 'ba nghìn mấy'],
      ['mấy trăm', 'mấy trăm'],
      ['mấy nghìn người', 'mấy nghìn người'],
      ['vài chục', 'vài chục'],
      ['hai ba ngày', 'hai ba ngày'],
      ['ba bốn người', 'ba bốn người'],
      ['bảy tám mươi tuổi', 'bảy tám mươi tuổi'],
      ['năm sáu trăm nghìn', 'năm sáu trăm nghìn'],
      ['hai ba triệu đồng', 'hai ba triệu đồng'],
      ['mười hai mười ba tuổi', 'mười hai mười ba tuổi'],
      ['chắc mười mươi', 'chắc mười mươi'],
      ['mười mốt', 'mười mốt'],
      ['một lăm', 'một lăm'],
      ['mười hai rưỡi', 'mười hai rưỡi'],
    ]),
  )('approximations and doubtful readings: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it.each(
    table([
      ['mười phân vẹn mười', 'mười phân vẹn mười'],
      ['chín bỏ làm mười', 'chín bỏ làm mười'],
      ['chín người mười ý', 'chín người mười ý'],
      ['năm sau', 'năm sau'],
      ['năm mới', 'năm mới'],
      ['năm học', 'năm học'],
      ['cả năm', 'cả năm'],
      ['hằng năm', 'hằng năm'],
      ['năm ấy', 'năm ấy'],
      ['một ít', 'một ít'],
      ['một lần', 'một lần'],
      ['một nửa', 'một nửa'],
      ['ngày kia ngày mốt', 'ngày kia ngày mốt'],
      ['lăm le', 'lăm le'],
      ['linh hồn', 'linh hồn'],
      ['số lẻ', 'số lẻ'],
      ['mươi ngày', 'mươi ngày'],
      ['tư nhân', 'tư nhân'],
      ['rưỡi', 'rưỡi'],
    ]),
  )('idioms and number words in other senses: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('mixed sentences', () => {
  it.each(
    table([
      ['tôi sinh ngày mười lăm tháng tám năm một nghìn chín trăm chín mươi', 'tôi sinh ngày 15/8/1990'],
      ['lãi suất tăng ba phẩy năm phần trăm trong năm nay', 'lãi suất tăng 3,5% trong năm nay'],
      ['số điện thoại của tôi là không chín không một hai ba bốn năm sáu bảy', 'số điện thoại của tôi là 0901234567'],
      ['anh ấy chạy mười ki lô mét mỗi sáng', 'anh ấy chạy 10 km mỗi sáng'],
      ['thứ hai tuần sau họp lúc hai giờ chiều', 'thứ hai tuần sau họp lúc 2 giờ chiều'],
      ['hai mươi năm trước có ba triệu người sống ở đây', '20 năm trước có 3 triệu người sống ở đây'],
      ['mua hai cân táo hết năm mươi nghìn đồng', 'mua 2 kg táo hết 50.000 đồng'],
      ['nhiệt độ hôm nay khoảng ba mươi hai độ xê', 'nhiệt độ hôm nay khoảng 32°C'],
      ['một người bạn cho tôi một chút thời gian', 'một người bạn cho tôi một chút thời gian'],
      ['chúng tôi có hai con và một con chó', 'chúng tôi có hai con và một con chó'],
      ['dân số việt nam khoảng một trăm triệu người', 'dân số việt nam khoảng 100 triệu người'],
      ['giá vàng là tám mươi lăm triệu đồng một lượng', 'giá vàng là 85.000.000 đồng một lượng'],
      ['tôi đợi anh mười lăm phút rồi', 'tôi đợi anh 15 phút rồi'],
      ['hẹn gặp lúc mười giờ kém mười lăm ngày hai tháng chín', 'hẹn gặp lúc 10 giờ kém 15 ngày 2/9'],
      ['lớp có ba mươi lăm học sinh và hai cô giáo', 'lớp có 35 học sinh và hai cô giáo'],
      ['tháng năm năm nay trời nóng ba mươi tám độ', 'tháng năm năm nay trời nóng 38 độ'],
      ['một năm có mười hai tháng và ba trăm sáu mươi lăm ngày', 'một năm có 12 tháng và 365 ngày'],
      ['cô ấy cao một mét sáu lăm nặng năm mươi cân', 'cô ấy cao 1,65 m nặng 50 kg'],
      ['tốc độ tối đa năm mươi ki lô mét trên giờ', 'tốc độ tối đa 50 km/h'],
      ['căn hộ bảy mươi lăm mét vuông giá hai tỷ rưỡi', 'căn hộ 75 m² giá 2,5 tỷ'],
      ['mỗi ngày uống hai lít nước', 'mỗi ngày uống 2 lít nước'],
      ['hai người đi ba ngày', 'hai người đi ba ngày'],
      ['từ năm hai nghìn đến năm hai nghìn không trăm mười', 'từ năm 2000 đến năm 2010'],
      ['điểm thi của em là chín phẩy năm', 'điểm thi của em là 9,5'],
    ]),
  )('%s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });
});

describe('text that is not the model’s: written forms, spacing, punctuation, case, NFC', () => {
  it.each(
    table([
      ['', ''],
      [' ', ' '],
      ['21', '21'],
      ['9:30', '9:30'],
      ['500.000 đồng', '500.000 đồng'],
      ['ngày 18/5/2022', 'ngày 18/5/2022'],
      ['50%', '50%'],
      ['3,5 triệu', '3,5 triệu'],
      ['lúc 9 giờ sáng', 'lúc 9 giờ sáng'],
      ['hai mươi, ba mươi.', '20, 30.'],
      ['Hai Mươi Mốt', '21'],
      ['Chuyển khoản Năm Trăm Nghìn Đồng', 'Chuyển khoản 500.000 Đồng'],
      ['  hai mươi  mốt  ', '  21  '],
      ['hai mươi\nmốt', '20\nmốt'],
      ['(mười lăm)', '(15)'],
      ['"hai mươi" người', '"20" người'],
      ['mười lăm, hai mươi', '15, 20'],
      ['năm mươi phần trăm!', '50%!'],
      ['hello world', 'hello world'],
      ['- mười -', '- 10 -'],
    ]),
  )('%j → %j', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it('accepts decomposed (NFD) input and answers in NFC', () => {
    expect(toWritten('hai mươi mốt người'.normalize('NFD'))).toBe('21 người');
    expect(toWritten('tám chuyện'.normalize('NFD'))).toBe('tám chuyện'.normalize('NFC'));
  });

  it('never throws, whatever it is handed', () => {
    const odd: unknown[] = [undefined, null, 42, {}, [], '\u0000', '\ud800', 'mười '.repeat(10_000), 'tỷ '.repeat(50), 'một tỷ tỷ tỷ tỷ tỷ'];
    for (const input of odd) expect(() => toWritten(input as string)).not.toThrow();
    expect(toWritten('chín '.repeat(3).trim())).toBe('chín chín chín');
  });
});

// An independent oracle: how a Vietnamese speaker reads n in full (Northern standard, formal).
const UNITS_WORDS = ['không', 'một', 'hai', 'ba', 'bốn', 'năm', 'sáu', 'bảy', 'tám', 'chín'];

function spellBelowHundred(n: number): string {
  if (n < 10) return UNITS_WORDS[n];
  const tens = Math.floor(n / 10);
  const unit = n % 10;
  const head = tens === 1 ? 'mười' : `${UNITS_WORDS[tens]} mươi`;
  if (unit === 0) return head;
  const tail = unit === 5 ? 'lăm' : unit === 1 && tens > 1 ? 'mốt' : unit === 4 && tens > 1 ? 'tư' : UNITS_WORDS[unit];
  return `${head} ${tail}`;
}

function spellGroup(n: number, leading: boolean): string {
  const hundreds = Math.floor(n / 100);
  const rest = n % 100;
  if (leading && hundreds === 0) return spellBelowHundred(rest);
  const head = `${UNITS_WORDS[hundreds]} trăm`;
  if (rest === 0) return head;
  return rest < 10 ? `${head} linh ${UNITS_WORDS[rest]}` : `${head} ${spellBelowHundred(rest)}`;
}

function spell(n: number): string {
  const groups: [number, string][] = [
    [1e9, 'tỷ'],
    [1e6, 'triệu'],
    [1e3, 'nghìn'],
    [1, ''],
  ];
  const words: string[] = [];
  let rest = n;
  for (const [size, name] of groups) {
    const count = Math.floor(rest / size);
    rest %= size;
    if (count === 0 && !(size === 1 && words.length === 0)) continue;
    words.push(spellGroup(count, words.length === 0));
    if (name) words.push(name);
  }
  return words.join(' ');
}

function expected(n: number): string {
  if (n < 10) return spell(n);
  for (const [size, name] of [
    [1e9, 'tỷ'],
    [1e6, 'triệu'],
  ] as const) {
    if (n % size === 0 && n / size < 1000) return `${n / size} ${name}`;
  }
  const digits = String(n);
  if (digits.length === 4 && n <= 2099 && n % 100 !== 0) return digits;
  return digits.replace(/\B(?=(\d{3})+$)/g, '.');
}

describe('every number read in full comes back as its digits (against an independent reading)', () => {
  function mismatches(numbers: number[]): string[] {
    return numbers.filter((n) => toWritten(spell(n)) !== expected(n)).map((n) => `${n}: ${spell(n)} → ${toWritten(spell(n))}`);
  }

  it.each(
    table([
      [spell(21), '21'],
      [spell(105), '105'],
      [spell(2024), '2024'],
      [spell(1_000_001), '1.000.001'],
    ]),
  )('the oracle reads like the brief: %s → %s', (spoken, written) => {
    expect(toWritten(spoken)).toBe(written);
  });

  it('0–9999', () => {
    expect(mismatches(Array.from({ length: 10_000 }, (_, n) => n))).toEqual([]);
  });

  it('a spread of larger numbers up to 999 999 999 999', () => {
    const numbers: number[] = [];
    let x = 12345;
    for (let k = 0; k < 5000; k++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      numbers.push(x % 10 ** (5 + (k % 8)));
    }
    numbers.push(10_000, 100_000, 1_000_000, 10_000_000, 999_999_999, 1_000_000_000, 999_999_999_999);
    expect(mismatches(numbers)).toEqual([]);
  });

  it('money in full, for every amount in thousands of đồng up to a million', () => {
    const wrong: string[] = [];
    for (let k = 1; k <= 1000; k++) {
      const n = k * 1000;
      const written = `${String(n).replace(/\B(?=(\d{3})+$)/g, '.')} đồng`;
      if (toWritten(`${spell(n)} đồng`) !== written) wrong.push(`${spell(n)} đồng → ${toWritten(`${spell(n)} đồng`)}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('the written form is a fixed point', () => {
  it.each(all.map(([, written]) => [written]))('%j', (written) => {
    expect(toWritten(written)).toBe(written);
  });
});
