/** Files the viewer hands to the user: a Blob saved under a name, CSV text, and the parts of file names. */

/** Save a Blob as a download called `name`. */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later rather than at once: the browser reads the Blob after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

/** The image's file name without folders, selector or extension, safe in a file name ("sub/m31.fits[1]" -> "m31"). */
export function fileStem(image) {
  const name = image.split('/').pop().replace(/\[.*\]$/, '');
  const stem = name.replace(/(\.[a-z]{2,4})?(\.(gz|bz2|fz))?$/i, '');
  return stem.replace(/[^\w.+-]+/g, '-') || 'image';
}

/** UTC time in ISO 8601's basic format, for file names: 20240501T123005Z. */
export function timestamp(date = new Date()) {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

function csvCell(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '';
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV text of a header row and data rows (null and NaN as empty cells). */
export function csvText(header, rows) {
  return [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}

/** Save rows as a CSV file. */
export function saveCsv(name, header, rows) {
  saveBlob(new Blob([csvText(header, rows)], { type: 'text/csv' }), name);
}
