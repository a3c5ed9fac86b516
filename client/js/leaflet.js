// Leaflet, for every module of the viewer: `import { Map } from '../leaflet.js'`.
// A relative URL rather than the bare name 'leaflet', which would need an import map, an inline script that the
// server's Content-Security-Policy forbids (browsers do not load import maps from files). The server serves the
// xstatic-leaflet package's files at leaflet/, next to client/, under the same (versioned) prefix.
export * from '../../leaflet/leaflet-src.esm.js';
