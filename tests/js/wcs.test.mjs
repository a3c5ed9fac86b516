// Tests of client/js/wcs/wcs.js and coords.js. The "astropy" suite reads expected values that
// tests/test_wcs_js.py computes with astropy and passes in WCS_FIXTURES; the others need no fixture.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import {
  equatorialToGalactic,
  formatSexagesimal,
  galacticToEquatorial,
  parseCoordinates,
} from '../../client/js/wcs/coords.js';
import { WCS } from '../../client/js/wcs/wcs.js';
import { formatPosition, frameOf, isEquatorial } from '../../client/js/wcs/frames.js';
import { MosaicWcs } from '../../client/js/wcs/MosaicWcs.js';
import { SpectralAxis } from '../../client/js/wcs/SpectralAxis.js';

const SKY_TOLERANCE = 1e-7; // degrees
const PIXEL_TOLERANCE = 1e-5;
const DISTORTED_PIXEL_TOLERANCE = 1e-3;
const COORDINATE_TOLERANCE = 1e-6; // degrees, for parsing and frame conversion

/** Assert two sky positions agree: latitude, and longitude scaled by cos(latitude) so poles are fair. */
function assertSkyClose([lon, lat], [expectedLon, expectedLat], tolerance, label) {
  const dlon = ((lon - expectedLon + 540) % 360) - 180;
  const offLon = Math.abs(dlon) * Math.cos((expectedLat * Math.PI) / 180);
  const offLat = Math.abs(lat - expectedLat);
  assert.ok(
    offLon <= tolerance && offLat <= tolerance,
    `${label}: got (${lon}, ${lat}), expected (${expectedLon}, ${expectedLat})`,
  );
}

/** Assert two pixel positions agree to a tolerance. */
function assertPixelClose([x, y], [expectedX, expectedY], tolerance, label) {
  assert.ok(
    Math.abs(x - expectedX) <= tolerance && Math.abs(y - expectedY) <= tolerance,
    `${label}: got (${x}, ${y}), expected (${expectedX}, ${expectedY})`,
  );
}

/** A minimal celestial header for the round-trip tests. */
function header(code, extra = {}) {
  return {
    NAXIS: 2, NAXIS1: 400, NAXIS2: 300,
    CTYPE1: `RA---${code}`, CTYPE2: `DEC--${code}`,
    CRPIX1: 200.5, CRPIX2: 150.5, CRVAL1: 150.0, CRVAL2: 35.0,
    CDELT1: -0.05, CDELT2: 0.05,
    ...extra,
  };
}

const fixture = process.env.WCS_FIXTURES ? JSON.parse(readFileSync(process.env.WCS_FIXTURES, 'utf8')) : null;

describe('against astropy', () => {
  test('the astropy fixture is available', () => {
    assert.ok(
      fixture,
      'WCS_FIXTURES is not set: run these tests with `python -m pytest tests/test_wcs_js.py`, '
        + 'which computes the expected values with astropy and passes them in',
    );
    assert.ok(fixture.wcs.length >= 30 && fixture.sexagesimal.length >= 20);
  });

  for (const c of fixture?.wcs ?? []) {
    test(`${c.name}: pixel -> world`, () => {
      const wcs = new WCS(c.header);
      assert.equal(wcs.hasCelestial, true);
      assert.equal(wcs.frame, c.frame);
      c.pixels.forEach(([x, y], i) => {
        const world = wcs.pixelToWorld(x, y);
        assert.ok(world[0] >= 0 && world[0] < 360, `${c.name}: longitude ${world[0]} outside [0, 360)`);
        assertSkyClose(world, c.world[i], SKY_TOLERANCE, `${c.name} pixel (${x}, ${y})`);
      });
      for (const [x, y] of c.invalid) {
        const world = wcs.pixelToWorld(x, y);
        assert.ok(world.every(Number.isNaN), `${c.name}: pixel (${x}, ${y}) is off the sky, got (${world})`);
      }
    });

    test(`${c.name}: world -> pixel`, () => {
      const wcs = new WCS(c.header);
      const tolerance = c.distorted ? DISTORTED_PIXEL_TOLERANCE : PIXEL_TOLERANCE;
      c.world.forEach(([lon, lat], i) => {
        assertPixelClose(wcs.worldToPixel(lon, lat), c.back[i], tolerance, `${c.name} world (${lon}, ${lat})`);
      });
    });

    if (c.scale) {
      test(`${c.name}: pixel scale at the reference pixel`, () => {
        const scale = new WCS(c.header).pixelScale(...c.scale.pixel);
        assert.ok(Math.abs(scale / c.scale.value - 1) < 1e-6, `${c.name}: scale ${scale}, expected ${c.scale.value}`);
      });
    }
  }

  test('cube channels in their spectral coordinate match astropy', () => {
    const cases = fixture?.spectral ?? [];
    if (fixture) assert.ok(cases.length >= 5);
    for (const c of cases) {
      const axis = SpectralAxis.fromHeader(c.header, c.channels);
      assert.ok(axis, c.name);
      c.si.forEach((expected, i) => {
        const got = axis.si(i + 1);
        assert.ok(Math.abs(got - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${c.name} #${i + 1}: ${got} vs ${expected}`);
      });
    }
  });

  test('unsupported projections throw', () => {
    for (const c of fixture?.unsupported ?? []) {
      assert.throws(() => new WCS(c.header), /unsupported projection/, c.name);
    }
  });

  test('sexagesimal strings match astropy', () => {
    for (const c of fixture?.sexagesimal ?? []) {
      assert.deepEqual(formatSexagesimal(c.lon, c.lat, c.precision), c.strings, `(${c.lon}, ${c.lat})`);
      assertSkyClose(parseCoordinates(c.strings.join(' ')), c.parsed, COORDINATE_TOLERANCE, c.strings.join(' '));
      assertSkyClose(parseCoordinates(c.letters), c.parsed, COORDINATE_TOLERANCE, c.letters);
    }
  });

  test('galactic conversions match astropy', () => {
    for (const [ra, dec, l, b] of fixture?.galactic.to_galactic ?? []) {
      assertSkyClose(equatorialToGalactic(ra, dec), [l, b], COORDINATE_TOLERANCE, `ICRS (${ra}, ${dec})`);
    }
    for (const [l, b, ra, dec] of fixture?.galactic.to_equatorial ?? []) {
      assertSkyClose(galacticToEquatorial(l, b), [ra, dec], COORDINATE_TOLERANCE, `Galactic (${l}, ${b})`);
    }
  });
});

describe('round trips', () => {
  const projections = {
    TAN: {}, SIN: {}, 'SIN slant': { PV2_1: 0.2, PV2_2: -0.1 }, NCP: {}, ZEA: {}, ARC: {}, STG: {},
    ZPN: { PV2_1: 1, PV2_3: -0.2 }, AZP: { PV2_1: 2, PV2_2: 30 }, CAR: {}, CEA: { PV2_1: 0.6 }, MER: {},
    SFL: {}, AIT: {}, MOL: {}, COE: { PV2_1: 40, PV2_2: 15 },
  };
  for (const [name, extra] of Object.entries(projections)) {
    test(`${name}: pixel -> world -> pixel`, () => {
      const wcs = new WCS(header(name.split(' ')[0], extra));
      for (let x = 1; x <= 400; x += 57) {
        for (let y = 1; y <= 300; y += 43) {
          const [lon, lat] = wcs.pixelToWorld(x, y);
          assertPixelClose(wcs.worldToPixel(lon, lat), [x, y], 1e-8, `${name} (${x}, ${y})`);
        }
      }
    });
  }

  test('the reference pixel maps to the reference value', () => {
    const wcs = new WCS(header('TAN'));
    assertSkyClose(wcs.pixelToWorld(200.5, 150.5), [150, 35], 1e-12, 'CRPIX');
    assertPixelClose(wcs.worldToPixel(150, 35), [200.5, 150.5], 1e-9, 'CRVAL');
  });

  test('SIP inverse: iterating without AP/BP agrees with AP/BP as the first guess', () => {
    const sip = {
      ...header('TAN'), CTYPE1: 'RA---TAN-SIP', CTYPE2: 'DEC--TAN-SIP', CDELT1: -2e-4, CDELT2: 2e-4,
      A_ORDER: 2, A_2_0: 2e-5, A_1_1: -1e-5, A_0_2: 3e-6, B_ORDER: 2, B_2_0: -1e-6, B_1_1: 2e-5, B_0_2: 1e-5,
    };
    const withInverse = { ...sip, AP_ORDER: 2, AP_2_0: -2e-5, AP_1_1: 1e-5, BP_ORDER: 2, BP_1_1: -2e-5, BP_0_2: -1e-5 };
    const [plain, guided] = [new WCS(sip), new WCS(withInverse)];
    for (const [x, y] of [[1, 1], [400, 300], [37.2, 251.9]]) {
      const [lon, lat] = plain.pixelToWorld(x, y);
      assertPixelClose(plain.worldToPixel(lon, lat), [x, y], 1e-8, 'no AP/BP');
      assertPixelClose(guided.worldToPixel(lon, lat), [x, y], 1e-8, 'AP/BP');
    }
  });

  test('TAN with PV keywords is TPV (SCAMP), TAN-SIP ignores leftover PV keywords', () => {
    const pv = { PV1_1: 1, PV1_4: 2e-3, PV1_11: -1e-3, PV2_1: 1, PV2_5: -3e-3 };
    const sip = { CTYPE1: 'RA---TAN-SIP', CTYPE2: 'DEC--TAN-SIP', A_ORDER: 2, A_1_1: 1e-5, B_ORDER: 2, B_2_0: -2e-5 };
    const pairs = [
      [new WCS(header('TAN', pv)), new WCS(header('TPV', pv))],
      [new WCS(header('TAN', { ...sip, ...pv })), new WCS(header('TAN', sip))],
    ];
    for (const [wcs, reference] of pairs) {
      for (const [x, y] of [[1, 1], [400, 300], [37.2, 251.9]]) {
        assertSkyClose(wcs.pixelToWorld(x, y), reference.pixelToWorld(x, y), 1e-12, `(${x}, ${y})`);
      }
    }
    assert.notDeepEqual(new WCS(header('TAN', pv)).pixelToWorld(1, 1), new WCS(header('TAN')).pixelToWorld(1, 1));
  });

  test('points off the projection give NaN', () => {
    assert.ok(new WCS(header('TAN')).worldToPixel(330, -35).every(Number.isNaN), 'TAN far hemisphere');
    assert.ok(new WCS(header('SIN')).worldToPixel(330, -35).every(Number.isNaN), 'SIN far hemisphere');
    assert.ok(new WCS(header('AIT', { CDELT1: -1, CDELT2: 1 })).pixelToWorld(400, 300).every(Number.isNaN), 'AIT corner');
  });

  test('pixel scale of an orthogonal CD matrix at the reference pixel', () => {
    const wcs = new WCS({ ...header('TAN'), CD1_1: -1e-4, CD1_2: 0, CD2_1: 0, CD2_2: 4e-4 });
    assert.ok(Math.abs(wcs.pixelScale(200.5, 150.5) / 2e-4 - 1) < 1e-9);
  });
});

describe('header parsing', () => {
  test('frames from RADESYS, RADECSYS, EQUINOX, EPOCH and axis types', () => {
    const table = [
      [{}, 'icrs'],
      [{ RADESYS: 'FK5' }, 'fk5'],
      [{ RADECSYS: 'FK4' }, 'fk4'],
      [{ RADESYS: 'FK4-NO-E' }, 'fk4'],
      [{ EQUINOX: 1950 }, 'fk4'],
      [{ EQUINOX: 2000 }, 'fk5'],
      [{ EPOCH: 1950 }, 'fk4'],
      [{ RADESYS: 'GAPPT' }, null],
      [{ CTYPE1: 'GLON-TAN', CTYPE2: 'GLAT-TAN' }, 'galactic'],
      [{ CTYPE1: 'ELAT-TAN', CTYPE2: 'ELON-TAN', CRVAL1: 35, CRVAL2: 150 }, 'ecliptic'],
      [{ CTYPE1: 'SLON-TAN', CTYPE2: 'SLAT-TAN' }, 'supergalactic'],
      [{ CTYPE1: 'HPLN-TAN', CTYPE2: 'HPLT-TAN', CRVAL1: 0, CRVAL2: 0 }, 'helioprojective'],
      [{ CTYPE1: 'HGLN-CAR', CTYPE2: 'HGLT-CAR', CRVAL1: 0, CRVAL2: 0 }, 'heliographic_stonyhurst'],
      [{ CTYPE1: 'CRLN-CAR', CTYPE2: 'CRLT-CAR', CRVAL1: 0, CRVAL2: 0 }, 'heliographic_carrington'],
      [{ CTYPE1: 'HLON-TAN', CTYPE2: 'HLAT-TAN' }, null],
    ];
    for (const [extra, frame] of table) assert.equal(new WCS({ ...header('TAN'), ...extra }).frame, frame, JSON.stringify(extra));
  });

  test('headers without a celestial pair of axes are pixel-only', () => {
    for (const extra of [{ CTYPE1: undefined, CTYPE2: undefined }, { CTYPE1: 'LINEAR', CTYPE2: 'LINEAR' }, { CTYPE2: 'FREQ' }, { CTYPE1: 'RA', CTYPE2: 'DEC' }]) {
      const wcs = new WCS({ ...header('TAN'), ...extra });
      assert.equal(wcs.hasCelestial, false, JSON.stringify(extra));
      assert.equal(wcs.frame, null);
      assert.throws(() => wcs.pixelToWorld(1, 1), /no celestial coordinates/);
    }
    assert.equal(new WCS({}).hasCelestial, false);
  });

  test('COMMENT, HISTORY and numbers as strings are accepted', () => {
    const wcs = new WCS({ ...header('TAN'), CRVAL1: ' 150.0 ', COMMENT: 'a comment', HISTORY: 'made\nby hand', SIMPLE: true });
    assertSkyClose(wcs.pixelToWorld(200.5, 150.5), [150, 35], 1e-12, 'CRPIX');
  });

  test('bad headers throw a clear error', () => {
    const table = [
      [null, /must be an object/],
      [{ ...header('TAN'), CTYPE1: 'RA---XYZ', CTYPE2: 'DEC--XYZ' }, /unsupported projection 'XYZ'/],
      [{ ...header('TAN'), CTYPE2: 'GLAT-TAN' }, /not a longitude\/latitude pair/],
      [{ ...header('TAN'), CTYPE2: 'DEC--SIN' }, /different projections/],
      [{ ...header('TAN'), CTYPE1: 'RA---TAN-TNX', CTYPE2: 'DEC--TAN-TNX' }, /unsupported CTYPE suffix/],
      [{ ...header('TAN'), CTYPE1: 'RA---TAN-SIP', CTYPE2: 'DEC--TAN-SIP' }, /A_ORDER/],
      [{ ...header('TAN'), CD1_1: 1, CD1_2: 2, CD2_1: 2, CD2_2: 4 }, /singular/],
      [{ ...header('TAN'), CDELT2: 0 }, /singular/],
      [{ ...header('TAN'), CRVAL2: 95 }, /not a latitude/],
      [{ ...header('TAN'), CUNIT1: 'Hz' }, /CUNIT1 'HZ' is not an angle unit/],
      [{ ...header('TAN'), CUNIT2: 'arcsec', CRVAL2: 95 * 3600 }, /not a latitude/],
      [{ ...header('TAN'), CRVAL1: 'abc' }, /CRVAL1 must be a number/],
      [{ ...header('TAN'), CRPIX1: true }, /CRPIX1 must be a number/],
      [header('COE'), /COE: PV2_1/],
      [header('CEA', { PV2_1: 2 }), /CEA: PV2_1/],
      [header('ZPN'), /ZPN/],
      [header('CAR', { LONPOLE: 90, CRVAL2: 60 }), /celestial pole/],
      [header('SIN', { PV1_1: 10 }), /fiducial point offset/],
    ];
    for (const [bad, message] of table) assert.throws(() => new WCS(bad), message, JSON.stringify(bad));
  });
});

describe('coordinate helpers', () => {
  test('formatSexagesimal rounds once and carries', () => {
    const table = [
      [[10.684708, 41.269065], ['00:42:44.33', '+41:16:08.6']],
      [[359.9999999, 89.99999999], ['00:00:00.00', '+90:00:00.0']],
      [[44.99999, -29.999999], ['03:00:00.00', '-30:00:00.0']],
      [[-15, -0.5], ['23:00:00.00', '-00:30:00.0']],
      [[720.0041666, 1e-9], ['00:00:01.00', '+00:00:00.0']],
      [[0, -1e-9], ['00:00:00.00', '-00:00:00.0']],
    ];
    for (const [[lon, lat], expected] of table) assert.deepEqual(formatSexagesimal(lon, lat), expected);
    assert.deepEqual(formatSexagesimal(14.999999, 9.99999, 0), ['01:00:00', '+10:00:00']);
    assert.deepEqual(formatSexagesimal(14.999999, 9.99999, 4), ['00:59:59.9998', '+09:59:59.964']);
    assert.throws(() => formatSexagesimal(NaN, 0), RangeError);
    assert.throws(() => formatSexagesimal(0, 0, -1), RangeError);
  });

  test('parseCoordinates understands degrees and sexagesimal, and rejects the rest', () => {
    const table = [
      ['10.68 41.27', [10.68, 41.27]],
      ['10.68, -41.27', [10.68, -41.27]],
      ['  359.5   +0.5 ', [359.5, 0.5]],
      ['00:42:44.3 +41:16:09', [10.684583333, 41.269166667]],
      ['00h42m44.3s +41d16m09s', [10.684583333, 41.269166667]],
      ['00 42 44.3 -00 16 09', [10.684583333, -0.269166667]],
      ['12:30 -45:30', [187.5, -45.5]],
      ["23h59m59.9s -89°59'59.9\"", [359.999583333, -89.999972222]],
      ['', null],
      ['M31', null],
      ['10.68', null],
      ['1 2 3', null],
      ['360.0 10', null],
      ['10 91', null],
      ['-1 10', null],
      ['24:00:00 +10:00:00', null],
      ['12:60:00 +10:00:00', null],
      ['12:30:00 +10:-5:00', null],
      ['12:30:00 +91:00:00', null],
    ];
    for (const [text, expected] of table) {
      const parsed = parseCoordinates(text);
      if (expected === null) assert.equal(parsed, null, text);
      else assertSkyClose(parsed, expected, 1e-8, text);
    }
    assert.equal(parseCoordinates(undefined), null);
  });

  test('galactic conversion: round trip and the Galactic centre', () => {
    for (const [ra, dec] of [[0, 0], [83.63, 22.01], [266.4, -28.9], [192.86, 27.13], [10, -89.9]]) {
      assertSkyClose(galacticToEquatorial(...equatorialToGalactic(ra, dec)), [ra, dec], 1e-10, `(${ra}, ${dec})`);
    }
    // Reid & Brunthaler (2004): Sgr A* region, l = b = 0 at about 17h45m37s -28d56m10s.
    assertSkyClose(galacticToEquatorial(0, 0), [266.405, -28.936], 1e-3, 'Galactic centre');
  });
});

describe('frames: names, axes and units of the readout', () => {
  const solar = {
    NAXIS: 2, NAXIS1: 1024, NAXIS2: 1024, CTYPE1: 'HPLN-TAN', CTYPE2: 'HPLT-TAN', CUNIT1: 'arcsec', CUNIT2: 'arcsec',
    CRPIX1: 512.5, CRPIX2: 512.5, CRVAL1: -4.5, CRVAL2: 2.9, CDELT1: 0.6, CDELT2: 0.6,
  };

  test('a helioprojective image reads in arcseconds about the Sun centre, signed', () => {
    const wcs = new WCS(solar);
    const frame = frameOf(wcs);
    assert.equal(frame.label, 'Helioprojective');
    assert.deepEqual(formatPosition(frame, ...wcs.pixelToWorld(512.5, 512.5), 2), ['Tx -4.50″  Ty +2.90″']);
    // 0.6″ pixels: the scale bar measures arcseconds, not degrees.
    assert.ok(Math.abs(wcs.pixelScale(512.5, 512.5) * 3600 - 0.6) < 1e-6);
  });

  test('labels and units of every frame', () => {
    const table = [
      [{}, 'ICRS', 0, /^\d\d:\d\d:\d\d\.\d+ [+-]\d\d:\d\d:\d\d/],
      [{ RADESYS: 'FK5', EQUINOX: 2000 }, 'FK5 J2000', 0, /^\d\d:/],
      [{ RADESYS: 'FK4', EQUINOX: 1950 }, 'FK4 B1950', 0, /^\d\d:/],
      [{ CTYPE1: 'GLON-TAN', CTYPE2: 'GLAT-TAN' }, 'Galactic', 0, /^l 150\.0+ {2}b \+35\.0+$/],
      [{ CTYPE1: 'ELON-TAN', CTYPE2: 'ELAT-TAN' }, 'Ecliptic', 0, /^λ 150\.0+ {2}β \+35\.0+$/],
      [{ CTYPE1: 'SLON-TAN', CTYPE2: 'SLAT-TAN' }, 'Supergalactic', 0, /^SGL 150\.0+ {2}SGB \+35\.0+$/],
      [{ CTYPE1: 'HGLN-CAR', CTYPE2: 'HGLT-CAR', CRVAL1: -20, CRVAL2: 10 }, 'Heliographic Stonyhurst', 0,
        /^lon -20\.0+ {2}lat \+10\.0+$/],
      [{ CTYPE1: 'CRLN-CAR', CTYPE2: 'CRLT-CAR', CRVAL1: 340, CRVAL2: 10 }, 'Heliographic Carrington', 0,
        /^lon 340\.0+ {2}lat \+10\.0+$/],
    ];
    for (const [extra, label, index, pattern] of table) {
      const wcs = new WCS({ ...header('TAN'), ...extra });
      const frame = frameOf(wcs);
      assert.equal(frame.label, label);
      const texts = formatPosition(frame, ...wcs.pixelToWorld(200.5, 150.5), 1);
      assert.match(texts[index], pattern, `${label}: ${texts}`);
    }
  });

  test('only equatorial frames take typed RA/Dec', () => {
    assert.equal(isEquatorial(new WCS(header('TAN'))), true);
    assert.equal(isEquatorial(new WCS(solar)), false);
  });
});

describe('mosaics: each chip read with its own WCS', () => {
  // Two 100x50 chips side by side, the second flipped in x and pointing elsewhere; 10 columns of overscan each.
  const chip = (crval1, extra = {}) => ({
    NAXIS: 2, NAXIS1: 110, NAXIS2: 50, CTYPE1: 'RA---TAN', CTYPE2: 'DEC--TAN', CRPIX1: 50, CRPIX2: 25,
    CRVAL1: crval1, CRVAL2: 20, CDELT1: -1e-4, CDELT2: 1e-4, ...extra,
  });
  const chips = [
    { header: chip(150), dataslice: [[11, 110, 1], [1, 50, 1]], detslice: [[1, 100, 1], [1, 50, 1]] },
    { header: chip(150.5, { PC1_1: 0.8, PC1_2: -0.6, PC2_1: 0.6, PC2_2: 0.8 }),
      dataslice: [[11, 110, 1], [1, 50, 1]], detslice: [[200, 101, -1], [1, 50, 1]] },
  ];
  const mosaic = MosaicWcs.of(new WCS({ ...chip(150), CRPIX1: 40, NAXIS1: 200 }), chips);

  test('a pixel of each chip is that chip\'s pixel under its WCS, and back', () => {
    const first = new WCS(chips[0].header);
    const second = new WCS(chips[1].header);
    assertSkyClose(mosaic.pixelToWorld(30, 10), first.pixelToWorld(40, 10), 1e-12, 'first chip');
    // Mosaic column 150 is column 200 - 150 + 11 = 61 of the flipped second chip's data.
    assertSkyClose(mosaic.pixelToWorld(150, 10), second.pixelToWorld(61, 10), 1e-12, 'second chip');
    assertPixelClose(mosaic.worldToPixel(...second.pixelToWorld(61, 10)), [150, 10], 1e-6, 'second chip back');
    assert.ok(Math.abs(mosaic.pixelScale(150, 10) * 3600 - 0.36) < 1e-6);
  });
});

describe('spectral axes: units that read well', () => {
  const cube = (axis) => ({ NAXIS: 3, NAXIS1: 8, NAXIS2: 8, NAXIS3: 200, ...axis });
  test('velocity in km/s, frequency in GHz, wavelength in nm, Stokes by name', () => {
    const table = [
      [{ CTYPE3: 'VRAD', CUNIT3: 'm/s', CRVAL3: -5000, CDELT3: 250, CRPIX3: 1 }, 'radio velocity (km/s)', '-5 km/s'],
      [{ CTYPE3: 'FREQ', CRVAL3: 1.4204e9, CDELT3: 1e5, CRPIX3: 1 }, 'frequency (GHz)', '1.4204 GHz'],
      [{ CTYPE3: 'WAVE', CUNIT3: 'Angstrom', CRVAL3: 6562.8, CDELT3: 1, CRPIX3: 1 }, 'wavelength (nm)', '656.28 nm'],
      [{ CTYPE3: 'STOKES', CRVAL3: 1, CDELT3: 1, CRPIX3: 1, NAXIS3: 4 }, 'Stokes', 'Stokes I'],
    ];
    for (const [axis, title, first] of table) {
      const spectral = SpectralAxis.fromHeader(cube(axis), axis.NAXIS3 || 200);
      assert.equal(spectral.title, title);
      assert.equal(spectral.label(1), first);
    }
  });

  test('no spectral axis for an image, or for channels that are not one axis', () => {
    assert.equal(SpectralAxis.fromHeader({ NAXIS: 2 }, 1), null);
    assert.equal(SpectralAxis.fromHeader({ NAXIS: 4, NAXIS3: 3, NAXIS4: 2, CTYPE3: 'FREQ', CTYPE4: 'STOKES' }, 6), null);
  });
});
