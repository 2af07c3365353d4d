// The cluster's members, the leader, and this member's health, raft index and db size.
// The page may reach only its own origin (its Content-Security-Policy says so), so the
// status columns are filled for the member serving the console.

import {call} from './api.js';
import {hexId, showSize} from './bytes.js';
import {el, every, replace} from './dom.js';

async function health() {
  try {
    const response = await fetch('/health');
    return (await response.json()).health === 'true' ? 'healthy' : 'unhealthy';
  } catch {
    return 'unreachable';
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
      el('p', {class: 'hint'}, 'Status columns show the member serving this page; the console talks to its own origin only.'),
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
      replace(this.rows, list.members.map((member) => {
        const here = member.ID === self;
        const role = [member.ID === status.leader ? 'leader' : member.isLearner ? 'learner' : 'follower'];
        if (here) role.push('(this member)');
        return el('tr', {class: member.ID === status.leader ? 'leader' : '', 'data-member': member.name || hexId(member.ID)},
          el('td', {}, member.name || '(not started)'),
          el('td', {}, el('code', {}, hexId(member.ID))),
          el('td', {class: 'role'}, role.join(' ')),
          el('td', {}, here ? healthy : '—'),
          el('td', {}, here ? status.raftIndex : '—'),
          el('td', {}, here ? status.raftTerm : '—'),
          el('td', {}, here ? showSize(status.dbSize) : '—'),
          el('td', {}, here ? status.version : '—'),
          el('td', {}, (member.peerURLs || []).join(', ')),
          el('td', {}, (member.clientURLs || []).join(', ')));
      }));
    } catch (error) {
      this.report(error);
    }
  }
}
