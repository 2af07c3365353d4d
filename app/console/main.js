// The console's shell: tabs (#keys, #live, #leases, #members), errors, and the login that
// appears when the cluster has auth on and no (valid) token is held.

import {authenticate, needsLogin, onLoginNeeded, setToken, token} from './api.js';
import {KeysView} from './keys.js';
import {LeasesView} from './leases.js';
import {LiveView} from './live.js';
import {MembersView} from './members.js';

const notice = document.getElementById('notice');
const login = document.getElementById('login');
const loginError = document.getElementById('login-error');
const logout = document.getElementById('logout');
const whoami = document.getElementById('whoami');

function report(error) {
  if (needsLogin(error)) return; // the login form is already up
  notice.textContent = error.message || String(error);
  notice.hidden = false;
}

const views = {
  keys: new KeysView(document.getElementById('view-keys'), report),
  live: new LiveView(document.getElementById('view-live'), report),
  leases: new LeasesView(document.getElementById('view-leases'), report),
  members: new MembersView(document.getElementById('view-members'), report),
};
let current = null;

function route() {
  const name = location.hash.slice(1) in views ? location.hash.slice(1) : 'keys';
  if (current !== null) {
    current.hide?.();
    document.getElementById(`view-${currentName()}`).hidden = true;
  }
  current = views[name];
  document.getElementById(`view-${name}`).hidden = false;
  for (const tab of document.querySelectorAll('#tabs a')) tab.classList.toggle('selected', tab.dataset.view === name);
  notice.hidden = true;
  current.show();
}

const currentName = () => Object.keys(views).find((name) => views[name] === current);

function showUser(name) {
  whoami.textContent = name ? `signed in as ${name}` : '';
  logout.hidden = !token();
}

onLoginNeeded(() => {
  if (!login.open) {
    views.live.stop();
    login.showModal();
  }
});

document.getElementById('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const user = document.getElementById('login-user').value;
  const password = document.getElementById('login-password').value;
  setToken('');
  try {
    const answer = await authenticate(user, password);
    setToken(answer.token);
    sessionStorage.setItem('keyraft.user', user);
    loginError.hidden = true;
    login.close();
    showUser(user);
    current.show();
  } catch (error) {
    loginError.textContent = error.message;
    loginError.hidden = false;
  }
});

login.addEventListener('cancel', (event) => event.preventDefault()); // no way around it

logout.addEventListener('click', () => {
  setToken('');
  sessionStorage.removeItem('keyraft.user');
  views.live.stop();
  showUser('');
  location.reload();
});

window.addEventListener('hashchange', route);
showUser(sessionStorage.getItem('keyraft.user'));
route();
