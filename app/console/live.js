// Changes under a prefix as they happen, from the server-sent-events watch. EventSource
// reconnects by itself and sends Last-Event-ID (the last revision seen), so the server
// resumes after it: nothing is missed or repeated across a reconnect.

import {range, watchUrl} from './api.js';
import {encodeText, fromBase64, showKey, valueView} from './bytes.js';
import {el, replace} from './dom.js';

const KEPT = 500;

export class LiveView {
  constructor(node, report) {
    this.report = report;
    this.source = null;
    this.state = el('span', {id: 'live-state', class: 'state'}, 'stopped');
    this.rows = el('tbody', {id: 'live-rows'});
    const prefix = el('input', {id: 'live-prefix', placeholder: 'prefix (empty: every key)'});
    const start = (event) => {
      event.preventDefault();
      this.start(encodeText(prefix.value));
    };
    replace(
      node,
      el('div', {class: 'toolbar'},
        el('form', {class: 'jump', onsubmit: start}, prefix, el('button', {id: 'live-start', type: 'submit'}, 'Watch')),
        el('button', {id: 'live-stop', type: 'button', onclick: () => this.stop()}, 'Stop'),
        el('button', {type: 'button', onclick: () => replace(this.rows)}, 'Clear'),
        this.state),
      el('table', {class: 'grid'},
        el('thead', {}, el('tr', {}, ['revision', 'event', 'key', 'value', 'previous'].map((name) => el('th', {}, name)))),
        this.rows),
    );
  }

  show() {
    if (this.source === null) this.start('');
  }

  hide() {}

  start(prefix) {
    this.stop();
    this.setState(`connecting to ${showKey(prefix) || 'every key'}…`);
    const source = new EventSource(watchUrl(prefix));
    this.source = source;
    source.addEventListener('created', () => this.setState(`watching ${showKey(prefix) || 'every key'}`, 'live'));
    source.addEventListener('canceled', (message) => {
      const reason = JSON.parse(message.data);
      this.setState(reason.compact_revision ? `compacted at ${reason.compact_revision}: restart the watch` : `canceled: ${reason.cancel_reason || ''}`);
      this.stop(false);
    });
    source.onmessage = (message) => this.received(JSON.parse(message.data));
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        this.setState('refused (log in, or check the prefix)', 'error');
        this.source = null;
        range('\0', {keys_only: true, limit: 1}).catch(() => {}); // an expired token: the login shows
      } else {
        this.setState('reconnecting…', 'error');
      }
    };
  }

  stop(say = true) {
    if (this.source !== null) this.source.close();
    this.source = null;
    if (say) this.setState('stopped');
  }

  setState(text, kind = '') {
    this.state.textContent = text;
    this.state.className = `state ${kind}`;
  }

  received(result) {
    for (const event of result.events || []) {
      const kv = event.kv || {};
      const type = event.type || 'PUT';
      const value = type === 'PUT' ? valueView(fromBase64(kv.value)).text.slice(0, 200) : '';
      const previous = event.prev_kv ? valueView(fromBase64(event.prev_kv.value)).text.slice(0, 200) : '';
      this.rows.prepend(el('tr', {class: type.toLowerCase()},
        el('td', {}, kv.mod_revision || result.header.revision),
        el('td', {}, type),
        el('td', {class: 'key'}, showKey(fromBase64(kv.key))),
        el('td', {}, el('code', {}, value)),
        el('td', {}, el('code', {}, previous))));
    }
    while (this.rows.children.length > KEPT) this.rows.lastChild.remove();
  }
}
