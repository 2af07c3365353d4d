// Listing one level of the key tree (split on "/") without reading every key: pages of
// keys_only ranges, and past a folder's first key the next page starts after the folder.

import {count, range} from './api.js';
import {fromBase64, prefixEnd} from './bytes.js';

const PAGE = 100;

// Up to `want` children of `prefix` from `start`: {children, next} where `next` is where
// the following page starts (null at the end).
export async function listLevel(prefix, start, want) {
  const end = prefix ? prefixEnd(prefix) : '\0';
  const children = [];
  let cursor = start || prefix || '\0';
  for (;;) {
    const answer = await range(cursor, {range_end: end, keys_only: true, limit: PAGE});
    let next = null;
    let full = false;
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
      full = children.length >= want;
      if (full) break;
    }
    if (next === null || next === '\0' || (end !== '\0' && next >= end)) return {children, next: null};
    if (full) return {children, next};
    if (!answer.more) return {children, next: null};
    cursor = next;
  }
}

export const countUnder = (prefix) => count(prefix || '\0', prefix ? prefixEnd(prefix) : '\0');
