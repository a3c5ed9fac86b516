/**
 * Region features (see RegionShapes.js) -> a ds9 region file (version 4.1): sky shapes in ICRS degrees with sizes
 * in arcseconds, image shapes in FITS pixels. Pure.
 */

const HEADER = '# Region file format: DS9 version 4.1';
const GLOBAL = 'global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman" select=1 highlite=1 '
  + 'dash=0 fixed=0 edit=1 move=1 delete=1 include=1 source=1';

/** A number with at most `digits` decimals, without trailing zeros. */
function fixed(value, digits) {
  return String(Number(value.toFixed(digits)));
}

/** ds9 delimits text with {}, "" or '': the first one the text does not contain (else it is dropped). */
function quoted(text) {
  const pair = [['{', '}'], ['"', '"'], ["'", "'"]].find(([, close]) => !text.includes(close));
  return pair ? `${pair[0]}${text}${pair[1]}` : `{${text.replace(/[{}]/g, '')}}`;
}

function line(feature) {
  const p = feature.properties;
  const sky = p.frame === 'icrs';
  const position = ([x, y]) => (sky ? `${fixed(x, 8)},${fixed(y, 8)}` : `${fixed(x, 4)},${fixed(y, 4)}`);
  const size = (value) => (sky ? `${fixed(value * 3600, 4)}"` : fixed(value, 4));
  const angle = fixed(p.angle || 0, 4);
  const coords = feature.geometry.coordinates;
  let shape;
  switch (p.shape) {
    case 'circle': shape = `circle(${position(coords)},${size(p.radius)})`; break;
    case 'ellipse': shape = `ellipse(${position(coords)},${size(p.radii[0])},${size(p.radii[1])},${angle})`; break;
    case 'box': shape = `box(${position(coords)},${size(p.size[0])},${size(p.size[1])},${angle})`; break;
    case 'annulus': shape = `annulus(${position(coords)},${p.radii.map(size).join(',')})`; break;
    case 'polygon': shape = `polygon(${coords[0].slice(0, -1).map(position).join(',')})`; break;
    case 'line': shape = `line(${coords.map(position).join(',')})`; break;
    case 'point': shape = `point(${position(coords)})`; break;
    case 'text': shape = `text(${position(coords)})`; break;
    default: return null;
  }
  const extras = [];
  if (p.shape === 'point') extras.push(`point=${p.marker || 'circle'}`);
  if (p.color) extras.push(`color=${p.color}`);
  if (p.width) extras.push(`width=${p.width}`);
  const text = p.shape === 'text' ? p.text : p.label;
  if (text) extras.push(`text=${quoted(text)}`);
  return `${p.exclude ? '-' : ''}${shape}${extras.length ? ` # ${extras.join(' ')}` : ''}`;
}

/** The text of a ds9 region file holding the features (those of unknown shape are left out). */
export function toDs9(features) {
  const out = [HEADER, GLOBAL];
  for (const frame of ['icrs', 'image']) {
    const lines = features.filter((f) => f.properties.frame === frame).map(line).filter(Boolean);
    if (lines.length) out.push(frame, ...lines);
  }
  return `${out.join('\n')}\n`;
}
