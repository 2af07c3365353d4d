// Keys and values are kept as byte strings (one character per byte, as atob returns them),
// so binary keys survive untouched and compare in etcd's byte order with < and >.

const strict = new TextDecoder('utf-8', {fatal: true});

export const fromBase64 = (text) => (text ? atob(text) : '');
export const toBase64 = (bytes) => btoa(bytes);

export function toArray(bytes) {
  const array = new Uint8Array(bytes.length);
  for (let index = 0; index < bytes.length; index++) array[index] = bytes.charCodeAt(index);
  return array;
}

export function encodeText(text) {
  const array = new TextEncoder().encode(text);
  let bytes = '';
  for (let index = 0; index < array.length; index += 0x8000) {
    bytes += String.fromCharCode(...array.subarray(index, index + 0x8000));
  }
  return bytes;
}

// The text the bytes encode in UTF-8, or null when they are not UTF-8 text.
export function decodeText(bytes) {
  let text;
  try {
    text = strict.decode(toArray(bytes));
  } catch {
    return null;
  }
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? null : text;
}

// A key for display: its text, or with \xNN escapes where it is not text.
export function showKey(bytes) {
  const text = decodeText(bytes);
  if (text !== null) return text;
  let shown = '';
  for (const char of bytes) {
    const code = char.charCodeAt(0);
    shown += code >= 0x20 && code < 0x7f ? char : '\\x' + code.toString(16).padStart(2, '0');
  }
  return shown;
}

export function hexDump(bytes) {
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.slice(offset, offset + 16);
    const hex = [...row].map((char) => char.charCodeAt(0).toString(16).padStart(2, '0'));
    const ascii = [...row].map((char) => (char >= ' ' && char < '\x7f' ? char : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.join(' ').padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

// How a value reads best: pretty JSON, text, or a hex dump for binary.
export function valueView(bytes) {
  const text = decodeText(bytes);
  if (text === null) return {kind: 'hex', text: hexDump(bytes)};
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return {kind: 'json', text: JSON.stringify(JSON.parse(trimmed), null, 2)};
    } catch {
      // not JSON after all
    }
  }
  return {kind: 'text', text};
}

// The first key after every key that starts with `bytes` (etcd's prefix range end).
export function prefixEnd(bytes) {
  let end = bytes;
  while (end.length && end.charCodeAt(end.length - 1) === 0xff) end = end.slice(0, -1);
  if (!end.length) return '\0';
  return end.slice(0, -1) + String.fromCharCode(end.charCodeAt(end.length - 1) + 1);
}

// 64-bit IDs stay strings (they exceed 2^53); shown in hex as etcdctl does.
export const hexId = (id) => (id ? BigInt(id).toString(16) : '0');

export function showSize(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let size = Number(bytes || 0);
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${unit ? size.toFixed(1) : size} ${units[unit]}`;
}
