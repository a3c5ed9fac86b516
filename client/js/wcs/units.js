/** Angles for display: scale-bar lengths and readable angle labels. Pure. */

const NICE = [1, 2, 5];

/** The largest 1-2-5 x 10^n value not above `limit` (limit > 0). */
export function niceBelow(limit) {
  const exponent = Math.floor(Math.log10(limit));
  // Spelt as decimal literals so that 2e-5 is 2e-5, not 2 * 1e-5 = 1.9999999999999998e-5.
  let best = Number(`1e${exponent}`);
  for (const step of NICE) {
    const value = Number(`${step}e${exponent}`);
    if (value <= limit * (1 + 1e-12)) best = value;
  }
  return best;
}

/**
 * A round angle not above `maxDegrees`, in the unit that reads best: [degrees, label].
 * Under one arcminute: arcseconds; under one degree: arcminutes; else degrees.
 */
export function niceAngle(maxDegrees) {
  if (maxDegrees >= 1) {
    const d = niceBelow(maxDegrees);
    return [d, `${d}°`];
  }
  if (maxDegrees >= 1 / 60) {
    const m = niceBelow(maxDegrees * 60);
    return [m / 60, `${m}′`];
  }
  const s = niceBelow(maxDegrees * 3600);
  return [s / 3600, `${formatSmall(s)}″`];
}

function formatSmall(x) {
  return String(Number(x.toPrecision(3)));
}
