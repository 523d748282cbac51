from datetime import UTC, date, datetime
from io import BytesIO

import pytest
import sqlalchemy as sa

from bounty.audit import AuditEvent, verify_chain
from bounty.challenges.models import ChallengeState
from bounty.errors import ConcurrentUpdate, InvalidField, PermissionDenied, TransitionRefused
from bounty.extensions import db as _db
from bounty.market import services as market
from bounty.market.services import ListingState, TransactionType
from bounty.registry.models import RegistryDocument
from bounty.review.decisions import decide
from bounty.review.models import Outcome, ReviewDecision, StageKey

from ..factories import create_challenge, create_user
from ..registry.helpers import (  # noqa: F401  (fresh_requests is an autouse fixture)
    PDF_BYTES,
    completed_challenge,
    fresh_requests,
    listing_data,
    pdf_upload,
)

pytestmark = pytest.mark.usefixtures("each_store")  # with each UPLOAD_STORE

NOW = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)


def _deal(**fields):
    return market.DealData(counterparty=fields.pop("counterparty", "温州某鞋业有限公司"),
                           price_yuan=fields.pop("price_yuan", 280_000),
                           contract_date=fields.pop("contract_date", date(2026, 5, 1)),
                           registration_number=fields.pop("registration_number",
                                                          "2026330301000123"))


def _submit(challenge=None, user=None, **fields):
    if challenge is None:
        challenge, user, _ = completed_challenge()
    return market.create_listing(challenge, user, listing_data(**fields), [pdf_upload()])


def _states(listing):
    return [(e.action, e.from_state, e.to_state) for e in _db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.subject_type == "marketlisting",
                                    AuditEvent.subject_id == listing.id)
        .order_by(AuditEvent.seq))]


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def test_submit_approve_deal(app, frozen):
    challenge, owner, _ = completed_challenge()
    reviewer = create_user("reviewer")
    listing = _submit(challenge, owner)
    assert listing.state == ListingState.submitted and listing.listing_number is None
    decide(listing, reviewer, Outcome.approve)
    assert listing.state == ListingState.listed
    assert listing.listing_number == "OH-KJSC-2026-0001" and listing.listed_at == NOW
    deal = market.record_deal(listing, owner, _deal())
    assert listing.state == ListingState.traded and listing.deal == deal
    assert _states(listing) == [("submit", None, "submitted"),
                                ("approve", "submitted", "listed"),
                                ("record_deal", "listed", "traded")]
    for action in (lambda: market.withdraw_listing(listing, owner),
                   lambda: market.record_deal(listing, owner, _deal()),
                   lambda: decide(listing, reviewer, Outcome.approve)):
        with pytest.raises(TransitionRefused):
            action()
    assert verify_chain().ok
    second = _submit(challenge, owner)
    decide(second, create_user("reviewer"), Outcome.approve)
    assert second.listing_number == "OH-KJSC-2026-0002"


def test_the_winning_institute_lists_its_result_too(app, frozen):
    challenge, owner, winner = completed_challenge()
    listing = _submit(challenge, winner, transaction_type=TransactionType.service,
                      negotiable=True, price_yuan=None)
    assert listing.organization_id == winner.organization_id and listing.is_negotiable
    assert _submit(challenge, owner).organization_id == owner.organization_id


@pytest.mark.parametrize("state", [ListingState.submitted, ListingState.returned,
                                   ListingState.listed])
def test_withdraw(app, frozen, state):
    challenge, owner, _ = completed_challenge()
    listing = _submit(challenge, owner)
    reviewer = create_user("reviewer")
    if state == ListingState.returned:
        decide(listing, reviewer, Outcome.return_, "补充专利证书")
    elif state == ListingState.listed:
        decide(listing, reviewer, Outcome.approve)
    with pytest.raises(PermissionDenied):
        market.withdraw_listing(listing, create_user("enterprise"))
    with pytest.raises(PermissionDenied):
        market.withdraw_listing(listing, reviewer)
    market.withdraw_listing(listing, owner, "已与意向方线下洽谈")
    assert listing.state == ListingState.withdrawn and listing.closed_at == NOW
    with pytest.raises(TransitionRefused):
        market.record_deal(listing, owner, _deal())
    with pytest.raises(TransitionRefused):
        market.withdraw_listing(listing, owner)
    # Withdrawn frees the way for a new listing of the same result.
    assert _submit(challenge, owner).state == ListingState.submitted


def test_return_then_resubmit(app, frozen):
    challenge, owner, _ = completed_challenge()
    reviewer = create_user("reviewer")
    listing = _submit(challenge, owner)
    with pytest.raises(TransitionRefused, match="必须填写意见"):
        decide(listing, reviewer, Outcome.return_)
    decide(listing, reviewer, Outcome.return_, "请补充许可范围")
    assert listing.state == ListingState.returned
    with pytest.raises(TransitionRefused):
        market.record_deal(listing, owner, _deal())
    with pytest.raises(PermissionDenied):
        market.resubmit_listing(listing, create_user("institute"), listing_data(), [])
    market.resubmit_listing(listing, owner, listing_data(summary="独占许可，浙江省内"), [])
    assert listing.state == ListingState.submitted and listing.summary == "独占许可，浙江省内"
    assert len(listing.documents) == 1  # the earlier IP document still counts
    decide(listing, reviewer, Outcome.approve)
    assert listing.state == ListingState.listed


def test_reject_is_final(app, frozen):
    challenge, owner, _ = completed_challenge()
    reviewer = create_user("reviewer")
    listing = _submit(challenge, owner)
    decide(listing, reviewer, Outcome.reject, "非本平台榜单成果")
    assert listing.state == ListingState.rejected and listing.listing_number is None
    with pytest.raises(TransitionRefused):
        market.resubmit_listing(listing, owner, listing_data(), [])
    with pytest.raises(TransitionRefused):
        market.withdraw_listing(listing, owner)
    with pytest.raises(TransitionRefused):
        decide(listing, reviewer, Outcome.approve)


def test_listing_refusals(app, frozen):
    challenge, owner, winner = completed_challenge()
    for user in (create_user("enterprise"), create_user("institute"), create_user("reviewer")):
        with pytest.raises(PermissionDenied):
            _submit(challenge, user)
    running = create_challenge(owner, state=ChallengeState.in_progress)
    with pytest.raises(TransitionRefused, match="验收通过"):
        _submit(running, owner)
    with pytest.raises(InvalidField) as refused:
        market.create_listing(challenge, owner, listing_data(price_yuan=None), [])
    assert set(refused.value.errors) == {"price_yuan", "documents"}
    assert _db.session.scalar(sa.select(sa.func.count(market.MarketListing.id))) == 0
    assert _db.session.scalar(sa.select(sa.func.count(RegistryDocument.id))) == 0
    _submit(challenge, owner)
    with pytest.raises(TransitionRefused, match="请勿重复"):
        _submit(challenge, owner)


def test_deal_refusals(app, frozen):
    challenge, owner, _ = completed_challenge()
    listing = _submit(challenge, owner)
    with pytest.raises(TransitionRefused):  # not listed yet
        market.record_deal(listing, owner, _deal())
    decide(listing, create_user("reviewer"), Outcome.approve)
    with pytest.raises(PermissionDenied):
        market.record_deal(listing, create_user("enterprise"), _deal())
    with pytest.raises(InvalidField) as refused:
        market.record_deal(listing, owner, _deal(counterparty=" ", price_yuan=0,
                                                 contract_date=date(2026, 5, 7),
                                                 registration_number="登记号"))
    assert set(refused.value.errors) == {"counterparty", "price_yuan", "contract_date",
                                         "registration_number"}
    assert listing.state == ListingState.listed and listing.deal is None


def test_only_reviewers_decide_and_not_twice_on_one_item(app, frozen):
    app.config["REVIEW_SEPARATED_STAGES"] = "acceptance+listing"
    challenge, owner, _ = completed_challenge()
    listing = _submit(challenge, owner)
    for user in (owner, create_user("admin")):
        with pytest.raises(PermissionDenied):
            decide(listing, user, Outcome.approve)
    acceptor = create_user("reviewer")
    _db.session.add(ReviewDecision(challenge_id=challenge.id, stage=StageKey.acceptance,
                                   outcome=Outcome.approve, reviewer_id=acceptor.id))
    _db.session.commit()
    for outcome in Outcome:  # a separated stage is decided by someone else, a return too
        with pytest.raises(PermissionDenied, match="审核分离规则"):
            decide(listing, acceptor, outcome, "补充材料")
    seen = listing.version
    decide(listing, create_user("reviewer"), Outcome.return_, "补充材料")
    market.resubmit_listing(listing, owner, listing_data(), [])
    with pytest.raises(ConcurrentUpdate):  # decided on the page showing the earlier version
        decide(listing, create_user("reviewer"), Outcome.approve, version=seen)


# --------------------------------------------------------------------------- web


def _listing_form(**fields):
    data = {"title": "模温控制算法专利许可", "summary": "基于模型预测控制的注塑模温控制方法。",
            "transaction_type": "licence", "price_yuan": "300000",
            "documents": [(BytesIO(PDF_BYTES), "patent.pdf")]}
    data.update(fields)
    return data


def test_market_life_cycle_through_the_web(app, client, login_as, frozen):
    challenge, owner, _ = completed_challenge()
    owner_client = login_as(owner)
    refused = owner_client.post(f"/challenges/{challenge.id}/listing",
                                data=_listing_form(price_yuan="", documents=[]),
                                content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "或选择“面议”" in refused.text and "请上传知识产权证明文件" in refused.text
    created = owner_client.post(f"/challenges/{challenge.id}/listing", data=_listing_form(),
                                content_type="multipart/form-data")
    assert created.status_code == 302
    listing = _db.session.scalars(sa.select(market.MarketListing)).one()
    assert client.get(f"/market/{listing.id}").status_code == 404  # not public before approval
    assert "模温控制算法" not in client.get("/market").text

    reviewer = login_as(create_user("reviewer"))
    assert "模温控制算法专利许可" in reviewer.get("/registry/review", follow_redirects=True).text
    assert owner_client.post(f"/market/{listing.id}/decide",
                             data={"outcome": "approve"}).status_code == 403
    decided = reviewer.post(f"/market/{listing.id}/decide",
                            data={"outcome": "approve", "version": listing.version},
                            follow_redirects=True)
    assert "OH-KJSC-2026-0001" in decided.text
    page = client.get(f"/market/{listing.id}")
    assert page.status_code == 200 and "OH-KJSC-2026-0001" in page.text
    assert "patent.pdf" not in page.text  # IP documents stay with owner and reviewers
    assert "模温控制算法专利许可" in client.get("/market").text

    bad = owner_client.post(f"/market/{listing.id}/deal", data={
        "counterparty": "温州某鞋业有限公司", "price_yuan": "280000",
        "contract_date": "2026-05-01", "registration_number": "号"})
    assert bad.status_code == 422 and "技术合同登记号" in bad.text
    assert owner_client.post(f"/market/{listing.id}/deal", data={
        "counterparty": "温州某鞋业有限公司", "price_yuan": "280000",
        "contract_date": "2026-05-01", "registration_number": "2026330301000123",
    }).status_code == 302
    traded = client.get(f"/market/{listing.id}").text
    assert "已成交" in traded and "2026330301000123" in traded
    assert "模温控制算法专利许可" in client.get("/market?state=traded").text
    assert "模温控制算法专利许可" not in client.get("/market?state=listed").text


def test_withdraw_through_the_web(app, client, login_as, frozen):
    challenge, owner, _ = completed_challenge()
    listing = _submit(challenge, owner)
    decide(listing, create_user("reviewer"), Outcome.approve)
    assert login_as(create_user("enterprise")).post(
        f"/market/{listing.id}/withdraw").status_code == 403
    response = login_as(owner).post(f"/market/{listing.id}/withdraw",
                                    data={"comment": "暂停转让"})
    assert response.status_code == 302
    _db.session.expire_all()
    assert listing.state == ListingState.withdrawn
    assert client.get(f"/market/{listing.id}").status_code == 404
    assert "模温控制算法专利许可" not in client.get("/market").text


def test_market_search_and_pagination(app, client, frozen):
    owner = create_user("enterprise")
    reviewer = create_user("reviewer")
    for n in range(22):
        challenge, _, _ = completed_challenge(owner)
        listing = _submit(challenge, owner, title=f"成果{n:02d}",
                          transaction_type=TransactionType.equity if n % 2
                          else TransactionType.transfer)
        decide(listing, reviewer, Outcome.approve)
    hidden = _submit(completed_challenge(owner)[0], owner, title="待审核成果")
    assert hidden.state == ListingState.submitted
    first = client.get("/market").text
    assert "第 1 / 2 页" in first and "共 22 项" in first and "待审核成果" not in first
    second = client.get("/market?page=2").text
    assert sum(f"成果{n:02d}" in second for n in range(22)) == 2
    found = client.get("/market", query_string={"q": "成果05"}).text
    assert "成果05" in found and "成果06" not in found
    equity = client.get("/market", query_string={"type": "equity"}).text
    assert "共 11 项" in equity and "成果01" in equity and "成果02" not in equity
    assert "共 22 项" in client.get("/market?type=bogus&state=submitted").text


def test_certification_approver_may_not_approve_a_listing_of_the_same_challenge(app, frozen):
    from bounty.certification import services as cert

    app.config["REVIEW_SEPARATED_STAGES"] = "certification+listing"
    from ..registry.helpers import cert_data, evidence_files

    challenge, owner, winner = completed_challenge()
    certifier, other = create_user("reviewer"), create_user("reviewer")
    application = cert.apply_for_certification(challenge, owner, cert_data(), evidence_files())
    decide(application, certifier, Outcome.approve)
    listing = _submit(challenge, owner)
    with pytest.raises(PermissionDenied, match="审核分离规则"):
        decide(listing, certifier, Outcome.approve)
    decide(listing, other, Outcome.approve)
    # Two listings of one result are one stage: the same reviewer may approve both.
    second = _submit(challenge, winner)
    decide(second, other, Outcome.approve)
    assert second.state == ListingState.listed


def test_my_results_page_reads_only_the_organisations_results(app, login_as, frozen):
    """Other organisations' completed challenges are neither shown nor read one by one."""
    from ..queries import recorded_statements

    challenge, owner, winner = completed_challenge()
    client = login_as(owner)

    def visit() -> tuple[int, str]:
        with recorded_statements() as statements:
            page = client.get("/registry/mine").text
        return len(statements), page

    completed_challenge(title="别家的成果甲")
    few, page = visit()
    for i in range(6):
        completed_challenge(title=f"别家的成果{i}")
    many, page = visit()
    assert f"/challenges/{challenge.id}/certification" in page and "别家的成果" not in page
    assert many == few


def test_my_results_page_and_reviewer_queue_permissions(app, login_as, frozen):
    challenge, owner, winner = completed_challenge()
    mine = login_as(owner).get("/registry/mine").text
    assert f"/challenges/{challenge.id}/certification" in mine
    assert f"/challenges/{challenge.id}/listing" in mine
    theirs = login_as(winner).get("/registry/mine").text
    assert f"/challenges/{challenge.id}/listing" in theirs
    assert f"/challenges/{challenge.id}/certification" not in theirs  # the enterprise applies
    assert login_as(owner).get("/registry/review").status_code == 403
    assert login_as(create_user("reviewer")).get("/registry/review",
                                             follow_redirects=True).status_code == 200
