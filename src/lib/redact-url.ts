/** Query parameters the PostgreSQL driver reads a password from. */
const secretParameters = ['password', 'sslpassword'];

/** The URL with any password (in its user part or its query) replaced by `***`; a value that is no URL is not shown. */
export function redactUrl(value: string): string {
  if (!URL.canParse(value)) return '(not a URL)';
  const url = new URL(value);
  if (url.password) url.password = '***';
  for (const name of [...url.searchParams.keys()]) {
    if (secretParameters.includes(name.toLowerCase())) url.searchParams.set(name, '***');
  }
  return url.toString();
}
