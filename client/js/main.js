/** Entry point of the viewer page. */
import { Viewer } from './Viewer.js';

const config = JSON.parse(document.getElementById('tileserver-config').textContent);
const viewer = new Viewer(document.getElementById('map'), config);
viewer.open(config.image).catch((err) => viewer.showError(err.message));
window.tileserverViewer = viewer; // handle for browser tests and the console
