/** Entry point of the viewer page: the configuration from the page, the view from the URL. */
import { Viewer } from './core/Viewer.js';
import { ViewLink } from './core/ViewLink.js';

const config = JSON.parse(document.getElementById('tileserver-config').textContent);
const viewer = new Viewer(document.getElementById('app'), config);
const link = ViewLink.fromSearch(window.location.search, config.image);
viewer.open(link.image, link);
window.tileserverViewer = viewer; // a handle for browser tests and the console
