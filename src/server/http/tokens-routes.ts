/** `/v1/tokens`: API tokens, admin only. A new token's secret is shown once, in the create answer. */

import type { FastifyInstance } from "fastify";
import type { Role } from "../../core/access.ts";
import { GantryError } from "../../core/errors.ts";
import type { ApiToken, Store } from "../../store/store.ts";
import { generateToken, hashToken } from "../tokens.ts";
import { authorize } from "./auth.ts";
import { createTokenBody, isUuid, uuidParam } from "./schemas.ts";

export function tokenView(t: ApiToken): Record<string, unknown> {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    owner: t.owner,
    createdAt: t.createdAt.toISOString(),
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
  };
}

export async function tokensRoutes(app: FastifyInstance, options: { store: Store }): Promise<void> {
  const { store } = options;
  const admin = authorize(store, "tokens:manage");

  app.post<{ Body: { name: string; role: Role; owner?: string } }>(
    "/v1/tokens",
    {
      schema: { body: createTokenBody, summary: "Create an API token", tags: ["tokens"] },
      preHandler: admin,
    },
    async (request, reply) => {
      const { name, role } = request.body;
      const secret = generateToken("api");
      const token = await store.createApiToken({
        name,
        role,
        owner: request.body.owner ?? name,
        tokenHash: hashToken(secret),
      });
      return reply.status(201).send({ ...tokenView(token), token: secret });
    },
  );

  app.get(
    "/v1/tokens",
    { schema: { summary: "List API tokens (without secrets)", tags: ["tokens"] }, preHandler: admin },
    async () => ({ tokens: (await store.listApiTokens()).map(tokenView) }),
  );

  app.delete<{ Params: { id: string } }>(
    "/v1/tokens/:id",
    { schema: { params: uuidParam, summary: "Revoke an API token", tags: ["tokens"] }, preHandler: admin },
    async (request) => {
      const id = request.params.id;
      if (!isUuid(id)) throw new GantryError("GANTRY_ERR_INVALID_ID", [JSON.stringify(id.slice(0, 64))]);
      if (!(await store.revokeApiToken(id))) throw new GantryError("GANTRY_ERR_NOT_FOUND", [`token ${id}`]);
      return { ok: true, id };
    },
  );
}
