// The cluster's members, the leader, and each member's health, raft index and db size,
// asked of the member itself at its client URL (the page's Content-Security-Policy lets
// it reach this member and the client URLs of its cluster, nothing else).

import {call} from './api.js';
import {hexId, showSize} from './bytes.js';
import {el, every, replace} from './dom.js';

const STATUS_TIMEOUT_MS = 2000;

async function health(base = '', signal = undefined) {
  try {
    const response = await fetch(`${base}/health`, {signal});
    return (await response.json()).health === 'true' ? 'healthy' : 'unhealthy';
  } catch {
    return 'unreachable';
  }
}

// Another member's status and health, at its first client URL (no token: etcd reads none
// for either); a member that does not answer in time is shown unreachable.
async function statusAt(url) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), STATUS_TIMEOUT_MS);
  try {
    const [response, healthy] = await Promise.all([
      fetch(`${url}/v3/maintenance/status`, {method: 'POST', body: '{}', signal: controller.signal}),
      health(url, controller.signal),
    ]);
    return {status: response.ok ? await response.json() : null, healthy};
  } catch {
    return {status: null, healthy: 'unreachable'};
  } finally {
    clearTimeout(timer);
  }
}

export class MembersView {
  constructor(node, report) {
    this.report = report;
    this.rows = el('tbody', {id: 'member-rows'});
    this.summary = el('p', {id: 'cluster-summary'});
    this.refresher = every(5000, () => this.refresh());
    const columns = ['name', 'ID', 'role', 'health', 'raft index', 'raft term', 'db size', 'version', 'peer URLs', 'client URLs'];
    replace(
      node,
      el('div', {class: 'toolbar'}, this.summary, el('button', {type: 'button', onclick: () => this.refresh()}, 'Refresh')),
      el('table', {class: 'grid'}, el('thead', {}, el('tr', {}, columns.map((name) => el('th', {}, name)))), this.rows),
      el('p', {class: 'hint'}, 'Each member answers for itself at its first client URL.'),
    );
  }

  show() {
    this.refresh();
    this.refresher.start();
  }

  hide() {
    this.refresher.stop();
  }

  async refresh() {
    try {
      const [list, status, healthy] = await Promise.all([
        call('/v3/cluster/member/list'),
        call('/v3/maintenance/status'),
        health(),
      ]);
      const self = status.header.member_id;
      this.summary.textContent = `cluster ${hexId(list.header.cluster_id)} · ${list.members.length} member(s) · ` +
        `leader ${status.leader ? hexId(status.leader) : 'none'} · revision ${status.header.revision}`;
      const answers = await Promise.all(list.members.map((member) => {
        const url = (member.clientURLs || [])[0];
        if (member.ID === self) return {status, healthy};
        return url ? statusAt(url.replace(/\/$/, '')) : {status: null, healthy: 'not started'};
      }));
      replace(this.rows, list.members.map((member, index) => {
        const here = member.ID === self;
        const {status: own, healthy: state} = answers[index];
        const role = [member.ID === status.leader ? 'leader' : member.isLearner ? 'learner' : 'follower'];
        if (here) role.push('(this member)');
        return el('tr', {class: member.ID === status.leader ? 'leader' : '', 'data-member': member.name || hexId(member.ID)},
          el('td', {}, member.name || '(not started)'),
          el('td', {}, el('code', {}, hexId(member.ID))),
          el('td', {class: 'role'}, role.join(' ')),
          el('td', {}, state),
          el('td', {}, own ? own.raftIndex : '—'),
          el('td', {}, own ? own.raftTerm : '—'),
          el('td', {}, own ? showSize(own.dbSize) : '—'),
          el('td', {}, own ? own.version : '—'),
          el('td', {}, (member.peerURLs || []).join(', ')),
          el('td', {}, (member.clientURLs || []).join(', ')));
      }));
    } catch (error) {
      this.report(error);
    }
  }
}
