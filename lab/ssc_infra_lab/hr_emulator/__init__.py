"""An EMULATOR of two HR systems' APIs for the lab and the tests: never a production target.

No partner's HR system is reachable from where this project is built and tested, so this
package stands in for two: a real HTTPS server (the lab's `emulator_server`, a throwaway CA
made by trustme) on a loopback port, holding any number of AFAS Profit environments and Visma
Raet tenants (*sources*, each named by its environment number or tenant id) in memory.

AFAS Profit, GetConnector over REST (production: `https://{environment}.rest.afas.online`;
here `https://127.0.0.1:PORT/{environment}`):

- `GET {base}/ProfitRestServices/connectors/{connector}?skip=N&take=M` with
  `Authorization: AfasToken <base64 of <token><version>1</version><data>HEX</data></token>>`;
  each environment has its own token. Answer: `{"skip": N, "take": M, "rows": [...]}`.
  Without skip/take: skip 0, take 100; take -1: every row.
- `filterfieldids`, `filtervalues`, `operatortypes`: parallel lists, `,` joining conditions
  that must all hold, `;` alternative groups. Operators: 1 equal, 2 greater or equal, 3 less
  or equal, 4 greater, 5 less, 6 contains, 7 not equal, 8 empty, 9 not empty, 10 starts with.
  A row's date ("2024-01-01T00:00:00Z") compares with a filter's ("2027-03-07" or
  "2027-03-07T00:00:00") as a date, a number as a number, text without regard to case.
  `orderbyfieldids=A,-B` orders (`-` descending; empty values first, as SQL Server's NULL);
  else rows come in the order they were set.
- Errors as `{"externalMessage": "..."}`: 401 missing or wrong token, 404 unknown
  environment or connector, 400 an unknown field or parameter or a malformed filter.

The connector the SSC asks each partner to create (id `ssc_medewerkers` unless the partner
file says otherwise), on the Medewerkers/Dienstverbanden view, one row per employment
contract (a person with two contracts has two rows):

    Medewerker           the employee number (text)
    Roepnaam             the name they go by
    Voorvoegsel          the surname's prefix ("van der"), or null
    Achternaam           the surname
    Afdeling             the department's description
    Functie              the job title's description
    Locatie              a free field: the site code
    Werkplek             a free field: laptop | vdi | thin_client
    Begindatum_contract  the contract's start
    Einddatum_contract   its end, null when it has none

A private address, birth date or private mail address is deliberately not in it (the SSC
never asks for them); a row given to the emulator may still hold them, or any other field,
to see that the tool drops them.

Visma Raet / YouForce IAM API (production: `https://api.youforce.com`; here
`https://127.0.0.1:PORT`):

- `POST /connect/token` with the form `grant_type=client_credentials&client_id=..&
  client_secret=..&tenant_id=..` -> `{"access_token", "token_type": "Bearer",
  "expires_in": 3600}`; a wrong client, secret or tenant: 401 `{"error": "invalid_client"}`.
- `GET /iam/v1.0/persons`, `/iam/v1.0/employments`, `/iam/v1.0/organizationUnits`,
  `/iam/v1.0/jobProfiles`, `/extensions/v1.0/iam/employments` with `Authorization: Bearer`
  (the token says the tenant; a bad or expired one: 401), paged by `?take=N&skip=M` (take
  100 when not given, at most 1000): `{"value": [...], "nextLink": "<the next page's URL>"}`,
  no nextLink on the last page. Persons hold private fields (privateEmailAddress,
  dateOfBirth) as the real API does: the tool must never read them.

Seeding (`seeding`): `afas_rows(people)` and `raet_tenant(people)` make each system's data
from the inventory's people rows, deterministically.

Levers (`Levers`, per source): auth_failure, busy (429 or 503 with Retry-After), a page cut
off mid-JSON, a slow page, a 500 from a page on, lost people, a page size cap. In another
process the same state and levers are reached over HTTPS under `/_emulator/` (the control
secret as bearer) with `HrControl`; the lab starts that process with `ssc_infra_lab.hr`.

Where it is simpler than the real systems:

- AFAS: one GetConnector per environment, no UpdateConnectors, no `options` parameter, no
  metainfo; a value cannot hold `,` or `;`; a row that is empty in a field answers `equal ""`
  and `not equal X`; real AFAS may not cap `take` (the page_cap lever does).
- Raet: no filters, no `x-raet-tenant-id` header, no rate limits but the levers' busy
  answers; tokens are opaque strings; every list is served whole from memory.
- Nothing is kept when the emulator stops; changes are visible at once, one answer at a time.
"""

from __future__ import annotations

from ssc_infra_lab.hr_emulator.afas import CONNECTOR_FIELDS, DEFAULT_CONNECTOR
from ssc_infra_lab.hr_emulator.cli import main
from ssc_infra_lab.hr_emulator.control import HrControl
from ssc_infra_lab.hr_emulator.levers import Levers
from ssc_infra_lab.hr_emulator.seeding import RaetData, afas_rows, afas_token, raet_tenant
from ssc_infra_lab.hr_emulator.server import HrEmulator
from ssc_infra_lab.hr_emulator.state import AFAS, RAET

__all__ = ["AFAS", "CONNECTOR_FIELDS", "DEFAULT_CONNECTOR", "RAET", "HrControl", "HrEmulator",
           "Levers", "RaetData", "afas_rows", "afas_token", "main", "raet_tenant"]
