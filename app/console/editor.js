// One key: its value as text, JSON or hex, saved or deleted only if nobody changed it since
// it was loaded (a txn comparing mod_revision), and its history.

import {range, swap} from './api.js';
import {decodeText, encodeText, fromBase64, hexDump, hexId, showKey, toBase64, valueView} from './bytes.js';
import {el, replace} from './dom.js';
import {history} from './history.js';

const HISTORY_STEP = 20;

export class Editor {
  constructor(node, onChange) {
    this.node = node;
    this.onChange = onChange; // called after a save or delete, to refresh the tree
    this.kv = null;
  }

  // A new key under `prefix`.
  create(prefix) {
    this.kv = null;
    const keyInput = el('input', {id: 'new-key', value: prefix, placeholder: 'key', required: true});
    const value = el('textarea', {id: 'value', rows: 12, placeholder: 'value'});
    const message = el('p', {id: 'editor-message'});
    const save = async () => {
      const key = encodeText(keyInput.value);
      if (!key) return;
      await this.write(key, 0, encodeText(value.value), message, false);
    };
    replace(
      this.node,
      el('h2', {}, 'New key'),
      keyInput,
      value,
      el('div', {class: 'buttons'}, el('button', {id: 'save', type: 'button', onclick: save}, 'Create')),
      message,
    );
    keyInput.focus();
  }

  async open(key) {
    const answer = await range(key);
    const kv = (answer.kvs || [])[0];
    if (!kv) {
      replace(this.node, el('p', {class: 'error'}, `${showKey(key)} no longer exists.`));
      return;
    }
    this.show(key, kv);
  }

  show(key, kv, notice) {
    this.kv = kv;
    const bytes = fromBase64(kv.value);
    const view = valueView(bytes);
    const editable = decodeText(bytes) !== null;
    const value = el('textarea', {id: 'value', rows: 12, readonly: !editable});
    value.value = editable ? decodeText(bytes) : hexDump(bytes);
    const message = el('p', {id: 'editor-message'}, notice || '');
    const pretty = el('pre', {id: 'pretty', class: view.kind}, view.text);
    const modes = el('div', {class: 'modes'}, ['text', 'json', 'hex'].map((mode) =>
      el('button', {
        type: 'button',
        class: mode === view.kind ? 'mode selected' : 'mode',
        disabled: mode === 'json' && view.kind !== 'json',
        onclick: () => {
          pretty.textContent = mode === 'hex' ? hexDump(bytes) : mode === 'json' ? view.text : decodeText(bytes) ?? '(binary)';
          for (const button of modes.children) button.classList.toggle('selected', button.textContent === mode);
        },
      }, mode)));
    const historyList = el('ol', {id: 'history', class: 'history'});
    const save = () => this.write(key, kv.mod_revision, encodeText(value.value), message, kv.lease);
    const remove = () => this.remove(key, kv.mod_revision, message);
    replace(
      this.node,
      el('h2', {id: 'editor-key'}, showKey(key)),
      el('dl', {class: 'meta'},
        el('dt', {}, 'mod revision'), el('dd', {id: 'mod-revision'}, kv.mod_revision),
        el('dt', {}, 'created'), el('dd', {}, kv.create_revision),
        el('dt', {}, 'version'), el('dd', {}, kv.version),
        el('dt', {}, 'lease'), el('dd', {}, kv.lease ? hexId(kv.lease) : 'none'),
        el('dt', {}, 'size'), el('dd', {}, `${bytes.length} bytes`)),
      modes,
      pretty,
      el('label', {for: 'value'}, editable ? 'Edit as text' : 'Binary value (read only here)'),
      value,
      el('div', {class: 'buttons'},
        el('button', {id: 'save', type: 'button', onclick: save, disabled: !editable}, 'Save'),
        el('button', {id: 'delete', type: 'button', class: 'danger', onclick: remove}, 'Delete'),
        el('button', {id: 'reload', type: 'button', onclick: () => this.open(key)}, 'Reload'),
        el('button', {id: 'show-history', type: 'button', onclick: () => this.history(key, kv, historyList)}, 'History')),
      message,
      historyList,
    );
  }

  async write(key, modRevision, value, message, lease) {
    const put = {key: toBase64(key), value: toBase64(value)};
    if (lease) put.lease = lease; // keep the key's lease (refused if it is gone)
    await this.commit(key, modRevision, {request_put: put}, message);
  }

  async remove(key, modRevision, message) {
    if (!confirm(`Delete ${showKey(key)}?`)) return;
    await this.commit(key, modRevision, {request_delete_range: {key: toBase64(key)}}, message);
  }

  async commit(key, modRevision, operation, message) {
    let answer;
    try {
      answer = await swap(key, modRevision, operation);
    } catch (error) {
      message.className = 'error';
      message.textContent = error.message;
      return;
    }
    if (!answer.succeeded) {
      this.refused(key, modRevision, answer, message);
      return;
    }
    this.onChange();
    if (operation.request_delete_range) {
      replace(this.node, el('p', {id: 'editor-message'}, `Deleted ${showKey(key)}.`));
    } else {
      await this.open(key);
      const saved = this.node.querySelector('#editor-message');
      saved.className = 'ok';
      saved.textContent = `Saved at revision ${answer.header.revision}.`;
    }
  }

  // Someone else changed the key since it was loaded: say so, keep the edit in the box.
  refused(key, modRevision, answer, message) {
    const current = ((answer.responses || [])[0]?.response_range?.kvs || [])[0];
    message.className = 'error stale';
    message.textContent = current
      ? `Refused: the key changed since you loaded it (mod revision ${modRevision || 'none'} → ${current.mod_revision}). ` +
        `Its value now: ${valueView(fromBase64(current.value)).text.slice(0, 200)}. Reload to edit the new value.`
      : `Refused: the key was deleted since you loaded it.`;
  }

  async history(key, kv, list) {
    replace(list);
    const walk = history(key, kv);
    const more = async () => {
      list.querySelector('.more')?.remove();
      for (let shown = 0; shown < HISTORY_STEP; shown++) {
        const {value: step, done} = await walk.next();
        if (done) return;
        if (step.kv) {
          list.append(el('li', {class: 'version'},
            el('span', {class: 'revision'}, `rev ${step.kv.mod_revision}`),
            el('span', {class: 'version-number'}, `v${step.kv.version}`),
            el('code', {}, valueView(fromBase64(step.kv.value)).text.slice(0, 500))));
        } else if (step.compacted) {
          list.append(el('li', {class: 'compacted'}, `compacted: history before revision ${step.compacted + 1} is gone`));
          return;
        } else {
          list.append(el('li', {class: 'created'}, `created at revision ${step.created}`));
          return;
        }
      }
      list.append(el('li', {class: 'more'}, el('button', {type: 'button', onclick: more}, 'Older…')));
    };
    await more();
  }
}
