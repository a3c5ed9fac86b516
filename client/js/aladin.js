/** Entry point of the Aladin Lite page: the image's HiPS (served by us, at /hips/{id}/) over the sky, at its place.
 * Aladin Lite comes from its npm package, served by this server; nothing is fetched from elsewhere. */
import A from '../../aladin-lite/aladin.js';

const config = JSON.parse(document.getElementById('tileserver-config').textContent);
const status = document.getElementById('status');

function say(text, isError = false) {
  status.textContent = text;
  status.classList.toggle('error', isError);
}

/** The HiPS description: `key = value` lines. */
function parseProperties(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0 && !line.trimStart().startsWith('#')) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

async function open(image) {
  if (!image) {
    say('Name an image: ?image=path/to/image.fits', true);
    return null;
  }
  // Without a trailing slash: Aladin Lite adds one before each file name.
  const base = new URL(`${config.root}/hips/${encodeURIComponent(image)}`, window.location.href).href;
  document.getElementById('hips').href = `${base}/properties`;
  document.getElementById('back').href = `${config.root}/?image=${encodeURIComponent(image)}`;
  const answer = await fetch(`${base}/properties`);
  if (!answer.ok) {
    const body = await answer.json().catch(() => null);
    say(body?.detail?.[0]?.msg ?? `No HiPS for this image (HTTP ${answer.status})`, true);
    return null;
  }
  const props = parseProperties(await answer.text());
  await A.init;
  const aladin = A.aladin('#aladin', {
    target: `${props.hips_initial_ra} ${props.hips_initial_dec}`,
    fov: Number(props.hips_initial_fov),
    cooFrame: 'ICRS',
    projection: 'TAN',
    survey: base,
    hipsList: [], // no list of CDS surveys: this page shows our image only, and asks nothing of other servers
    log: false, // Aladin Lite would otherwise report the page to CDS
    showReticle: true,
    showCooGrid: false,
    showLayersControl: false,
    showSimbadPointerControl: false,
    showShareControl: false,
  });
  say(`${props.obs_title} · order ${props.hips_order} · ${props.hips_tile_width}px tiles`);
  return aladin;
}

window.tileserverAladin = open(config.image).catch((error) => {
  say(`Aladin Lite could not start: ${error.message ?? error}`, true);
  return null;
});
