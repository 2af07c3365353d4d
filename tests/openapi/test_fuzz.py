"""Property-based fuzzing of the whole OpenAPI document with schemathesis, against one
running member (auth disabled): no 5xx but the 500 with gRPC code 2 that etcd's gateway
itself answers (lock and election errors, maintenance refusals), no dropped connection,
and every answer as documented: its status, content type, headers and body schema.

Checks left out, and why: `positive_data_acceptance` (a schema cannot say that a revision
must not be in the future, or that a user must exist, so etcd's 400s for well-formed
requests are right), `negative_data_rejection` (etcd's decoder accepts more than the
document promises, e.g. numbers where int64 strings are documented, and ignores unknown
fields, as keyraft must too), `ignored_auth` (auth is disabled here; the generated-client
test covers tokens). Operations left out: the streams (watch and observe never end on
their own, keepalive and snapshot answer many JSON lines), and lock and campaign, which
wait without end by design; test_streams.py calls those with deadlines.
"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import Phase as HypothesisPhase
from schemathesis.specs.openapi import checks as openapi_checks

from tests.api.test_openapi import DOCUMENT
from tests.support.servers import Member

STREAMS = r"^/v3/(watch|election/observe|lease/keepalive$|maintenance/snapshot$)"
WAITS = r"^/v3/(lock/lock|election/campaign)$"
EXAMPLES_PER_OPERATION = 3
REQUEST_TIMEOUT_S = 10


@schemathesis.check
def only_etcd_server_errors(ctx, response, case) -> bool | None:  # noqa: ANN001
    """A 5xx only as etcd's gateway answers one: 500, gRPC code 2 (Unknown)."""
    if response.status_code < 500:
        return None
    body = response.json()
    assert response.status_code == 500 and body.get("code") == 2, (
        f"{response.status_code} {response.text[:300]}"
    )
    return True


# The committed document, which test_openapi.py holds equal to what the server serves.
SCHEMA = (
    schemathesis.openapi.from_path(DOCUMENT).exclude(path_regex=STREAMS).exclude(path_regex=WAITS)
)


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[HypothesisPhase.explicit, HypothesisPhase.generate],
    database=None,
    derandomize=True,
)
def test_every_operation_answers_as_documented(case, member: Member) -> None:  # noqa: ANN001
    keep_the_member_serving(case)
    case.call_and_validate(
        base_url=member.client_url,
        timeout=REQUEST_TIMEOUT_S,
        excluded_checks=[
            schemathesis.checks.not_a_server_error,
            openapi_checks.positive_data_acceptance,
            openapi_checks.negative_data_rejection,
            openapi_checks.ignored_auth,
        ],
        additional_checks=[only_etcd_server_errors],
    )
    body = case.body if isinstance(case.body, dict) else {}
    if case.path == "/v3/maintenance/alarm" and body.get("action") == "ACTIVATE":
        # A raised alarm would refuse everything else.
        lowered = {**body, "action": "DEACTIVATE"}
        httpx.post(member.client_url + case.path, json=lowered, timeout=REQUEST_TIMEOUT_S)


def keep_the_member_serving(case) -> None:  # noqa: ANN001
    """As in etcd, a second voter may join a one-member cluster, which then has no quorum
    until it starts: the fuzzer adds learners only."""
    if case.path == "/v3/cluster/member/add" and isinstance(case.body, dict):
        case.body["isLearner"] = True
