/**
 * The one table of the viewer's tools: each entry gives its name, the keys that run it, its label, its group in
 * the help and, for the toolbar, an icon (a 24x24 SVG path). The toolbar, the keyboard shortcuts, the help
 * overlay and the manual's shortcut table are all made from it. `run(viewer, event)` does the work; `needsImage`
 * tools do nothing until an image is shown (Leaflet has no view before that). Pure data: node imports it to
 * write the manual's table.
 */

const ICONS = {
  settings: 'M4 7h9M17 7h3M15 5v4M4 12h3M11 12h9M9 10v4M4 17h11M19 17h1M17 15v4',
  channels: 'M12 4l8 4-8 4-8-4zM4 12l8 4 8-4M4 16l8 4 8-4',
  files: 'M3 6h6l2 2h10v11H3z',
  fit: 'M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5M9 9h6v6H9z',
  link: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
  fullscreen: 'M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5',
  help: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M9.5 9.5a2.5 2.5 0 1 1 3.5 2.3c-.6.3-1 .8-1 1.5V14M12 17v.5',
  profile: 'M3 20h18M4 16l4-6 4 3 4-8 4 5',
  spectrum: 'M3 20h18M6 17v-4M10 17V7M14 17v-6M18 17V4',
  snapshot: 'M4 8h3l2-3h6l2 3h3v11H4zM12 10a3.5 3.5 0 1 0 0 7a3.5 3.5 0 1 0 0-7',
  measure: 'M3 17L17 3l4 4L7 21zM7 13l2 2M10 10l2 2M13 7l2 2',
  overlays: 'M4.5 7a2.5 2.5 0 1 0 5 0a2.5 2.5 0 1 0-5 0M14.5 8a1.5 1.5 0 1 0 3 0a1.5 1.5 0 1 0-3 0'
    + 'M8 16a3 3 0 1 0 6 0a3 3 0 1 0-6 0M17 15l3 3M20 15l-3 3',
  grid: 'M3 8c6-2 12-2 18 0M3 16c6 2 12 2 18 0M8 3c-2 6-2 12 0 18M16 3c2 6 2 12 0 18',
  compare: 'M3 5h8v14H3zM13 5h8v14h-8z',
  samp: 'M5 12h4M15 12h4M9 12a3 3 0 1 0 6 0a3 3 0 1 0-6 0M3 9v6M21 9v6',
  analysis: 'M4 20V11M9 20V5M14 20v-8M19 20V8M2 20h20',
  rotate: 'M19 12a7 7 0 1 1-2.1-5M19 4v4h-4',
  flipX: 'M12 3v18M9 7l-6 10h6zM15 7l6 10h-6z',
  flipY: 'M3 12h18M7 9L17 3v6zM7 15l10 6v-6z',
  crosshair: 'M12 2v7M12 15v7M2 12h7M15 12h7M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6',
  sky: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M3 12h18M12 3c3 3 3 15 0 18M12 3c-3 3-3 15 0 18',
};

/** The image's HiPS in Aladin Lite (a page of this server), in a new tab. */
function openAladin(viewer) {
  const url = `${viewer.config.root}/aladin?image=${encodeURIComponent(viewer.image)}`;
  window.open(url, '_blank', 'noopener');
}

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

/** Names of keys as the help and the manual print them. */
export const KEY_NAMES = {
  ArrowLeft: '←', ArrowRight: '→', ArrowUp: '↑', ArrowDown: '↓', ' ': 'Space', Escape: 'Esc',
};

function pan(viewer, event) {
  const [dx, dy] = ARROWS[event.key];
  const size = viewer.map.getSize();
  viewer.map.panBy([dx * size.x / 4, dy * size.y / 4]);
}

const panel = (name) => (viewer) => viewer.togglePanel(name);

/** Turn the view a quarter clockwise (r), or anticlockwise (R). */
function rotate(viewer, event) {
  const t = viewer.transform;
  t.set({ quarter: t.quarter + (event && event.key === 'R' ? -1 : 1) });
  viewer.viewTransformed();
}

function flip(axis) {
  return (viewer) => {
    viewer.transform.set({ [axis]: !viewer.transform[axis] });
    viewer.viewTransformed();
  };
}

/**
 * @type {Array<{name: string, keys: string[], label: string, group: string, icon?: string, gesture?: string,
 *   needsImage?: boolean, run: (viewer: any, event?: KeyboardEvent) => void}>}
 * Toolbar buttons appear in table order. A `gesture` is a mouse action that runs the tool (the help and the
 * manual list it with the keys).
 */
export const TOOLS = [
  { name: 'settings', keys: ['s'], label: 'Image settings', group: 'Image', icon: ICONS.settings, needsImage: true,
    run: panel('settings') },
  { name: 'channels', keys: ['c'], label: 'Channels (cubes)', group: 'Image', icon: ICONS.channels,
    needsImage: true, run: panel('channels') },
  { name: 'files', keys: ['o'], label: 'Open an image', group: 'Image', icon: ICONS.files, run: panel('files') },
  { name: 'profile', keys: ['p'], label: 'Line profile', group: 'Tools', icon: ICONS.profile, needsImage: true,
    run: panel('profile') },
  { name: 'spectrum', keys: ['e'], label: 'Spectrum of a pixel (cubes)', group: 'Tools', icon: ICONS.spectrum,
    needsImage: true, run: panel('spectrum') },
  { name: 'snapshot', keys: ['d'], label: 'Snapshot and FITS cutout', group: 'Tools', icon: ICONS.snapshot,
    needsImage: true, run: panel('snapshot') },
  { name: 'measure', keys: ['u'], label: 'Measure distance and angle', group: 'Tools', icon: ICONS.measure,
    needsImage: true, run: panel('measure') },
  { name: 'overlays', keys: ['k'], label: 'Catalogs and region files', group: 'Overlays', icon: ICONS.overlays,
    run: panel('overlays') },
  { name: 'grid', keys: ['w'], label: 'Sky coordinate grid', group: 'Overlays', icon: ICONS.grid, needsImage: true,
    run: (viewer) => viewer.toggleGrid() },
  { name: 'compare', keys: ['v'], label: 'Compare with another image', group: 'Overlays', icon: ICONS.compare,
    needsImage: true, run: panel('compare') },
  { name: 'samp', keys: ['y'], label: 'SAMP: share with TOPCAT, DS9, Aladin', group: 'Overlays', icon: ICONS.samp,
    run: panel('samp') },
  { name: 'aladin', keys: ['a'], label: 'Open in Aladin Lite (the image on the sky, as a HiPS)', group: 'Overlays',
    icon: ICONS.sky, needsImage: true, run: openAladin },
  { name: 'analysis', keys: ['t'], label: 'Statistics, contours, pixel table, header', group: 'Tools',
    icon: ICONS.analysis, needsImage: true, run: panel('analysis') },
  { name: 'rotate', keys: ['r', 'R'], label: 'Turn the view 90° clockwise (R: anticlockwise)', group: 'View',
    icon: ICONS.rotate, needsImage: true, run: rotate },
  { name: 'flip-x', keys: ['X'], label: 'Flip the view left-right (X)', group: 'View', icon: ICONS.flipX,
    needsImage: true, run: flip('flipX') },
  { name: 'flip-y', keys: ['Y'], label: 'Flip the view top-bottom (Y)', group: 'View', icon: ICONS.flipY,
    needsImage: true, run: flip('flipY') },
  { name: 'crosshair', keys: ['h'], label: 'Crosshair: the readout stays where you click', group: 'Tools',
    icon: ICONS.crosshair, needsImage: true, run: (viewer) => viewer.crosshair.toggleMode() },
  { name: 'pin', keys: ['.'], gesture: 'Click', label: 'Pin the readout (at the view centre, or where clicked); '
    + 'again to unpin', group: 'Tools', needsImage: true, run: (viewer) => viewer.crosshair.togglePin() },
  { name: 'contrast', keys: [], gesture: 'Right-drag', label: 'Contrast (up, down) and bias (left, right)',
    group: 'Image', needsImage: true, run: () => {} },
  { name: 'compass', keys: ['n'], label: 'Show or hide the compass (N, E and the image axes)', group: 'View',
    run: (viewer) => viewer.toggleCompass() },
  { name: 'fit', keys: ['0'], label: 'Fit the image', group: 'View', icon: ICONS.fit, needsImage: true,
    run: (viewer) => viewer.fitImage() },
  { name: 'link', keys: ['l'], label: 'Copy a link to this view', group: 'View', icon: ICONS.link,
    run: (viewer) => viewer.copyLink() },
  { name: 'fullscreen', keys: ['f'], label: 'Full screen', group: 'View', icon: ICONS.fullscreen,
    run: (viewer) => viewer.toggleFullscreen() },
  { name: 'help', keys: ['?'], label: 'This help', group: 'Help', icon: ICONS.help,
    run: (viewer) => viewer.help.toggle() },
  { name: 'zoom-in', keys: ['+', '='], label: 'Zoom in', group: 'View', needsImage: true,
    run: (viewer) => viewer.map.zoomIn() },
  { name: 'zoom-out', keys: ['-'], label: 'Zoom out', group: 'View', needsImage: true,
    run: (viewer) => viewer.map.zoomOut() },
  { name: 'pan', keys: Object.keys(ARROWS), label: 'Pan', group: 'View', needsImage: true, run: pan },
  { name: 'native', keys: ['1'], label: 'One image pixel per screen pixel', group: 'View', needsImage: true,
    run: (viewer) => viewer.zoomToNative() },
  { name: 'goto', keys: ['g'], label: 'Go to a position', group: 'View', needsImage: true,
    run: (viewer) => viewer.goto.focus() },
  { name: 'reticle', keys: ['x'], label: 'Show or hide the reticle', group: 'View',
    run: (viewer) => viewer.reticle.toggle() },
  { name: 'minimap', keys: ['m'], label: 'Show or hide the overview', group: 'View',
    run: (viewer) => viewer.minimap.toggle() },
  { name: 'invert', keys: ['i'], label: 'Invert', group: 'Image', needsImage: true,
    run: (viewer) => viewer.applySettings({ invert: !viewer.settings.invert }) },
  { name: 'channel-step', keys: ['[', ']'], label: 'Previous / next channel', group: 'Image', needsImage: true,
    run: (viewer, e) => viewer.panels.channels.step(e.key === '[' ? -1 : 1) },
  { name: 'animate', keys: [' '], label: 'Play / pause the channels', group: 'Image', needsImage: true,
    run: (viewer) => viewer.panels.channels.toggleAnimation() },
  { name: 'blink', keys: ['b'], label: 'Blink the two images (when comparing)', group: 'Overlays',
    needsImage: true, run: (viewer) => viewer.panels.compare.toggleBlink() },
  { name: 'escape', keys: ['Escape'], label: 'Close panels and help', group: 'Help',
    run: (viewer, e) => viewer.escape(e) },
];

/** Groups in the order the help and the manual show them. */
export const GROUPS = ['View', 'Image', 'Tools', 'Overlays', 'Help'];

/** The keys of a tool as printed ("[ ]", "Space"), and its gesture ("Click"). */
export function keyLabel(tool) {
  return [...tool.keys.map((k) => KEY_NAMES[k] || k), ...(tool.gesture ? [tool.gesture] : [])].join(' ');
}
