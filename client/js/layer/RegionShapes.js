/**
 * Region features (the server's GeoJSON of ds9 files, see tileserver/ds9regions.py, and shapes drawn in the viewer)
 * <-> pixel geometry of an image. A feature's properties hold its shape, its frame ("icrs": degrees, or "image":
 * FITS pixels), and for circles, ellipses, boxes and annuli their centre (the Point), sizes (radius, radii [a, b]
 * semi-axes, size [w, h] full sides) and angle (degrees anticlockwise from the longitude or x axis, as in ds9).
 * Sky shapes are drawn through the local linear map of the WCS at their centre, as astropy's `regions` draws them.
 * Pure: no Leaflet, no DOM.
 */

const DEG = Math.PI / 180;
const OUTLINE_POINTS = 72;

/** [x, y] -> the 2x2 matrix m applied to it. */
function apply(m, [a, b]) {
  return [m[0][0] * a + m[0][1] * b, m[1][0] * a + m[1][1] * b];
}

function invert(m) {
  const det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
  return [[m[1][1] / det, -m[0][1] / det], [-m[1][0] / det, m[0][0] / det]];
}

/**
 * The shape's axes at angle `angle`: [width axis, height axis] as vectors of its frame's local plane: pixels
 * (x, y) for the image; (east, north) for the sky, where angle 0 puts the width along the longitude axis and
 * positive angles turn it towards north, as on an image with north up and east left.
 */
function axes(angle, sky) {
  const [c, s] = [Math.cos(angle * DEG), Math.sin(angle * DEG)];
  return sky ? [[-c, s], [s, c]] : [[c, s], [-s, c]];
}

/**
 * Pixel geometry of a feature on an image, or null when it cannot be placed (off the projection, or a sky shape
 * on an image without a usable sky frame):
 * {kind: 'polygon', rings: [[[x, y]...]...]} | {kind: 'line', path} | {kind: 'point'|'text', at: [x, y]}.
 * @param {object} feature
 * @param {import('../wcs/SkyFrame.js').SkyFrame} frame
 */
export function toPixels(feature, frame) {
  const props = feature.properties;
  const sky = props.frame === 'icrs';
  if (sky && !frame.usable) return null;
  const place = sky ? ([ra, dec]) => frame.toPixel(ra, dec) : ([x, y]) => [x, y];
  const coords = feature.geometry.coordinates;
  const ok = (points) => points.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (props.shape === 'polygon') {
    const rings = coords.map((ring) => ring.map(place));
    return rings.every(ok) ? { kind: 'polygon', rings } : null;
  }
  if (props.shape === 'line') {
    const path = coords.map(place);
    return ok(path) ? { kind: 'line', path } : null;
  }
  const at = place(coords);
  if (!ok([at])) return null;
  if (props.shape === 'point' || props.shape === 'text') return { kind: props.shape, at };
  const linear = sky ? frame.jacobian(...coords) : [[1, 0], [0, 1]];
  if (!linear.flat().every(Number.isFinite)) return null;
  const [u, v] = axes(props.angle || 0, sky);
  const outline = (a, b) => Array.from({ length: OUTLINE_POINTS }, (_, i) => {
    const t = (2 * Math.PI * i) / OUTLINE_POINTS;
    const local = [a * Math.cos(t) * u[0] + b * Math.sin(t) * v[0], a * Math.cos(t) * u[1] + b * Math.sin(t) * v[1]];
    const [dx, dy] = apply(linear, local);
    return [at[0] + dx, at[1] + dy];
  });
  switch (props.shape) {
    case 'circle':
      return { kind: 'polygon', rings: [outline(props.radius, props.radius)] };
    case 'ellipse':
      return { kind: 'polygon', rings: [outline(props.radii[0], props.radii[1])] };
    case 'annulus':
      return { kind: 'polygon', rings: props.radii.map((r) => outline(r, r)) };
    case 'box': {
      const [w, h] = props.size.map((s) => s / 2);
      const corners = [[-w, -h], [w, -h], [w, h], [-w, h]].map(([a, b]) => {
        const [dx, dy] = apply(linear, [a * u[0] + b * v[0], a * u[1] + b * v[1]]);
        return [at[0] + dx, at[1] + dy];
      });
      return { kind: 'polygon', rings: [corners] };
    }
    default:
      return null;
  }
}

/**
 * A feature for a shape drawn on the image in pixels: on the sky (ICRS) when the frame is usable, else in image
 * coordinates. `drawn` is {shape, at: [x, y], radius | radii: [a, b] | size: [w, h] (axis-aligned, pixels),
 * points: [[x, y]...] (polygon, line), text, marker}.
 */
export function fromPixels(drawn, frame, style = {}) {
  const sky = frame.usable;
  const props = { shape: drawn.shape, frame: sky ? 'icrs' : 'image', ...style };
  const place = sky ? ([x, y]) => frame.toSky(x, y) : ([x, y]) => [x, y];
  let geometry;
  if (drawn.shape === 'polygon') {
    const ring = drawn.points.map(place);
    geometry = { type: 'Polygon', coordinates: [[...ring, ring[0]]] };
  } else if (drawn.shape === 'line') {
    geometry = { type: 'LineString', coordinates: drawn.points.map(place) };
  } else {
    const centre = place(drawn.at);
    geometry = { type: 'Point', coordinates: centre };
    // Sizes on the sky: the drawn pixel axes through the inverse of the local map (degrees per pixel).
    const back = sky ? invert(frame.jacobian(...centre)) : [[1, 0], [0, 1]];
    const along = (vector) => Math.hypot(...apply(back, vector));
    if (drawn.shape === 'circle') props.radius = along([drawn.radius, 0]);
    if (drawn.shape === 'ellipse') props.radii = [along([drawn.radii[0], 0]), along([0, drawn.radii[1]])];
    if (drawn.shape === 'box') props.size = [along([drawn.size[0], 0]), along([0, drawn.size[1]])];
    if (drawn.shape === 'ellipse' || drawn.shape === 'box') {
      // The angle of the drawn width axis (pixel x) in the frame's terms; 0 for an image region.
      const [east, north] = apply(back, [1, 0]);
      props.angle = sky ? normalAngle(Math.atan2(north, -east) / DEG) : 0;
    }
    if (drawn.shape === 'text') props.text = drawn.text;
    if (drawn.shape === 'point') props.marker = drawn.marker || 'circle';
  }
  return { type: 'Feature', geometry, properties: props };
}

function normalAngle(degrees) {
  const a = degrees % 360;
  return a < 0 ? a + 360 : a;
}
