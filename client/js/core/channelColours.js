/** Colours of an image's channels in plots: their colour-mix colours at full brightness. Pure. */

const SINGLE = '#4fb3ff'; // a one-channel image: the accent colour
const OFF = '#8a96a3'; // a channel left out of the mix

/** CSS colour of each channel, from the render settings' mix weights (brightest weight -> 255). */
export function channelColours(settings) {
  if (settings.channels < 2) return [SINGLE];
  return settings.mix.map((rgb) => {
    const top = Math.max(...rgb);
    if (!(top > 0)) return OFF;
    return `rgb(${rgb.map((w) => Math.round((255 * Math.max(0, w)) / top)).join(', ')})`;
  });
}
