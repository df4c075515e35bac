"""`ssc-infra hr serve` over the wire: the real SCIM server on a free loopback port, over TLS
(a throwaway CA made by trustme), writing a copy of the mini inventory whose partners alpha and
beta push their people by SCIM. Each test proves one promise: pushes land in the people file
checked, a bad one leaves it as it was, a token reaches its own partner only, the leaver guard
holds, DELETE keeps the row, two pushes at once both land, a huge body is refused.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
import yaml

from ssc_infra.core.secrets import Secret
from ssc_infra.hr.scim import CORE, ENTERPRISE, PATCH_OP, SSC
from ssc_infra.lifecycle.scim_server import Serving, open_server
from tests.conftest import TODAY

TOKENS = {"alpha": "alpha-" + "a" * 40, "beta": "beta-" + "b" * 40}
SCIM_JSON = {"Content-Type": "application/scim+json"}


@dataclass
class Scim:
    inventory: Path
    state: Path
    url: str
    ca_file: Path
    log: list[str]

    def client(self, partner: str = "alpha") -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.trust(), timeout=10,
                            headers={"Authorization": f"Bearer {TOKENS[partner]}"})

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def people(self, partner: str = "alpha") -> bytes:
        return (self.inventory / "people" / f"{partner}.csv").read_bytes()

    def row(self, employee: str, partner: str = "alpha") -> str:
        lines = self.people(partner).decode("utf-8").splitlines()
        return next(line for line in lines if line.startswith(f"{employee},"))


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    authority = trustme.CA(organization_name="ssc-infra SCIM test")
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


def _scim_partners(inventory: Path) -> None:
    for partner, hr in (("alpha", {"system": "scim", "max_lost": 2}),
                        ("beta", {"system": "scim"})):
        path = inventory / "partners" / f"{partner}.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["hr"] = hr
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


@pytest.fixture
def scim(mini: Path, tmp_path: Path, ca: tuple[trustme.CA, Path]) -> Iterator[Scim]:
    _scim_partners(mini)
    authority, ca_file = ca
    folder = tmp_path / "tls"
    folder.mkdir()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    issued.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    log: list[str] = []
    serving: Serving = open_server(
        mini, tmp_path / "state", "127.0.0.1:0", {c: Secret(t) for c, t in TOKENS.items()},
        cert=folder / "server.pem", key=folder / "server.pem", insecure_loopback=False,
        today=lambda: TODAY, log=log.append).start()
    try:
        yield Scim(mini, tmp_path / "state", serving.url, ca_file, log)
    finally:
        serving.stop()


def _user(employee: str, site: str = "alp-hq", **more: Any) -> dict[str, Any]:
    return {"schemas": [CORE, ENTERPRISE, SSC], "userName": employee,
            "name": {"givenName": "Sjoukje", "familyName": "van der Zijl"}, "title": "Adviseur",
            ENTERPRISE: {"department": "Ruimte"},
            SSC: {"site": site, "workplace": "vdi", "startDate": "2027-01-04"}, **more}


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def test_a_pushed_user_is_created_read_found_and_replaced(scim: Scim) -> None:
    with scim.client() as client:
        made = client.post("/Users", json=_user("1006"), headers=SCIM_JSON)
        assert made.status_code == 201, made.text
        assert made.headers["content-type"] == "application/scim+json"
        assert made.headers["location"] == f"{scim.url}/Users/1006"
        assert made.json()["name"]["familyName"] == "Zijl"
        assert scim.row("1006") == "1006,Sjoukje,van der,Zijl,Ruimte,Adviseur,alp-hq,vdi," \
                                   "2027-01-04,"
        got = client.get("/Users/1006")
        assert got.status_code == 200 and got.headers["etag"] == made.headers["etag"]
        found = client.get("/Users", params={"filter": 'userName eq "1006"'}).json()
        assert (found["totalResults"], found["Resources"][0]["id"]) == (1, "1006")
        assert client.get("/Users", params={"filter": 'externalId eq "nobody"'}).json()[
            "totalResults"] == 0
        page = client.get("/Users", params={"startIndex": 2, "count": 2}).json()
        assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (6, 2, 2)
        assert [u["id"] for u in page["Resources"]] == ["1002", "1003"]
        again = client.post("/Users", json=_user("1006"))
        assert (again.status_code, again.json()["scimType"]) == (409, "uniqueness")
        moved = client.put("/Users/1006", json=_user("1006", site="alp-werf"),
                           headers={"If-Match": got.headers["etag"]})
        assert moved.status_code == 200, moved.text
        assert ",alp-werf," in scim.row("1006")
        stale = client.put("/Users/1006", json=_user("1006"),
                           headers={"If-Match": got.headers["etag"]})
        assert stale.status_code == 412
        assert client.get("/Users/1099").status_code == 404
    assert any("POST /scim/v2/Users partner=alpha status=201" in line for line in scim.log)


def test_active_false_and_delete_give_an_end_date_and_keep_the_row(scim: Scim) -> None:
    with scim.client() as client:
        left = client.patch("/Users/1002", json=_patch(
            {"op": "replace", "path": "active", "value": False}))
        assert left.status_code == 200, left.text
        assert left.json()["active"] is False
        assert scim.row("1002").endswith(",2026-11-23")
        gone = client.delete("/Users/1003")
        assert gone.status_code == 204, gone.text
        assert scim.row("1003").endswith(",2026-11-23")
        assert client.get("/Users/1003").json()["active"] is False
    counts = json.loads((scim.state / "scim-leavers.json").read_text(encoding="utf-8"))
    assert counts == {"day": "2026-11-23", "leavers": {"alpha": 2}}
    assert (scim.state / "scim-leavers.json").stat().st_mode & 0o777 == 0o600
    assert scim.state.stat().st_mode & 0o777 == 0o700


def test_a_push_the_loader_refuses_is_a_400_and_writes_nothing(scim: Scim) -> None:
    before = scim.people()
    with scim.client() as client:
        bad = client.post("/Users", json=_user("1006", site="bet-kantoor"))
        assert (bad.status_code, bad.json()["scimType"]) == (400, "invalidValue")
        assert "user 1006: site 'bet-kantoor' belongs to partner 'beta'" in bad.json()["detail"]
        hostile = client.post("/Users", json=_user("1007", title="Adviseur\u202e"))
        assert hostile.status_code == 400, hostile.text
        control = client.patch("/Users/1002", json=_patch(
            {"op": "replace", "path": "name.givenName", "value": "Jan\u0000"}))
        assert "control characters" in control.json()["detail"]
    assert scim.people() == before


def test_a_token_reaches_its_own_partner_only(scim: Scim) -> None:
    before = scim.people("alpha"), scim.people("beta")
    with scim.client("beta") as beta:
        assert beta.get("/Users/1002").status_code == 404  # alpha's 1002: not beta's to see
        ids = [u["id"] for u in beta.get("/Users").json()["Resources"]]
        assert ids == ["1001", "2002"]
        assert beta.delete("/Users/1003").status_code == 404
        assert beta.patch("/Users/1005", json=_patch(
            {"op": "replace", "path": "title", "value": "x"})).status_code == 404
    for header in ("Bearer wrong-" + "x" * 40, f"Basic {TOKENS['alpha']}",
                   f"Bearer {TOKENS['alpha']}x", f"Bearer {TOKENS['alpha'][:-1]}"):
        with httpx.Client(base_url=scim.url, verify=scim.trust(),
                          headers={"Authorization": header}) as nobody:
            refused = nobody.get("/Users")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert nobody.post("/Users", json=_user("1006")).status_code == 401
    with httpx.Client(base_url=scim.url, verify=scim.trust()) as anonymous:
        assert anonymous.get("/ServiceProviderConfig").status_code == 401
    assert (scim.people("alpha"), scim.people("beta")) == before
    assert not any(t in line for line in scim.log for t in TOKENS.values())
    assert any("partner=- status=401" in line for line in scim.log)


def test_the_leaver_guard_refuses_beyond_the_threshold_and_writes_nothing(scim: Scim) -> None:
    with scim.client() as client:
        assert client.delete("/Users/1001").status_code == 204
        assert client.patch("/Users/1002", json=_patch(
            {"op": "replace", "path": "active", "value": False})).status_code == 200
        before = scim.people()
        leaving = _user("1003", name={"givenName": "Jelle", "familyName": "de Vries"})
        leaving[SSC] = {"site": "alp-werf", "workplace": "thin_client",
                        "startDate": "2018-06-01", "endDate": "2026-11-01"}
        third = client.put("/Users/1003", json=leaving)
        assert (third.status_code, third.json()["scimType"]) == (403, "mutability")
        assert "hr.max_lost" in third.json()["detail"]
        assert "ssc-infra hr serve" in third.json()["detail"]
        assert scim.people() == before
        # Not a leaver: a change of title goes on.
        assert client.patch("/Users/1003", json=_patch(
            {"op": "replace", "path": "title", "value": "Senior adviseur"})).status_code == 200
    assert any("status=403" in line and "leaver guard: leaver 3 of alpha" in line
               for line in scim.log)
    audit = (scim.state / "audit.jsonl").read_text(encoding="utf-8")
    assert '"result": "refused"' in audit and '"key": "alpha/1003"' in audit


def test_the_leaver_count_is_per_day_and_one_that_cannot_be_read_refuses(scim: Scim) -> None:
    counts = scim.state / "scim-leavers.json"
    counts.write_text(json.dumps({"day": "2026-11-22", "leavers": {"alpha": 2}}),
                      encoding="utf-8")
    with scim.client() as client:
        assert client.delete("/Users/1001").status_code == 204  # yesterday's do not count
        counts.write_text("{not json", encoding="utf-8")
        before = scim.people()
        refused = client.delete("/Users/1002")
        assert refused.status_code == 503
        assert str(counts) not in refused.text  # the server's paths are its log's
        assert scim.people() == before
    assert any(str(counts) in line for line in scim.log)


def test_two_pushes_at_once_both_land(scim: Scim) -> None:
    def push(employee: str) -> int:
        with scim.client() as client:
            return client.post("/Users", json=_user(employee)).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(push, ["1006", "1007", "1008", "1009"]))
    assert codes == [201] * 4
    text = scim.people().decode("utf-8")
    assert all(f"\n{e},Sjoukje" in text for e in ("1006", "1007", "1008", "1009"))


def test_a_body_too_large_is_refused_and_the_server_goes_on(scim: Scim) -> None:
    with scim.client() as client:
        huge = client.post("/Users", content=b"{" + b" " * (2 << 20) + b"}",
                           headers=SCIM_JSON)
        assert huge.status_code == 413
        deep = client.post("/Users", content=b"[" * 50_000 + b"]" * 50_000, headers=SCIM_JSON)
        assert (deep.status_code, deep.json()["scimType"]) == (400, "invalidSyntax")
        typed = client.post("/Users", content=b"<user/>", headers={"Content-Type": "text/xml"})
        assert typed.status_code == 415
        chunked = client.post("/Users", content=iter([b"{", b"}"]), headers=SCIM_JSON)
        assert chunked.status_code == 411
        assert client.get("/ServiceProviderConfig").json()["patch"]["supported"] is True
        assert client.get("/ResourceTypes/User").json()["schema"] == CORE
        assert client.get(f"/Schemas/{SSC}").json()["id"] == SSC


def test_plain_http_is_refused_off_loopback_and_tls_is_required(scim: Scim) -> None:
    with pytest.raises(httpx.HTTPError), httpx.Client(timeout=5) as plain:
        plain.get(scim.url.replace("https://", "http://") + "/Users")
    with pytest.raises(Exception, match="--cert and --key"):
        open_server(scim.inventory, scim.state, "0.0.0.0:0", {}, cert=None, key=None,
                    insecure_loopback=False, today=lambda: TODAY, log=print)
    with pytest.raises(Exception, match="loopback address only"):
        open_server(scim.inventory, scim.state, "0.0.0.0:0", {}, cert=None, key=None,
                    insecure_loopback=True, today=lambda: TODAY, log=print)


def test_the_command_prints_its_url_serves_and_stops_on_sigterm(mini: Path,
                                                                tmp_path: Path) -> None:
    _scim_partners(mini)
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"test": {"hr": {"partners": {
        c: {"scim_token_env": f"TEST_SCIM_{c.upper()}"} for c in TOKENS}}}}), encoding="utf-8")
    env = {**os.environ, **{f"TEST_SCIM_{c.upper()}": t for c, t in TOKENS.items()}}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "ssc-infra"), "hr", "serve", "--inventory", str(mini),
         "--targets", str(targets), "--target", "test", "--state-dir", str(tmp_path / "state"),
         "--today", TODAY.isoformat(), "--listen", "127.0.0.1:0", "--insecure-loopback"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("serving SCIM for alpha, beta at http://127.0.0.1:"), first
        url = first.split(" at ", 1)[1].strip()
        answer = httpx.get(f"{url}/Users/1001", headers={
            "Authorization": f"Bearer {TOKENS['alpha']}"}, timeout=10)
        assert answer.json()["name"]["givenName"] == "Wâtse"
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=15)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert "GET /scim/v2/Users/1001 partner=alpha status=200" in err
    assert "Wâtse" not in err and TOKENS["alpha"] not in err
