/**
 * Strict query-string parsing. URLSearchParams forgives too much for a fake that should fail where Klaviyo fails:
 * it keeps malformed percent-escapes as they are and silently lets a repeated parameter shadow the first.
 */
import { invalid } from './errors';

export interface ParsedQuery {
  /** decoded name -> decoded value, in the order sent */
  params: Map<string, string>;
}

function decode(text: string, parameter: string | undefined, what: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw invalid(parameter, `The ${what} contains a malformed percent-escape; percent-encode '%' as %25.`);
  }
}

export function parseQuery(raw: string): ParsedQuery {
  const params = new Map<string, string>();
  if (raw === '') return { params };
  for (const segment of raw.split('&')) {
    if (segment === '') continue;
    const eq = segment.indexOf('=');
    const name = decode(eq < 0 ? segment : segment.slice(0, eq), undefined, `query parameter name '${segment.slice(0, 40)}'`);
    const value = decode(eq < 0 ? '' : segment.slice(eq + 1), name, `value of '${name}'`);
    if (params.has(name)) {
      throw invalid(name, `The query parameter '${name}' was sent more than once; send it once (combine filter conditions with and(...)).`);
    }
    params.set(name, value);
  }
  return { params };
}
