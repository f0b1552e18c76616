/**
 * Bearer tokens. API tokens (`gty_…`) and per-run tokens (`gtr_…`) are 32 random bytes; only their
 * SHA-256 is stored, so a leaked database does not leak working tokens.
 */

import { createHash, randomBytes } from "node:crypto";

export type TokenKind = "api" | "run";

const PREFIX: Record<TokenKind, string> = { api: "gty_", run: "gtr_" };

export function generateToken(kind: TokenKind): string {
  return PREFIX[kind] + randomBytes(32).toString("base64url");
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Plausible token shape; anything else is refused before touching the store. */
export function looksLikeToken(value: string, kind: TokenKind): boolean {
  return value.length <= 200 && value.startsWith(PREFIX[kind]) && /^[A-Za-z0-9_-]+$/.test(value);
}
