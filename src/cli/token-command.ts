/** `gantry token create|list|revoke`: manage API tokens (admin). */

import type { Command } from "./main.ts";
import { parseCommandArgs, runClientCommand, table, UsageError, writeJson } from "./command-kit.ts";

const HELP = `usage: gantry token create --name NAME --role admin|submitter|viewer [--owner OWNER] [--json]
       gantry token list [--json]
       gantry token revoke ID

A token's secret is printed once, when it is created. A submitter token acts as OWNER (default:
NAME) and sees only that owner's runs.
`;

interface TokenView {
  id: string;
  name: string;
  role: string;
  owner: string;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
  token?: string;
}

export const tokenCommand: Command = async (argv, io) =>
  runClientCommand(io, HELP, async (client) => {
    const { values, positionals } = parseCommandArgs(argv, {
      name: { type: "string" },
      role: { type: "string" },
      owner: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const [action, id, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    switch (action) {
      case "create": {
        if (values.name === undefined || values.role === undefined)
          throw new UsageError("create needs --name and --role");
        const created = await client.request<TokenView>("POST", "/v1/tokens", {
          name: values.name,
          role: values.role,
          ...(values.owner === undefined ? {} : { owner: values.owner }),
        });
        if (values.json) writeJson(io, created);
        else io.stdout.write(`${created.token ?? ""}\n`);
        io.stderr.write(
          `token ${created.id} (${created.role}, owner ${created.owner}); the secret above is shown only once\n`,
        );
        return 0;
      }
      case "list": {
        const { tokens } = await client.request<{ tokens: TokenView[] }>("GET", "/v1/tokens");
        if (values.json) writeJson(io, tokens);
        else {
          const rows = [["ID", "NAME", "ROLE", "OWNER", "CREATED", "REVOKED"]];
          for (const t of tokens) rows.push([t.id, t.name, t.role, t.owner, t.createdAt, t.revokedAt ?? ""]);
          io.stdout.write(table(rows));
        }
        return 0;
      }
      case "revoke": {
        if (id === undefined) throw new UsageError("revoke needs the token id (see gantry token list)");
        await client.request("DELETE", `/v1/tokens/${encodeURIComponent(id)}`);
        io.stdout.write(`revoked ${id}\n`);
        return 0;
      }
      default:
        throw new UsageError(
          action === undefined ? "give an action: create, list or revoke" : `unknown action '${action}'`,
        );
    }
  });
