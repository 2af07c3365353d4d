// A key's past values: each version's predecessor is the value at its mod_revision - 1,
// walking back until the key's creation or the compaction point.

import {isCompacted, range} from './api.js';
import {fromBase64} from './bytes.js';

// Yields {kv}, then a final {created: revision} or {compacted: revision}.
export async function* history(key, latest) {
  let current = latest;
  yield {kv: current};
  for (;;) {
    if (Number(current.version) <= 1) {
      yield {created: current.create_revision};
      return;
    }
    const revision = Number(current.mod_revision) - 1;
    let answer;
    try {
      answer = await range(key, {revision});
    } catch (error) {
      if (!isCompacted(error)) throw error;
      yield {compacted: revision};
      return;
    }
    const previous = (answer.kvs || [])[0];
    if (!previous || fromBase64(previous.key) !== key) {
      yield {created: current.create_revision};
      return;
    }
    current = previous;
    yield {kv: current};
  }
}
