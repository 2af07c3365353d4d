// The JSON API every client uses (base64 bytes, int64 as strings), plus the auth token.

import {toBase64} from './bytes.js';

const TOKEN = 'keyraft.token';
const AUTH_MESSAGES = [
  'etcdserver: user name is empty',
  'etcdserver: invalid auth token',
  'auth: user name is empty',
];
const loginListeners = new Set();

export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || body.error || `HTTP ${status}`);
    this.status = status;
    this.code = body.code;
  }
}

export const needsLogin = (error) =>
  error instanceof ApiError && (error.status === 401 || AUTH_MESSAGES.includes(error.message));
export const isCompacted = (error) =>
  error instanceof ApiError && error.message.includes('required revision has been compacted');

export const token = () => sessionStorage.getItem(TOKEN) || '';
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN, value);
  else sessionStorage.removeItem(TOKEN);
}
export const onLoginNeeded = (listener) => loginListeners.add(listener);

export async function call(path, body = {}) {
  const headers = {'Content-Type': 'application/json'};
  if (token()) headers.Authorization = token();
  const response = await fetch(path, {method: 'POST', headers, body: JSON.stringify(body)});
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = {message: text.trim()};
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (needsLogin(error)) for (const listener of loginListeners) listener(error);
    throw error;
  }
  return data;
}

export function range(key, options = {}) {
  const body = {key: toBase64(key), ...options};
  if (options.range_end !== undefined) body.range_end = toBase64(options.range_end);
  return call('/v3/kv/range', body);
}

export const count = async (key, end) =>
  Number((await range(key, {range_end: end, count_only: true})).count || 0);

// A put or delete that happens only if the key is still at `modRevision` (0: absent).
export function swap(key, modRevision, operation) {
  return call('/v3/kv/txn', {
    compare: [{key: toBase64(key), target: 'MOD', result: 'EQUAL', mod_revision: String(modRevision)}],
    success: [operation],
    failure: [{request_range: {key: toBase64(key)}}],
  });
}

export const authenticate = (name, password) =>
  call('/v3/auth/authenticate', {name, password});

// The URL of a server-sent-events watch; EventSource cannot set headers, so the token
// goes in the query.
export function watchUrl(prefix) {
  const query = new URLSearchParams({key_b64: toBase64(prefix || '\0')});
  query.set(prefix ? 'prefix' : 'from_key', 'true');
  query.set('prev_kv', 'true');
  if (token()) query.set('token', token());
  return '/v3/watch/sse?' + query;
}
