// Listing one level of the key tree (split on "/") without reading every key: pages of
// keys_only ranges, and past a folder's first key the next page starts after the folder.

import {count, range} from './api.js';
import {fromBase64, prefixEnd} from './bytes.js';

const PAGE = 200;

// The children of `prefix` from `start`, a page at a time: yields {children, next} where
// `next` is where the following page starts (null at the end). Every range also counts
// the keys up to its end, so a page past a large folder costs more than its size: the
// caller shows each page as it comes and stops when it has enough.
export async function* walkLevel(prefix, start) {
  const end = prefix ? prefixEnd(prefix) : '\0';
  let cursor = start || prefix || '\0';
  for (;;) {
    const answer = await range(cursor, {range_end: end, keys_only: true, limit: PAGE});
    const children = [];
    let next = null;
    for (const kv of answer.kvs || []) {
      const key = fromBase64(kv.key);
      if (next !== null && key < next) continue; // inside a folder already listed
      const slash = key.indexOf('/', prefix.length);
      if (slash >= 0) {
        const folder = key.slice(0, slash + 1);
        children.push({folder});
        next = prefixEnd(folder);
      } else {
        children.push({key});
        next = key + '\0';
      }
    }
    const last = next === null || next === '\0' || (end !== '\0' && next >= end) || !answer.more;
    yield {children, next: last ? null : next};
    if (last) return;
    cursor = next;
  }
}

export const countUnder = (prefix) => count(prefix || '\0', prefix ? prefixEnd(prefix) : '\0');
