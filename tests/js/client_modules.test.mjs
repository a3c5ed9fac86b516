// Tests of the viewer's pure modules (no Leaflet, no DOM): pixel mapping, render settings and their URL
// spelling, the shareable view link, scale-bar lengths, API query strings, channel animation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { query } from '../../client/js/core/Api.js';
import { ChannelAnimation } from '../../client/js/core/ChannelAnimation.js';
import { DisplaySettings, round7 } from '../../client/js/core/DisplaySettings.js';
import { PixelMapping } from '../../client/js/core/PixelMapping.js';
import { ViewLink } from '../../client/js/core/ViewLink.js';
import { niceAngle, niceBelow } from '../../client/js/wcs/units.js';

describe('PixelMapping', () => {
  const m = new PixelMapping(600, 400, 3);

  test('FITS pixels to map coordinates and back', () => {
    const cases = [
      // [FITS x, FITS y, lat, lng]: pixel (1, 400) is the top-left one; (0.5, 400.5) its outer corner.
      [1, 400, -0.125, 0.125],
      [0.5, 400.5, -0, 0],
      [600.5, 0.5, -100, 150],
      [300.5, 200.5, -50, 75],
    ];
    for (const [x, y, lat, lng] of cases) {
      const ll = m.fitsToLatLng(x, y);
      assert.equal(ll.lat, lat);
      assert.equal(ll.lng, lng);
      assert.deepEqual(m.latLngToFits(ll), [x, y]);
    }
  });

  test('the pixel under a position, null off the image', () => {
    const cases = [
      [[1, 1], [1, 1]], [[0.5, 0.5], [1, 1]], [[0.49, 1], null], [[600.49, 400.49], [600, 400]],
      [[600.5, 1], null], [[1, 400.5], null], [[299.7, 12.2], [300, 12]],
    ];
    for (const [[x, y], expected] of cases) assert.deepEqual(m.pixelAt(x, y), expected, `${x}, ${y}`);
  });

  test('zoom scales and level sizes follow the server (floor at each level)', () => {
    assert.deepEqual([0, 2, 5].map((z) => m.zoomScale(z)), [0.25, 1, 8]);
    // Same table as tests/test_client_modules.py checks against pyramid.Geometry.
    const levels = [[601, 401, 3, [[150, 100], [300, 200], [601, 401]]], [256, 1, 1, [[256, 1]]],
      [1000, 3, 3, [[250, 1], [500, 1], [1000, 3]]]];
    for (const [w, h, n, sizes] of levels) {
      const mapping = new PixelMapping(w, h, n);
      assert.deepEqual(sizes.map((_, z) => mapping.levelSize(z)), sizes);
    }
  });
});

const INFO = {
  channels: 2,
  contrast: 1,
  brightness: 0,
  gamma: 2.2,
  quality: 90,
  cuts: [
    { default: [10, 500], auto: [10, 500], zscale: [20.123456789, 80], minmax: [0, 1000], '99%': [12, 300] },
    { default: [1, 5], auto: [1, 5], zscale: [2, 4], minmax: [0, 9], '99%': [1.5, 6] },
  ],
  histograms: [{ min: 0, max: 100, counts: [1, 2, 3] }, { min: 0, max: 10, counts: [3, 2, 1] }],
  default_mix: [[0, 0, 1], [1, 0.5, 0]],
};

describe('DisplaySettings', () => {
  test('untouched settings make no parameter', () => {
    assert.deepEqual(new DisplaySettings(INFO).toParams(), {});
  });

  test('each setting makes its parameter', () => {
    const cases = [
      [{ contrast: 1.5 }, { CNT: 1.5 }],
      [{ brightness: -12.25 }, { BRT: -12.25 }],
      [{ gamma: 1 }, { GAM: 1 }],
      [{ quality: 55 }, { QLT: 55 }],
      [{ stretch: 'asinh' }, { STR: 'asinh' }],
      [{ colormap: 'viridis_r' }, { CMP: 'viridis_r' }],
      [{ invert: true }, { INV: true }],
      [{ channel: 2 }, { CHAN: 2 }],
      [{ cuts: { 2: [1.5, 7] } }, { MINMAX: ['2:1.5,7'] }],
      [{ cuts: { 1: [20.123456789, 80] } }, { MINMAX: ['1:20.12346,80'] }],
      [{ mix: { 2: [0, 1, 0] } }, { MIX: ['1:0,0,1', '2:0,1,0'] }],
      [{ gamma: 2.2 }, {}],
    ];
    for (const [change, params] of cases) {
      assert.deepEqual(new DisplaySettings(INFO).set(change).toParams(), params, JSON.stringify(change));
    }
  });

  test('out-of-range values are refused', () => {
    const bad = [{ contrast: -1 }, { brightness: 101 }, { gamma: 0.1 }, { quality: 101 }, { stretch: 'cubic' },
      { colormap: 'rainbow' }, { channel: 3 }, { channel: 0 }, { cuts: { 3: [0, 1] } }, { cuts: { 1: [0, NaN] } },
      { mix: { 1: [1, 2] } }, { nonsense: 1 }];
    for (const change of bad) assert.throws(() => new DisplaySettings(INFO).set(change), RangeError);
  });

  test('cut presets are recognised, including after a trip through a URL', () => {
    const s = new DisplaySettings(INFO);
    assert.equal(s.presetOf(1), 'default');
    s.set({ cuts: { 1: s.presetCuts(1, 'zscale') } });
    assert.equal(s.presetOf(1), 'zscale');
    const copy = new DisplaySettings(INFO);
    assert.deepEqual(copy.applyPairs(s.toPairs()), []);
    assert.equal(copy.presetOf(1), 'zscale');
    s.set({ cuts: { 1: [11, 499] } });
    assert.equal(s.presetOf(1), 'manual');
    assert.deepEqual(s.cutsOf(2), [1, 5]);
  });

  test('every setting survives a trip through URL pairs', () => {
    const s = new DisplaySettings(INFO).set({ contrast: 2.5, brightness: 3, gamma: 1.8, quality: 70,
      stretch: 'log', colormap: 'hot', invert: true, channel: 1, cuts: { 2: [0.5, 8.25] }, mix: { 1: [0.2, 0.4, 0.6] } });
    const copy = new DisplaySettings(INFO);
    assert.deepEqual(copy.applyPairs(s.toPairs()), []);
    assert.deepEqual(copy.toParams(), s.toParams());
  });

  test('bad URL parameters are reported and skipped', () => {
    const s = new DisplaySettings(INFO);
    const problems = s.applyPairs([['CNT', 'abc'], ['GAM', '9'], ['STR', 'foo'], ['CHAN', '7'], ['MINMAX', '1:2'],
      ['MIX', '1:a,b,c'], ['cnt', '']]);
    assert.equal(problems.length, 7);
    assert.deepEqual(s.toParams(), {});
  });

  test('reset returns to the defaults', () => {
    const s = new DisplaySettings(INFO).set({ contrast: 3, mix: { 1: [1, 1, 1] }, cuts: { 1: [1, 2] } });
    assert.deepEqual(s.reset().toParams(), {});
    assert.deepEqual(s.mix, INFO.default_mix);
  });

  test('round7 keeps 7 significant digits', () => {
    assert.deepEqual([123.456789123, 1e-9 / 3, -2.5, 1234567890].map(round7), [123.4568, 3.333333e-10, -2.5, 1234568000]);
  });
});

describe('ViewLink', () => {
  test('a view written as a query reads back the same', () => {
    const link = new ViewLink('dir/a b.fits', [300.456, 200.5], 3, [['CNT', '1.5'], ['MINMAX', '1:90,200'], ['INV', '']]);
    const search = link.toSearch();
    assert.equal(search, 'image=dir/a+b.fits&x=300.46&y=200.5&zoom=3&CNT=1.5&MINMAX=1:90,200&INV');
    const back = ViewLink.fromSearch(`?${search}`);
    assert.equal(back.image, 'dir/a b.fits');
    assert.deepEqual(back.center, [300.46, 200.5]);
    assert.equal(back.zoom, 3);
    assert.deepEqual(back.pairs, [['CNT', '1.5'], ['MINMAX', '1:90,200'], ['INV', '']]);
  });

  test('missing or broken view fields fall back', () => {
    const link = ViewLink.fromSearch('?x=12&zoom=abc&foo=1', 'default.fits');
    assert.equal(link.image, 'default.fits');
    assert.equal(link.center, null);
    assert.equal(link.zoom, null);
    assert.deepEqual(link.pairs, []);
    assert.deepEqual(link.orientation, { quarter: 0, flipX: false, flipY: false });
  });

  test('the orientation as rotate= and flip=, left out when upright', () => {
    const turned = new ViewLink('a.fits', [1, 2], 1, [], { quarter: -1, flipX: true, flipY: false });
    assert.equal(turned.toSearch(), 'image=a.fits&x=1&y=2&zoom=1&rotate=270&flip=x');
    assert.deepEqual(ViewLink.fromSearch(turned.toSearch()).orientation, { quarter: 3, flipX: true, flipY: false });
    assert.equal(new ViewLink('a.fits', null, null, [], { quarter: 4, flipX: false, flipY: false }).toSearch(),
      'image=a.fits');
    assert.deepEqual(ViewLink.fromSearch('?rotate=45&flip=XY').orientation, { quarter: 0, flipX: true, flipY: true });
    assert.deepEqual(ViewLink.fromSearch('?rotate=-90').orientation.quarter, 3);
  });
});

describe('units', () => {
  test('round lengths below a limit', () => {
    assert.deepEqual([7, 10, 0.3, 1, 19.99, 2e-5].map(niceBelow), [5, 10, 0.2, 1, 10, 2e-5]);
  });

  test('angles in the unit that reads best', () => {
    const cases = [[1.3, 1, '1°'], [25, 20, '20°'], [0.4, 20 / 60, '20′'], [0.01, 20 / 3600, '20″'],
      [5e-5, 0.1 / 3600, '0.1″']];
    for (const [limit, degrees, label] of cases) {
      const [d, l] = niceAngle(limit);
      assert.ok(Math.abs(d - degrees) < 1e-12, `${limit}: ${d}`);
      assert.equal(l, label);
    }
  });
});

describe('query', () => {
  test('flags bare, repeats kept, paths readable', () => {
    assert.equal(query({ FIF: 'a/b.fits', INFO: true }), 'FIF=a/b.fits&INFO');
    assert.equal(query({ MINMAX: ['1:2,3', '2:4,5'], INV: false }, [['V', 'x']]), 'MINMAX=1:2,3&MINMAX=2:4,5&V=x');
    assert.equal(query({ FIF: 'a&b=c.fits' }), 'FIF=a%26b%3Dc.fits');
  });
});

describe('ChannelAnimation', () => {
  test('steps through the channels in order, waiting for each, and stops', async () => {
    let current = 2;
    const shown = [];
    const animation = new ChannelAnimation(async (c) => {
      shown.push(c);
      current = c;
      if (shown.length === 5) animation.stop();
    }, () => current, 3, 60);
    animation.start();
    while (animation.running) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(shown, [3, 1, 2, 3, 1]);
    assert.throws(() => animation.setFps(0), RangeError);
  });
});

describe('cut presets set a coherent whole', () => {
  test('cuts, stretch and gamma together; wide cuts take asinh; gamma back to the image\'s', () => {
    const s = new DisplaySettings(INFO);
    s.set({ stretch: 'log', gamma: 2.2 });
    const zscale = s.presetChanges(1, 'zscale');
    assert.deepEqual(zscale, { cuts: { 1: s.presetCuts(1, 'zscale') }, stretch: 'linear', gamma: INFO.gamma });
    assert.equal(s.presetChanges(1, 'auto').stretch, 'asinh');
    assert.deepEqual(s.presetChanges(1, 'default'), { cuts: { 1: null }, stretch: 'linear', gamma: INFO.gamma });
  });

  test('a cube of many channels opens on its middle channel; a few bands and rasters as a colour mix', () => {
    const cube = { ...INFO, channels: 200, kind: 'fits', cuts: Array(200).fill(INFO.cuts[0]),
      histograms: Array(200).fill(INFO.histograms[0]), default_mix: Array(200).fill([1, 1, 1]) };
    const s = new DisplaySettings(cube);
    assert.equal(s.channel, 100);
    assert.deepEqual(s.toPairs(), [['CHAN', '100']]); // tiles and links name the channel on view

    s.set({ channel: null });
    assert.deepEqual(s.toPairs(), [['CHAN', 'mix']]);
    const back = new DisplaySettings(cube);
    back.applyPairs([['CHAN', 'mix']]);
    assert.equal(back.channel, null);
    assert.equal(new DisplaySettings({ ...cube, kind: 'raster' }).channel, null);
    assert.equal(new DisplaySettings({ ...INFO, channels: 3, cuts: Array(3).fill(INFO.cuts[0]),
      default_mix: Array(3).fill([1, 1, 1]) }).channel, null);
  });
});
