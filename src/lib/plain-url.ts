/**
 * An http(s) URL as written, with nothing the URL parser would silently drop or that must not travel in every xAPI
 * statement: no spaces or control characters (the parser strips tabs and newlines), no user name or password.
 */
export function isPlainHttpUrl(value: string): boolean {
  if (/\s/.test(value) || [...value].some((character) => character < ' ' || character === '\u007f') || !URL.canParse(value)) return false;
  const url = new URL(value);
  return ['http:', 'https:'].includes(url.protocol) && url.username === '' && url.password === '';
}
