/** Query parameters the PostgreSQL driver reads a password from. */
const secretParameters = ['password', 'sslpassword'];

/**
 * The URL with any password (in its user part or its query) replaced by `***`, and no fragment; a value that is no
 * URL is not shown. The user part is cut by hand before parsing: a password with an unencoded `#`, `/` or `?` would
 * otherwise be parsed as the fragment, path or query and printed.
 */
export function redactUrl(value: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value)?.[0];
  if (scheme === undefined) return '(not a URL)';
  let text = value;
  // Host names never hold an `@`: everything before the last one is the user part.
  const at = value.lastIndexOf('@');
  if (at > scheme.length) {
    const userInfo = value.slice(scheme.length, at);
    const colon = userInfo.indexOf(':');
    text = `${scheme}${colon === -1 ? userInfo : `${userInfo.slice(0, colon)}:***`}${value.slice(at)}`;
  }
  if (!URL.canParse(text)) return '(not a URL)';
  const url = new URL(text);
  url.hash = '';
  for (const name of [...url.searchParams.keys()]) {
    if (secretParameters.includes(name.toLowerCase())) url.searchParams.set(name, '***');
  }
  return url.toString();
}
