// Credentials in URLs (`smtp://user:pass@host`, `https://user:pass@cdn`) are replaced by `***`
// wherever a worker logs or returns a URL or a message that may quote one.

/** `scheme://user:pass@` (or `scheme://user@`) anywhere in a text. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi;

/** `text` with the user and password of every URL in it replaced: `https://***@cdn.example/`. */
export function redactUrls(text: string): string {
  return text.replace(USERINFO, '$1***@');
}
