"""A stateful Microsoft Graph EMULATOR for the lab and the tests: never a production target.

No Microsoft 365 tenant is reachable from where this project is built and tested, so this
package stands in for one: a real HTTPS server (stdlib `http.server` + `ssl`, a throwaway CA
made by trustme) on a loopback port, holding any number of tenants in memory and in
`state.json`. One multi-tenant app registration (client id + secret) signs in to all of them.

What it emulates:

- The identity platform's client-credentials flow as MSAL uses it:
  `GET {login_url}/{tenant}/v2.0/.well-known/openid-configuration` and
  `POST {login_url}/{tenant}/oauth2/v2.0/token` (client secret, or a certificate's
  `client_assertion`), with AADSTS errors (7000215 wrong secret, 700016 unknown app, 90002
  unknown tenant, 1002012/500011 bad scope). A tenant is named by its id or one of its domains.
  Graph requests without a valid token answer 401 InvalidAuthenticationToken.
- Graph v1.0 users: list ($select, $top up to 999, $filter, paging by `@odata.nextLink` with
  a `$skiptoken`), get by id or userPrincipalName, create, update (204), delete (soft:
  `@removed` reason "changed"; `DELETE /directory/deletedItems/{id}` purges: "deleted"),
  `assignLicense`, `memberOf`; Graph's default property set without $select (accountEnabled,
  employeeId, licences... only with $select); passwordProfile is never returned.
- Groups: list, get, create, update, delete, `members` (paged, $select), `members/$ref` add
  and remove, `assignLicense` (group-based licensing), `subscribedSkus`, `domains`,
  `organization`.
- Licences: seats counted in consumedUnits; assignLicense refuses a user without
  usageLocation, a SKU without a free seat (naming the SKU, detail CountViolation), mutually
  exclusive SKUs, and removing a licence inherited from a group; group-based licences show on
  members as licenseAssignmentStates (assignedByGroup, Active, or Error with CountViolation or
  MutuallyExclusiveViolation), recomputed when members, group licences or seats change.
- Delta: `/users/delta` and `/groups/delta` (with `members@delta`), nextLink pages then a
  deltaLink; a deltaLink returns only what changed since, removed objects as `@removed`;
  `expire_deltas` makes every token issued so far answer 410 `syncStateNotFound`.
- `$batch`: at most 20 requests (more: 400 for the whole batch), answers in a shuffled order
  (never the request order), `dependsOn` (a failed dependency gives 424), per-sub-request
  throttling and faults with their own Retry-After header; a sub-request so answered is not
  executed.
- Throttling: `write_limit` writes per `write_window` seconds per tenant (sliding window; a
  sub-request of a batch is a write of its own) answer 429 with Retry-After, not executed.
  Injected faults (`Fault`): throttle (429), unavailable (503), drop (no answer; `executed`
  chooses whether the request ran first).
- Entra Connect (`sync_hybrid`): upserts synced users (hard match on onPremisesImmutableId,
  soft match on userPrincipalName) and groups (onPremisesSecurityIdentifier), with
  onPremisesSyncEnabled=true; Graph writes to mastered properties of synced objects answer 400
  as Graph does (usageLocation and licences stay writable).
- Sign-ins: `signInActivity` (only with `$select`, as in Graph, where it also needs
  AuditLog.Read.All) says when `sign_in(tenant, upn, when)` last said the user signed in.
- Test levers: `writes(tenant)` lists every write applied (2xx), as (method, request path),
  a batch's sub-requests each on their own; `requests` and `throttled` count. In another
  process the same levers are reached over HTTPS under `/_emulator/` (the client secret as
  bearer) with `EmulatorControl`.
- Errors in Graph's shape: `{"error": {"code", "message", "innerError": {"date",
  "request-id", "client-request-id"}}}`; unknown id 404 Request_ResourceNotFound, bad JSON 400
  BadRequest, unknown path 404, wrong method 405.

Where it is simpler than the real service (also in the README):

- No permission model: any token of the app may do anything in its tenant (no roles or
  scopes checked); tokens are HS256 JWTs from the emulator, not Entra's RS256 ones.
- A certificate's client_assertion is checked for its structure (header naming a
  certificate, iss = sub = client id, a token-endpoint audience, exp in the future), not its
  signature.
- Only client credentials: no delegated flows, no `/me`, no instance discovery (give MSAL
  `instance_discovery=False`).
- $filter knows only `eq`, `in`, `startswith`, `and`, `or` and parentheses, on the properties
  Graph supports without advanced queries; `ne`, `not`, `any()`, `$count`, `$search`,
  `$orderby` and `$expand` are refused with 400 naming the emulator, as is
  ConsistencyLevel-only syntax. Strings compare without regard to case.
- Changes are visible at once (Graph is eventually consistent: a created user may 404 for a
  few seconds); everything runs under one lock, one request at a time.
- Delta rounds page objects only; `members@delta` of a group comes whole on one page; delta
  does not accept $filter; a changed object comes back with all its selected properties.
- Licences have no service plans (disabledPlans are stored, not interpreted; servicePlans is
  empty); mutual exclusion is between whole SKUs as `Sku.exclusive_with` says; an Active
  group licence keeps its seat when seats drop below consumption; a user without
  usageLocation still gets group licences; mail is not set by an Exchange licence.
- proxyAddresses is read-only through Graph (as for users in Graph); setting `mail` makes it
  the primary SMTP address; uniqueness is checked for userPrincipalName and SMTP addresses
  only.
- Only security groups and Microsoft 365 (Unified) groups can be created; no dynamic
  membership, no owners, no `members@odata.bind`; group-based licensing ignores nested groups
  (as Entra does).
- Throttling is one sliding window of writes per tenant; reads are never throttled except by
  injected faults. Retry-After of injected faults may be a fraction of a second (so tests stay
  fast); real Graph sends whole seconds.
- $batch runs sub-requests one after another in request order (dependencies first) and
  accepts only JSON bodies; it checks that a write's body and Content-Type come together.
- Login and control requests are not throttled and take no faults; `requests` counts Graph
  requests (under /v1.0) only.
- state.json keeps tenants, users, groups, licences and the delta log; it does not keep
  writes(), faults, the throttling window or counters. It is written at most every 0.2 s and
  on stop(), so a killed process may lose the last writes.
"""

from __future__ import annotations

from ssc_infra_lab.graph_emulator.cli import main
from ssc_infra_lab.graph_emulator.control import EmulatorControl
from ssc_infra_lab.graph_emulator.model import DEFAULT_SKUS, Fault, GraphError, Sku
from ssc_infra_lab.graph_emulator.server import GraphEmulator

__all__ = ["DEFAULT_SKUS", "EmulatorControl", "Fault", "GraphEmulator", "GraphError", "Sku",
           "main"]
