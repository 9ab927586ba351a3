/** The n-th (0-based) piece of `text` split on `sep`, without allocating the split array. */
export function piece(text: string, sep: string, n: number): string {
  if (sep === '') return n === 0 ? text : '';
  let start = 0;
  for (let i = 0; i < n; i++) {
    const at = text.indexOf(sep, start);
    if (at < 0) return '';
    start = at + 1;
  }
  const end = text.indexOf(sep, start);
  return end < 0 ? text.slice(start) : text.slice(start, end);
}

/** `text` with its n-th piece replaced, padding with empty pieces as needed. */
export function setPiece(text: string, sep: string, n: number, value: string): string {
  if (sep === '') return n === 0 ? value : text;
  const parts = text === '' ? [''] : text.split(sep);
  while (parts.length <= n) parts.push('');
  parts[n] = value;
  return parts.join(sep);
}
