// Tests of the overlays' pure modules (no Leaflet, no DOM): catalog reading, grid spacing and labels, region
// geometry through a WCS, ds9 export. Run by tests/test_client_overlays.py; the browser tests check the same
// modules against astropy.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { fromGeoJson, guessColumns, markerRadii, parseCsv, positions } from '../../client/js/core/CatalogReader.js';
import { toDs9 } from '../../client/js/core/Ds9Export.js';
import { gridLabel, gridStep } from '../../client/js/wcs/GridSpacing.js';
import { fromPixels, toPixels } from '../../client/js/layer/RegionShapes.js';
import { SkyFrame, offsetBy } from '../../client/js/wcs/SkyFrame.js';
import { WCS } from '../../client/js/wcs/wcs.js';

const close = (a, b, tol, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} != ${b} within ${tol}`);

// North up, east left, 0.2"/pixel, at RA 150, Dec 2 (the test images' WCS).
const TAN = { CTYPE1: 'RA---TAN', CTYPE2: 'DEC--TAN', CRVAL1: 150, CRVAL2: 2, CRPIX1: 300.5, CRPIX2: 200.5,
  CD1_1: -5.5e-5, CD1_2: 0, CD2_1: 0, CD2_2: 5.5e-5, RADESYS: 'ICRS' };

describe('CatalogReader', () => {
  test('CSV: delimiters, quotes, comments, numbers and blanks', () => {
    const cases = [
      ['ra,dec,name\n150.1,2.2,"a, b"\n150.2,2.3,"say ""hi"""\n', [[150.1, 2.2, 'a, b'], [150.2, 2.3, 'say "hi"']]],
      ['# comment\nRA;DEC\n1e2;-3\n\n4;\n', [[100, -3], [4, null]]],
      ['ra\tdec\n10:00:00\t+02:00:00\n', [['10:00:00', '+02:00:00']]],
      ['ra dec mag\n1 2 3\n', [[1, 2, 3]]],
    ];
    for (const [text, rows] of cases) assert.deepEqual(parseCsv(text).rows, rows);
    assert.throws(() => parseCsv('# only a comment\n'), /empty/);
  });

  test('position and magnitude columns are found by name or UCD', () => {
    const table = (names, ucds = []) => ({ columns: names.map((name, i) => ({ name, unit: '', ucd: ucds[i] || '' })),
      rows: [names.map(() => 1)] });
    const cases = [
      [['id', 'RAJ2000', 'DEJ2000', 'Vmag'], { kind: 'sky', lon: 1, lat: 2, mag: 3 }],
      [['ALPHA_J2000', 'DELTA_J2000', 'MAG_AUTO'], { kind: 'sky', lon: 0, lat: 1, mag: 2 }],
      [['_RAJ2000', '_DEJ2000'], { kind: 'sky', lon: 0, lat: 1, mag: -1 }],
      [['ra_icrs', 'de_icrs', 'phot_g_mean_mag'], { kind: 'sky', lon: 0, lat: 1, mag: 2 }],
      [['X_IMAGE', 'Y_IMAGE', 'FLUX'], { kind: 'pixel', lon: 0, lat: 1, mag: -1 }],
      [['a', 'b'], { kind: null, lon: -1, lat: -1, mag: -1 }],
    ];
    for (const [names, expected] of cases) assert.deepEqual(guessColumns(table(names)), expected, names.join());
    const byUcd = table(['c1', 'c2', 'ra'], ['pos.eq.ra;meta.main', 'pos.eq.dec;meta.main', '']);
    assert.deepEqual(guessColumns(byUcd), { kind: 'sky', lon: 0, lat: 1, mag: -1 });
  });

  test('positions in degrees or sexagesimal', () => {
    const t = { rows: [[150.5, -2.25], ['10:02:00', '-02:15:00'], ['10h02m00s', '-02d15m00s'], [null, 3], ['x', 'y']] };
    const [ra, dec] = positions(t, 0, 1);
    for (let i = 0; i < 3; i += 1) {
      close(ra[i], 150.5, 1e-9, 'ra');
      close(dec[i], -2.25, 1e-9, 'dec');
    }
    assert.ok(Number.isNaN(ra[3]) && Number.isNaN(ra[4]));
  });

  test('brighter sources get bigger markers', () => {
    const rows = Array.from({ length: 101 }, (_, i) => [i / 10]).concat([[null]]);
    const radii = markerRadii({ rows }, 0, 2, 10);
    assert.equal(radii[0], 10);
    assert.equal(radii[100], 2);
    assert.ok(radii[20] > radii[60]);
    assert.equal(radii[101], 2); // no magnitude
    assert.ok(markerRadii({ rows }, -1).every((r) => r === 5));
  });

  test('GeoJSON points become rows, other features are counted', () => {
    const table = fromGeoJson({ type: 'FeatureCollection', features: [
      { type: 'Feature', geometry: { type: 'Point', coordinates: [-10, 5] }, properties: { name: 'a', mag: 3 } },
      { type: 'Feature', geometry: { type: 'Point', coordinates: [20, -5] }, properties: { name: 'b' } },
      { type: 'Feature', geometry: { type: 'LineString', coordinates: [[0, 0], [1, 1]] }, properties: {} },
    ] });
    assert.deepEqual(table.columns.map((c) => c.name), ['ra', 'dec', 'name', 'mag']);
    assert.deepEqual(table.rows, [[350, 5, 'a', 3], [20, -5, 'b', null]]);
    assert.equal(table.ignored, 1);
    assert.throws(() => fromGeoJson({ type: 'Topology' }), /GeoJSON/);
  });
});

describe('GridSpacing', () => {
  test('steps: a few lines over the span, in round units', () => {
    const table = [
      // [span in degrees, style, step in degrees]
      [0.033, 'dms', 30 / 3600],
      [1.5, 'dms', 15 / 60],
      [20, 'dms', 5],
      [0.5, 'hms', 30 / 240],
      [0.01, 'hms', 0.5 / 240],
      [300, 'hms', 60],
      [0.3, 'decimal', 0.05],
    ];
    for (const [span, style, step] of table) close(gridStep(span, style), step, 1e-12, `${span} ${style}`);
  });

  test('labels', () => {
    const cases = [
      [150, 15, 'hms', '10h'],
      [150.25, 15 / 60, 'hms', '10h01m'],
      [150.0625, 15 / 3600, 'hms', '10h00m15s'],
      [150.0025, 0.1 / 240, 'hms', '10h00m00.6s'],
      [-0.25, 15 / 3600, 'hms', '23h59m00s'],
      [360, 15, 'hms', '00h'],
      [2, 1, 'dms', '+2°'],
      [2.5, 0.5, 'dms', '+2°30′'],
      [-2.0125, 15 / 3600, 'dms', '-2°00′45″'],
      [-0.0025, 1 / 3600, 'dms', '-0°00′09″'],
      [0, 1 / 3600, 'dms', '+0°00′00″'],
      [1 / 7200, 0.5 / 3600, 'dms', '+0°00′00.5″'],
      [236.75, 0.05, 'decimal', '236.75°'],
      [-10, 5, 'decimal', '350°'],
    ];
    for (const [value, step, style, label] of cases) assert.equal(gridLabel(value, step, style), label);
  });
});

describe('RegionShapes', () => {
  const frame = new SkyFrame(new WCS(TAN));
  const scale = 5.5e-5; // degrees per pixel

  test('a sky circle is a circle of radius/scale pixels about its centre', () => {
    const feature = { type: 'Feature', geometry: { type: 'Point', coordinates: [150, 2] },
      properties: { shape: 'circle', frame: 'icrs', radius: 100 * scale } };
    const shape = toPixels(feature, frame);
    assert.equal(shape.kind, 'polygon');
    for (const [x, y] of shape.rings[0]) close(Math.hypot(x - 300.5, y - 200.5), 100, 1e-3, 'radius');
  });

  test('sky angles turn from west through north, as ds9 draws them on a north-up image', () => {
    const ellipse = (angle) => toPixels({ type: 'Feature', geometry: { type: 'Point', coordinates: [150, 2] },
      properties: { shape: 'ellipse', frame: 'icrs', radii: [40 * scale, 10 * scale], angle } }, frame).rings[0][0];
    // The first outline point is the end of the width axis: +x (west) at 0, +y (north) at 90.
    const [x0, y0] = ellipse(0);
    close(x0 - 300.5, 40, 1e-2, 'x');
    close(y0 - 200.5, 0, 1e-2, 'y');
    const [x1, y1] = ellipse(90);
    close(x1 - 300.5, 0, 1e-2, 'x');
    close(y1 - 200.5, 40, 1e-2, 'y');
  });

  test('image regions are drawn as given, FITS pixels', () => {
    const box = toPixels({ type: 'Feature', geometry: { type: 'Point', coordinates: [10, 20] },
      properties: { shape: 'box', frame: 'image', size: [4, 2], angle: 90 } }, frame);
    const rounded = box.rings[0].map(([x, y]) => [Math.round(x * 1e9) / 1e9, Math.round(y * 1e9) / 1e9]);
    assert.deepEqual(rounded, [[11, 18], [11, 22], [9, 22], [9, 18]]);
    const none = toPixels({ type: 'Feature', geometry: { type: 'Point', coordinates: [150, 2] },
      properties: { shape: 'circle', frame: 'icrs', radius: 1 } }, new SkyFrame(null));
    assert.equal(none, null); // a sky region on an image without WCS
  });

  test('drawn shapes go to the sky and come back where they were drawn', () => {
    const drawn = [
      { shape: 'circle', at: [120, 80], radius: 25 },
      { shape: 'ellipse', at: [400, 300], radii: [30, 12] },
      { shape: 'box', at: [50.5, 60.5], size: [20, 8] },
      { shape: 'polygon', points: [[10, 10], [40, 12], [25, 30]] },
      { shape: 'line', points: [[1, 1], [100, 50]] },
      { shape: 'point', at: [5, 6] },
      { shape: 'text', at: [7, 8], text: 'hello' },
    ];
    for (const d of drawn) {
      const feature = fromPixels(d, frame);
      assert.equal(feature.properties.frame, 'icrs');
      const shape = toPixels(feature, frame);
      const points = shape.rings ? shape.rings[0] : shape.path || [shape.at];
      if (d.shape === 'circle') for (const [x, y] of points) close(Math.hypot(x - 120, y - 80), 25, 1e-4, 'circle');
      if (d.shape === 'ellipse') close(points[0][0], 430, 1e-4, 'ellipse end');
      if (d.shape === 'box') {
        const xs = points.map((p) => p[0]).sort((a, b) => a - b);
        close(xs[0], 40.5, 1e-4, 'box left');
        close(xs[3], 60.5, 1e-4, 'box right');
      }
      if (d.points) d.points.forEach(([x, y], i) => close(Math.hypot(points[i][0] - x, points[i][1] - y), 0, 1e-6));
      if (d.at && !shape.rings) close(Math.hypot(points[0][0] - d.at[0], points[0][1] - d.at[1]), 0, 1e-6);
    }
    const plain = fromPixels({ shape: 'circle', at: [3, 4], radius: 2 }, new SkyFrame(null));
    assert.deepEqual(plain.properties, { shape: 'circle', frame: 'image', radius: 2 });
  });

  test('offsets on the sphere', () => {
    const [ra, dec] = offsetBy(150, 89.99, 0, 0.02); // over the pole
    close(ra, 330, 1e-9);
    close(dec, 89.99, 1e-9);
    const [ra2] = offsetBy(359.999, 0, 90, 0.002); // across 0h
    close(ra2, 0.001, 1e-9);
  });
});

describe('Ds9Export', () => {
  test('features as a ds9 file, sky then image', () => {
    const point = (coordinates, properties) => ({ type: 'Feature', geometry: { type: 'Point', coordinates },
      properties });
    const text = toDs9([
      point([10, 20], { shape: 'circle', frame: 'image', radius: 5 }),
      point([150, 2], { shape: 'circle', frame: 'icrs', radius: 10 / 3600, color: 'red', label: 'A' }),
      point([150, 2], { shape: 'ellipse', frame: 'icrs', radii: [20 / 3600, 10 / 3600], angle: 30 }),
      point([150, 2], { shape: 'box', frame: 'icrs', size: [30 / 3600, 15 / 3600], angle: 45, exclude: true }),
      point([150, 2], { shape: 'annulus', frame: 'icrs', radii: [5 / 3600, 10 / 3600] }),
      { type: 'Feature', geometry: { type: 'Polygon', coordinates: [[[1, 2], [3, 4], [5, 6], [1, 2]]] },
        properties: { shape: 'polygon', frame: 'image' } },
      { type: 'Feature', geometry: { type: 'LineString', coordinates: [[1, 2], [3, 4]] },
        properties: { shape: 'line', frame: 'image', width: 2 } },
      point([1, 2], { shape: 'point', frame: 'image', marker: 'cross' }),
      point([1, 2], { shape: 'text', frame: 'image', text: 'a {b}' }),
      point([1, 2], { shape: 'vector', frame: 'image' }),
    ]);
    assert.deepEqual(text.split('\n').slice(2), [
      'icrs',
      'circle(150,2,10") # color=red text={A}',
      'ellipse(150,2,20",10",30)',
      '-box(150,2,30",15",45)',
      'annulus(150,2,5",10")',
      'image',
      'circle(10,20,5)',
      'polygon(1,2,3,4,5,6)',
      'line(1,2,3,4) # width=2',
      'point(1,2) # point=cross',
      'text(1,2) # text="a {b}"',
      '',
    ]);
    assert.ok(text.startsWith('# Region file format: DS9 version 4.1\nglobal '));
  });
});
