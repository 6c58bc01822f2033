/**
 * A Klaviyo account's name where the key must not go: a SHA-256 prefix of base URL origin and API key. Klaviyo
 * counts a rate budget per account, and one private key is one account, so every worker holding the same key at the
 * same origin arrives at the same name (the rate budget workflow's id) without the key ever leaving the worker.
 */
import { createHash } from 'node:crypto';

export function accountKey(baseUrl: string, apiKey: string): string {
  return createHash('sha256')
    .update(`${new URL(baseUrl).origin}\u0000${apiKey}`)
    .digest('hex')
    .slice(0, 20);
}
