/**
 * The ways a receiver's answer may quote a secret it was sent, written independently of
 * relay/audit/secret-pattern.ts (the code under test) with the platform's own encoders where
 * there is one: raw, JSON-escaped (as JSON.stringify, and ASCII-only as Python's json.dumps),
 * URL-encoded (upper and lower hex, form encoding with `+`), HTML-escaped (named, decimal, hex).
 */
export function escapedEchoes(secret: string): Record<string, string> {
  const json = JSON.stringify(secret).slice(1, -1);
  const asciiJson = json.replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  const url = encodeURIComponent(secret);
  const html = secret
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
  const htmlAll = (radix: 10 | 16) =>
    [...secret]
      .map((c) => {
        const n = c.codePointAt(0) ?? 0;
        return /[A-Za-z0-9]/.test(c) ? c : radix === 10 ? `&#${n};` : `&#x${n.toString(16).toUpperCase()};`;
      })
      .join("");
  return {
    raw: secret,
    json,
    asciiJson,
    jsonSlash: json.replace(/\//g, "\\/"),
    url,
    urlLowerHex: url.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()),
    form: new URLSearchParams({ t: secret }).toString().slice(2),
    html,
    htmlDecimal: htmlAll(10),
    htmlHex: htmlAll(16),
    jsonOfUrl: JSON.stringify(url).slice(1, -1),
  };
}
