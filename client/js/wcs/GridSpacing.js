/**
 * Graticule spacings and labels: round steps in hours (right ascension), degrees-minutes-seconds (declination)
 * or decimal degrees (galactic), chosen so that a span holds a few lines. Pure.
 */

// Steps in seconds of the unit (of time for hours, of arc for degrees), from the finest.
const HMS_STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
  3600, 7200, 10800, 14400, 21600];
const DMS_STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
  3600, 7200, 18000, 36000, 54000, 108000];
const DECIMAL_STEPS = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
  1, 2, 5, 10, 15, 30, 45];

/** Degrees per step unit, and the steps, of each style. */
const STYLES = {
  hms: [1 / 240, HMS_STEPS],
  dms: [1 / 3600, DMS_STEPS],
  decimal: [1, DECIMAL_STEPS],
};

/** The smallest round step (degrees) of `style` giving at most `lines` lines over `span` degrees. */
export function gridStep(span, style, lines = 6) {
  const [unit, steps] = STYLES[style];
  const step = steps.find((s) => (s * unit) * lines >= span);
  return (step ?? steps[steps.length - 1]) * unit;
}

/** Decimals needed to show multiples of `seconds` exactly. */
function decimalsOf(seconds) {
  for (let d = 0; d < 4; d += 1) if (Math.abs(seconds * 10 ** d - Math.round(seconds * 10 ** d)) < 1e-9) return d;
  return 4;
}

/** [units, minutes, seconds-string] of |value| in seconds, rounded to `decimals`. */
function split(totalSeconds, decimals) {
  const ticks = Math.round(Math.abs(totalSeconds) * 10 ** decimals);
  const perMinute = 60 * 10 ** decimals;
  const units = Math.floor(ticks / (60 * perMinute));
  const minutes = Math.floor(ticks / perMinute) % 60;
  const rest = ticks % perMinute;
  const whole = String(Math.floor(rest / 10 ** decimals)).padStart(2, '0');
  const fraction = decimals ? `.${String(rest % 10 ** decimals).padStart(decimals, '0')}` : '';
  return [units, String(minutes).padStart(2, '0'), whole + fraction];
}

/**
 * The label of a grid line at `value` degrees for a grid of `step` degrees: "10h05m", "+2°05′30″", "236.5°".
 * Only the units the step needs are written.
 */
export function gridLabel(value, step, style) {
  if (style === 'decimal') {
    const digits = decimalsOf(step);
    const wrapped = ((value % 360) + 360) % 360;
    return `${Number(wrapped.toFixed(digits)).toFixed(digits)}°`;
  }
  const perDegree = style === 'hms' ? 240 : 3600;
  const stepSeconds = step * perDegree;
  const decimals = stepSeconds < 1 ? decimalsOf(stepSeconds) : 0;
  const seconds = style === 'hms' ? (((value % 360) + 360) % 360) * perDegree : value * perDegree;
  const [units, minutes, secs] = split(seconds, decimals);
  if (style === 'hms') {
    const hours = String(units % 24).padStart(2, '0');
    if (stepSeconds >= 3600) return `${hours}h`;
    if (stepSeconds >= 60) return `${hours}h${minutes}m`;
    return `${hours}h${minutes}m${secs}s`;
  }
  const sign = value < 0 && Math.round(Math.abs(seconds) * 10 ** decimals) > 0 ? '-' : '+';
  if (stepSeconds >= 3600) return `${sign}${units}°`;
  if (stepSeconds >= 60) return `${sign}${units}°${minutes}′`;
  return `${sign}${units}°${minutes}′${secs}″`;
}
