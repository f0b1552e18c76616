/**
 * Bearer-token authentication for `/v1` routes. The token's hash is looked up in the store; the
 * request gets a `principal`. Routes declare the action they need with `authorize(action)`.
 */

import type { FastifyReply, FastifyRequest } from "fastify";
import { canSeeRun, may, type Action, type Principal } from "../../core/access.ts";
import { GantryError } from "../../core/errors.ts";
import type { Run } from "../../core/workload.ts";
import type { Store } from "../../store/store.ts";
import { hashToken, looksLikeToken } from "../tokens.ts";
import { isUuid } from "./schemas.ts";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== "string") return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/** A preHandler that authenticates the caller and checks it may perform `action`. */
export function authorize(store: Store, action: Action) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const token = bearerToken(request);
    if (token === null || !looksLikeToken(token, "api")) throw new GantryError("GANTRY_ERR_UNAUTHENTICATED");
    const found = await store.findApiTokenByHash(hashToken(token));
    if (found === null) throw new GantryError("GANTRY_ERR_UNAUTHENTICATED");
    const principal: Principal = { tokenId: found.id, role: found.role, owner: found.owner };
    if (!may(principal, action)) throw new GantryError("GANTRY_ERR_FORBIDDEN", [principal.role, action]);
    request.principal = principal;
  };
}

export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw new GantryError("GANTRY_ERR_UNAUTHENTICATED");
  return request.principal;
}

/** The run, if it exists and the caller may see it; 404 otherwise (never reveal others' runs). */
export async function visibleRun(store: Store, request: FastifyRequest, id: string): Promise<Run> {
  if (!isUuid(id)) throw new GantryError("GANTRY_ERR_INVALID_ID", [JSON.stringify(id.slice(0, 64))]);
  const run = await store.getRun(id);
  if (run === null || !canSeeRun(principalOf(request), run)) {
    throw new GantryError("GANTRY_ERR_NOT_FOUND", [`run ${id}`]);
  }
  return run;
}
