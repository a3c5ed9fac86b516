/** Small DOM helpers shared by the viewer's widgets (no framework). */

/**
 * Create an element: el('button', {class: 'x', title: 't', onclick: fn}, 'text', child...).
 * Attributes starting with "on" become listeners; `dataset` and `style` take objects; false/null skip.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'dataset' || key === 'style') Object.assign(node[key], value);
    else if (key === 'class') node.className = value;
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** An inline SVG icon from a 24x24 path. */
export function icon(path) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.classList.add('ts-icon');
  const p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  p.setAttribute('d', path);
  svg.append(p);
  return svg;
}

/** Call fn at most once per `wait` ms, with the latest arguments (trailing call guaranteed). */
export function throttle(fn, wait) {
  let last = 0;
  let timer = null;
  let args = null;
  return (...latest) => {
    args = latest;
    const run = () => {
      last = performance.now();
      timer = null;
      fn(...args);
    };
    const remaining = wait - (performance.now() - last);
    if (remaining <= 0 && timer === null) run();
    else if (timer === null) timer = setTimeout(run, Math.max(0, remaining));
  };
}

/** Call fn once `wait` ms after the last call. */
export function debounce(fn, wait) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

/** Human-readable byte count. */
export function formatBytes(n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${i ? n.toPrecision(3) : n} ${units[i]}`;
}
