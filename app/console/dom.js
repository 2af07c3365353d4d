// Building DOM nodes without innerHTML: every text from the cluster goes in as text.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

// A repeating task that runs only while its view is shown.
export function every(milliseconds, task) {
  let timer = null;
  return {
    start() {
      if (timer === null) timer = setInterval(task, milliseconds);
    },
    stop() {
      clearInterval(timer);
      timer = null;
    },
  };
}
