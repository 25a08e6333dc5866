"""Mixed traffic for the load test (`make load`): webhook storms, uploads, auditors, pack requests.

Run by bench/load/driver.py (headless, loopback only, bounded users and --run-time); it reads
the credentials and ids the driver seeded from the JSON file named by LOAD_FIXTURE.

The portal runs with the production profile behind a pretend TLS-terminating proxy
(PORTAL_BEHIND_PROXY=true): every request carries `X-Forwarded-Proto: https`, and the client
sends the portal's Secure cookies over the plain loopback hop (what the proxy would do) and a
same-origin https Referer on form and API POSTs, as Django's CSRF check wants under HTTPS.

Every request is named by its type ("webhook github", "page search", …) so locust's statistics
give latency percentiles per type. Any status other than the expected one is a failure.
"""

from __future__ import annotations

import hashlib
import hmac
import http.cookiejar
import json
import os
import random
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from locust import HttpUser, between, constant_pacing, events, task

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "ingest" / "parsers" / "data"
FIXTURE = json.loads(Path(os.environ["LOAD_FIXTURE"]).read_text())
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"}

GITHUB_EVENTS = {
    "workflow_run": json.loads((DATA / "github" / "workflow_run.completed.json").read_text()),
    "check_run": json.loads((DATA / "github" / "check_run.completed.json").read_text()),
    "deployment_status": json.loads((DATA / "github" / "deployment_status.created.json").read_text()),
    "release": json.loads((DATA / "github" / "release.published.json").read_text()),
}
JUNIT = (DATA / "junit_pytest.xml").read_text()
SARIF = json.loads((DATA / "ruff_check.sarif").read_text())
CYCLONEDX = json.loads((DATA / "cyclonedx_py_env.cdx.json").read_text())
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# Receipt ids of every 202 this process saw, written at the end for the driver's reconciliation.
ACCEPTED: dict[str, list[str]] = {"github": [], "upload": []}


@events.test_stop.add_listener
def _write_accepted(**kwargs):
    out = os.environ.get("LOAD_ACCEPTED_OUT")
    if out:
        Path(out).write_text(json.dumps(ACCEPTED))


# The client stands in for the TLS-terminating proxy: it sends the portal's Secure cookies over the
# plain loopback hop. (requests copies the session's cookies into a fresh jar with the default policy
# for every request, so a policy set on the session's jar would not apply: patch the default policy,
# in this load-generating process only.)
http.cookiejar.DefaultCookiePolicy.return_ok_secure = lambda self, cookie, request: True


def _sha() -> str:
    return f"{random.getrandbits(160):040x}"


def _check(response, expected: tuple[int, ...], what: str) -> None:
    if response.status_code not in expected:
        response.failure(f"{what}: HTTP {response.status_code}: {response.text[:200]}")
    else:
        response.success()


class WebhookStorm(HttpUser):
    """A CI system firing GitHub deliveries: fresh delivery ids, and now and then a replay."""

    weight = 3
    wait_time = between(0.05, 0.4)

    def on_start(self):
        self.sent: list[tuple] = []  # (source, event, delivery id, body, receipt id): for replays

    @task(10)
    def delivery(self):
        event = random.choice(list(GITHUB_EVENTS))
        doc = json.loads(json.dumps(GITHUB_EVENTS[event]))
        repo = random.choice(FIXTURE["repos"])
        doc["repository"]["full_name"] = repo
        doc["repository"]["name"] = repo.split("/")[-1]
        doc["repository"]["html_url"] = f"https://github.com/{repo}"
        if event == "workflow_run":
            doc["workflow_run"].update(id=random.randrange(10**9), head_sha=_sha(), run_number=random.randrange(10**5))
        elif event == "check_run":
            doc["check_run"].update(id=random.randrange(10**9), head_sha=_sha())
        elif event == "deployment_status":
            doc["deployment"].update(id=random.randrange(10**9), sha=_sha())
            doc["deployment_status"]["id"] = random.randrange(10**9)
        else:
            tag = f"v{random.randrange(100)}.{random.randrange(100)}.0"
            doc["release"].update(id=random.randrange(10**9), tag_name=tag)
        body = json.dumps(doc).encode()
        source = random.choice(FIXTURE["github_sources"])
        delivery = str(uuid.uuid4())
        signature = "sha256=" + hmac.new(source["secret"].encode(), body, hashlib.sha256).hexdigest()
        with self.client.post(
            f"/api/v1/ingest/github?source={source['id']}",
            data=body,
            headers={
                **PROXY_HEADERS,
                "Content-Type": "application/json",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": signature,
                "User-Agent": "GitHub-Hookshot/load",
            },
            name="webhook github",
            catch_response=True,
        ) as response:
            _check(response, (202,), "webhook github")
            if response.status_code == 202:
                receipt = response.json()["receipt"]
                ACCEPTED["github"].append(receipt)
                self.sent.append((source, event, delivery, body, receipt))
                del self.sent[:-50]

    @task(1)
    def replay(self):
        if not self.sent:
            return
        source, event, delivery, body, receipt = random.choice(self.sent)
        signature = "sha256=" + hmac.new(source["secret"].encode(), body, hashlib.sha256).hexdigest()
        with self.client.post(
            f"/api/v1/ingest/github?source={source['id']}",
            data=body,
            headers={
                **PROXY_HEADERS,
                "Content-Type": "application/json",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": signature,
            },
            name="webhook github (replay)",
            catch_response=True,
        ) as response:
            # A replay answers the original receipt, 200 and "duplicate": true.
            answer = response.json() if response.status_code == 200 else {}
            if answer.get("duplicate") is True and answer.get("receipt") == receipt:
                response.success()
            else:
                response.failure(f"replay: HTTP {response.status_code}: {response.text[:200]}")


class Uploader(HttpUser):
    """CI steps uploading JUnit, SARIF and CycloneDX files with a source token."""

    weight = 2
    wait_time = between(0.2, 1.0)

    def _upload(self, kind: str, filename: str, content: bytes, content_type: str, subject: str):
        source = random.choice(FIXTURE["upload_sources"])
        with self.client.post(
            "/api/v1/evidence",
            files={"file": (filename, content, content_type)},
            data={"subject": subject},
            headers={
                **PROXY_HEADERS,
                "Authorization": f"Bearer {source['token']}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
            name=f"upload {kind}",
            catch_response=True,
        ) as response:
            _check(response, (202,), f"upload {kind}")
            if response.status_code != 202:
                return
            receipt = response.json()["receipt"]
            ACCEPTED["upload"].append(receipt)
            if random.random() < 0.2:
                with self.client.get(
                    f"/api/v1/receipts/{receipt}",
                    headers={**PROXY_HEADERS, "Authorization": f"Bearer {source['token']}"},
                    name="receipt status",
                    catch_response=True,
                ) as status:
                    _check(status, (200,), "receipt status")

    def _commit(self) -> str:
        return f"git+https://github.com/{random.choice(FIXTURE['repos'])}@{_sha()}"

    @task(3)
    def junit(self):
        now = datetime.now(UTC).isoformat()
        body = JUNIT.replace('timestamp="2026-11-22T00:26:02.796263+00:00"', f'timestamp="{now}"').replace(
            'name="test_addition"', f'name="test_addition_{random.randrange(10**6)}"'
        )
        self._upload("junit", "report.xml", body.encode(), "application/xml", self._commit())

    @task(2)
    def sarif(self):
        doc = json.loads(json.dumps(SARIF))
        doc["runs"][0]["automationDetails"] = {"id": f"load/{uuid.uuid4()}"}
        self._upload("sarif", "scan.sarif", json.dumps(doc).encode(), "application/sarif+json", self._commit())

    @task(1)
    def cyclonedx(self):
        doc = json.loads(json.dumps(CYCLONEDX))
        doc["serialNumber"] = f"urn:uuid:{uuid.uuid4()}"
        subject = f"oci://registry.example.org/acme/app@sha256:{hashlib.sha256(uuid.uuid4().bytes).hexdigest()}"
        self._upload("cyclonedx", "sbom.cdx.json", json.dumps(doc).encode(), "application/vnd.cyclonedx+json", subject)


class _SignedIn(HttpUser):
    abstract = True

    def on_start(self):
        self.referer = f"https://{self.host.split('://', 1)[1]}"
        self.user = random.choice(FIXTURE["auditors"])
        page = self.client.get("/accounts/login/", headers=PROXY_HEADERS, name="login")
        token = CSRF_INPUT.search(page.text).group(1)
        with self.client.post(
            "/accounts/login/",
            data={"username": self.user["username"], "password": self.user["password"], "csrfmiddlewaretoken": token},
            headers={**PROXY_HEADERS, "Referer": f"{self.referer}/accounts/login/"},
            name="login",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            _check(response, (302,), "login")

    def page(self, path: str, name: str, expected=(200,)):
        # No redirects followed: a page that sends the auditor to the login form is a failure.
        with self.client.get(path, headers=PROXY_HEADERS, name=name, catch_response=True,
                             allow_redirects=False) as response:
            _check(response, expected, name)
            return response


class Auditor(_SignedIn):
    """An auditor of the load engagement browsing and searching its systems' evidence."""

    weight = 4
    wait_time = between(0.5, 2.0)

    @task(2)
    def overview(self):
        self.page("/", "page overview")

    @task(2)
    def systems(self):
        self.page("/systems/", "page systems")
        self.page(f"/systems/{random.choice(FIXTURE['systems'])}/", "page system detail")

    @task(4)
    def evidence(self):
        system = random.choice(FIXTURE["systems"])
        query = random.choice(["", f"?system={system}", "?verdict=fail", "?kind=test-report"])
        self.page(f"/evidence/{query}", "page evidence list")
        if FIXTURE["evidence"]:
            self.page(f"/evidence/{random.choice(FIXTURE['evidence'])}/", "page evidence detail")

    @task(3)
    def search(self):
        self.page(f"/search/?q={random.choice(FIXTURE['search_terms'])}", "page search")

    @task(2)
    def lineage(self):
        if FIXTURE["artifacts"]:
            artifact = random.choice(FIXTURE["artifacts"])
            self.page(f"/evidence/artifacts/{artifact}/", "page artifact")
            self.page(f"/evidence/artifacts/{artifact}/lineage/", "page lineage")


class PackRequester(_SignedIn):
    """An auditor asking for a system's evidence pack now and then (LOAD_PACK_INTERVAL s), and its state."""

    weight = 1
    fixed_count = 1
    wait_time = constant_pacing(float(os.environ.get("LOAD_PACK_INTERVAL", "30")))

    @task
    def request_pack(self):
        csrf = self.client.cookies.get("csrftoken") or self._csrf()
        with self.client.post(
            "/api/v1/packs",
            json={"kind": "system", "system": random.choice(FIXTURE["pack_systems"]),
                  "start": FIXTURE["pack_period"][0], "end": FIXTURE["pack_period"][1]},
            headers={**PROXY_HEADERS, "X-CSRFToken": csrf, "Referer": f"{self.referer}/packs/"},
            name="pack request",
            catch_response=True,
        ) as response:
            _check(response, (202,), "pack request")
            if response.status_code != 202:
                return
            pack = response.json()["id"]
        with self.client.get(f"/api/v1/packs/{pack}", headers=PROXY_HEADERS, name="pack status",
                             catch_response=True) as response:
            _check(response, (200,), "pack status")
        self.page("/packs/", "page packs")

    def _csrf(self) -> str:
        self.page("/packs/", "page packs")
        return self.client.cookies.get("csrftoken", "")
