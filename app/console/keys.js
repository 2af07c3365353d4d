// The key browser: one level of the tree under a prefix, a page at a time, and the editor.

import {countUnder, walkLevel} from './tree.js';
import {encodeText, showKey} from './bytes.js';
import {el, replace} from './dom.js';
import {Editor} from './editor.js';

const WANT = 200; // children per page of the tree
const COUNTED_FOLDERS = 50; // folder sizes are counted for the first ones only

export class KeysView {
  constructor(node, report) {
    this.report = report;
    this.prefix = '';
    this.generation = 0; // a listing still arriving for a level no longer shown stops
    this.counted = 0; // folders whose size was asked for
    this.crumbs = el('nav', {id: 'crumbs', class: 'crumbs'});
    this.total = el('span', {id: 'total', class: 'total'});
    this.list = el('ul', {id: 'tree', class: 'tree'});
    const editorNode = el('div', {id: 'editor', class: 'editor'}, el('p', {}, 'Choose a key, or create one.'));
    this.editor = new Editor(editorNode, () => this.refresh());
    const jump = el('input', {id: 'prefix', placeholder: 'go to prefix…'});
    const go = (event) => {
      event.preventDefault();
      this.go(encodeText(jump.value));
    };
    replace(
      node,
      el('div', {class: 'toolbar'},
        this.crumbs, this.total,
        el('form', {class: 'jump', onsubmit: go}, jump),
        el('button', {id: 'new', type: 'button', onclick: () => this.editor.create(showKey(this.prefix))}, 'New key'),
        el('button', {id: 'refresh-keys', type: 'button', onclick: () => this.refresh()}, 'Refresh')),
      el('div', {class: 'split'}, this.list, editorNode),
    );
  }

  show() {
    this.refresh();
  }

  go(prefix) {
    this.prefix = prefix;
    this.refresh();
  }

  async refresh() {
    this.renderCrumbs();
    replace(this.list);
    this.counted = 0;
    this.total.textContent = '';
    const prefix = this.prefix;
    countUnder(prefix).then((total) => {
      if (prefix === this.prefix) this.total.textContent = `${total} key${total === 1 ? '' : 's'}`;
    }, this.report);
    try {
      await this.page(null);
    } catch (error) {
      this.report(error);
    }
  }

  renderCrumbs() {
    const parts = [el('a', {href: '#keys', onclick: (event) => this.crumb(event, '')}, '(root)')];
    let at = 0;
    while (at < this.prefix.length) {
      const slash = this.prefix.indexOf('/', at);
      const end = slash < 0 ? this.prefix.length : slash + 1;
      const upTo = this.prefix.slice(0, end);
      parts.push(' ', el('a', {href: '#keys', onclick: (event) => this.crumb(event, upTo)}, showKey(this.prefix.slice(at, end))));
      at = end;
    }
    replace(this.crumbs, parts);
  }

  crumb(event, prefix) {
    event.preventDefault();
    this.go(prefix);
  }

  async page(start) {
    const generation = ++this.generation;
    this.list.querySelector('.more')?.remove();
    let shown = 0;
    for await (const {children, next} of walkLevel(this.prefix, start)) {
      if (generation !== this.generation) return;
      this.render(children);
      shown += children.length;
      if (next !== null && shown >= WANT) {
        this.list.append(el('li', {class: 'more'},
          el('button', {type: 'button', onclick: () => this.page(next).catch(this.report)}, 'More…')));
        return;
      }
    }
    if (!shown && start === null) this.list.append(el('li', {class: 'empty'}, 'No keys here.'));
  }

  render(children) {
    const folders = [];
    for (const child of children) {
      if (child.folder !== undefined) {
        const size = el('span', {class: 'count'});
        folders.push([child.folder, size]);
        this.list.append(el('li', {class: 'folder'},
          el('a', {href: '#keys', 'data-key': showKey(child.folder), onclick: (event) => this.crumb(event, child.folder)},
            showKey(child.folder.slice(this.prefix.length))), size));
      } else {
        this.list.append(el('li', {class: 'key'},
          el('a', {href: '#keys', 'data-key': showKey(child.key), onclick: (event) => this.openKey(event, child.key)},
            showKey(child.key.slice(this.prefix.length)) || '(this prefix)')));
      }
    }
    for (const [folder, size] of folders) {
      if (this.counted++ >= COUNTED_FOLDERS) break;
      countUnder(folder).then((count) => { size.textContent = String(count); }, () => {});
    }
  }

  async openKey(event, key) {
    event.preventDefault();
    for (const item of this.list.querySelectorAll('.selected')) item.classList.remove('selected');
    event.currentTarget.parentNode.classList.add('selected');
    try {
      await this.editor.open(key);
    } catch (error) {
      this.report(error);
    }
  }
}
