// Leases with their TTL counting down (between refreshes) and the keys attached to them.

import {call} from './api.js';
import {fromBase64, hexId, showKey} from './bytes.js';
import {el, every, replace} from './dom.js';

const SHOWN_LEASES = 100;
const SHOWN_KEYS = 10;

export class LeasesView {
  constructor(node, report) {
    this.report = report;
    this.rows = el('tbody', {id: 'lease-rows'});
    this.summary = el('span', {id: 'lease-summary', class: 'total'});
    this.deadlines = [];
    this.refresher = every(5000, () => this.refresh());
    this.ticker = every(1000, () => this.tick());
    const ttl = el('input', {id: 'grant-ttl', type: 'number', min: 1, value: 60});
    const grant = async (event) => {
      event.preventDefault();
      try {
        await call('/v3/lease/grant', {TTL: ttl.value});
        await this.refresh();
      } catch (error) {
        this.report(error);
      }
    };
    replace(
      node,
      el('div', {class: 'toolbar'}, this.summary,
        el('form', {class: 'jump', onsubmit: grant}, el('label', {}, 'TTL (s) ', ttl), el('button', {type: 'submit'}, 'Grant lease')),
        el('button', {type: 'button', onclick: () => this.refresh()}, 'Refresh')),
      el('table', {class: 'grid'},
        el('thead', {}, el('tr', {}, ['ID', 'TTL left', 'granted TTL', 'keys', ''].map((name) => el('th', {}, name)))),
        this.rows),
    );
  }

  show() {
    this.refresh();
    this.refresher.start();
    this.ticker.start();
  }

  hide() {
    this.refresher.stop();
    this.ticker.stop();
  }

  async refresh() {
    try {
      const leases = (await call('/v3/lease/leases')).leases || [];
      const shown = leases.slice(0, SHOWN_LEASES);
      const lives = await Promise.all(shown.map((lease) =>
        call('/v3/lease/timetolive', {ID: lease.ID, keys: true}).catch(() => null)));
      this.summary.textContent = `${leases.length} lease${leases.length === 1 ? '' : 's'}` +
        (leases.length > shown.length ? ` (first ${shown.length} shown)` : '');
      this.deadlines = [];
      replace(this.rows, lives.filter(Boolean).map((life) => this.row(life)));
    } catch (error) {
      this.report(error);
    }
  }

  row(life) {
    const left = el('td', {class: 'ttl'});
    this.deadlines.push([left, Date.now() + Number(life.TTL) * 1000]);
    const keys = (life.keys || []).map((key) => showKey(fromBase64(key)));
    const revoke = async () => {
      try {
        await call('/v3/lease/revoke', {ID: life.ID});
        await this.refresh();
      } catch (error) {
        this.report(error);
      }
    };
    const row = el('tr', {'data-lease': hexId(life.ID)},
      el('td', {}, el('code', {}, hexId(life.ID))),
      left,
      el('td', {}, `${life.grantedTTL}s`),
      el('td', {class: 'keys'}, keys.slice(0, SHOWN_KEYS).join(', '),
        keys.length > SHOWN_KEYS ? ` … ${keys.length - SHOWN_KEYS} more` : ''),
      el('td', {}, el('button', {type: 'button', class: 'danger', onclick: revoke}, 'Revoke')));
    this.tick();
    return row;
  }

  tick() {
    const now = Date.now();
    for (const [cell, deadline] of this.deadlines) {
      const left = Math.max(0, Math.ceil((deadline - now) / 1000));
      cell.textContent = left ? `${left}s` : 'expiring';
    }
  }
}
