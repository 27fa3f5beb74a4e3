/**
 * Vietnamese folded for search: lowercase, every tone mark (huyền, sắc, hỏi, ngã, nặng) and every
 * vowel mark (ă â ê ô ơ ư) removed, đ as d. People type without marks on phones and keyboards
 * without a Vietnamese layout, so "hop" must find "họp" and "chin gio" must find "chín giờ"; the
 * stored text and the query are folded the same way. Pure, never throws.
 *
 * Input may be NFC (precomposed "ọ") or NFD ("o" + U+0323); both give the same result. Marks on
 * other Latin letters (é, ü, ñ) go too; letters with no decomposition (ø, ß) stay as they are,
 * lowercased.
 */
export function foldVietnamese(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[đĐ]/g, 'd')
    .toLowerCase()
    .normalize('NFC');
}

/**
 * The folded words of a text, in order: runs of letters, digits and marks, everything else a
 * separator. "9:30" is two words ("9", "30") and "email@host" two as well, so the index and the
 * query split text the same way whatever punctuation the written form puts in.
 */
export function foldedWords(text: string): string[] {
  return foldVietnamese(text).match(/[\p{L}\p{N}\p{M}]+/gu) ?? [];
}
