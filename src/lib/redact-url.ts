/** The URL with any password replaced by `***` (and the whole value when it is not a URL at all). */
export function redactUrl(value: string): string {
  if (!URL.canParse(value)) return '(not a URL)';
  const url = new URL(value);
  if (url.password) url.password = '***';
  return url.toString();
}

