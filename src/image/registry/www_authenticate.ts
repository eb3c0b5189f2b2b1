// Parsing of HTTP `WWW-Authenticate` challenges (RFC 7235) as registries send them:
// `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"`
// and `Basic realm="..."`. Hand-written: the grammar is small and the npm parsers we looked
// at either split on commas inside quoted strings or drop repeated challenges.

export interface Challenge {
  /** Lowercased scheme: "bearer", "basic", ... */
  scheme: string;
  /** Lowercased parameter names to values (quotes and escapes removed). */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/** Every challenge in a header value, in order. Unparseable tails are ignored; a token68
 * credential (`Negotiate abc==`) shows up as a harmless odd parameter. */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let s = header.trim();
  let current: Challenge | undefined;
  while (s.length > 0) {
    s = s.replace(/^[\s,]+/, "");
    const tok = TOKEN.exec(s);
    if (!tok) break;
    const word = tok[0];
    const after = s.slice(word.length);
    const param = /^\s*=\s*/.exec(after);
    if (param && current) {
      s = after.slice(param[0].length);
      let value: string;
      if (s.startsWith('"')) {
        let i = 1;
        value = "";
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        s = s.slice(i + 1);
      } else {
        const bare = /^[^\s,]*/.exec(s)![0];
        value = bare;
        s = s.slice(bare.length);
      }
      current.params[word.toLowerCase()] = value;
    } else {
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
      s = after;
    }
  }
  return out;
}
