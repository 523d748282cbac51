import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bounty.audit import AuditEvent, verify_chain
from bounty.certification import services as cert
from bounty.challenges.models import Category, ChallengeState
from bounty.errors import ConcurrentUpdate, InvalidField, PermissionDenied, TransitionRefused
from bounty.extensions import db as _db
from bounty.registry.models import RegistryDocument
from bounty.registry.services import DOCUMENTS
from bounty.review.decisions import decide
from bounty.review.models import Outcome, ReviewDecision, StageKey

from ..factories import create_challenge, create_user
from ..registry.helpers import (  # noqa: F401  (fresh_requests is an autouse fixture)
    cert_data,
    cert_form,
    completed_challenge,
    evidence_files,
    fresh_requests,
)
from ..stores import stored_names

pytestmark = pytest.mark.usefixtures("each_store")  # with each UPLOAD_STORE

FLOORS = [
    (cert.EquipmentCategory.complete_set, 500_000, "50 万元"),
    (cert.EquipmentCategory.single_machine, 200_000, "20 万元"),
    (cert.EquipmentCategory.core_component, 100_000, "10 万元"),
]
NEW_YEAR_2026 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _nothing_written():
    assert _db.session.scalar(sa.select(sa.func.count(cert.CertificationApplication.id))) == 0
    assert _db.session.scalar(sa.select(sa.func.count(RegistryDocument.id))) == 0
    assert stored_names(DOCUMENTS) == []


def _apply(challenge=None, owner=None, **kwargs):
    if challenge is None:
        challenge, owner, _ = completed_challenge()
    return cert.apply_for_certification(challenge, owner, cert_data(**kwargs), evidence_files())


# --------------------------------------------------------------------------- applying


@pytest.mark.parametrize("kind", list(cert.EvidenceKind))
def test_each_missing_document_is_refused_next_to_its_field(app, login_as, kind):
    challenge, owner, _ = completed_challenge()
    response = login_as(owner).post(f"/challenges/{challenge.id}/certification",
                                    data=cert_form(skip=kind.value),
                                    content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f"请上传{kind.label}。" in page
    assert "高精度注塑模温控制成套装备" in page  # what the user typed is kept
    _nothing_written()


@pytest.mark.parametrize(("category", "floor", "text"), FLOORS)
def test_price_under_each_floor_is_refused(app, category, floor, text):
    challenge, owner, _ = completed_challenge()
    with pytest.raises(InvalidField) as refused:
        cert.apply_for_certification(challenge, owner, cert_data(category, floor - 1),
                                     evidence_files())
    assert set(refused.value.errors) == {"price_yuan"}
    assert text in refused.value.errors["price_yuan"] and category.label in refused.value.message
    _nothing_written()
    application = cert.apply_for_certification(challenge, owner, cert_data(category, floor),
                                               evidence_files())
    assert application.state == cert.CertificationState.submitted
    assert set(application.evidence) == set(cert.EvidenceKind)


def test_price_floor_shown_next_to_the_field_in_the_form(app, login_as):
    challenge, owner, _ = completed_challenge()
    response = login_as(owner).post(f"/challenges/{challenge.id}/certification",
                                    data=cert_form("single_machine", "199999"),
                                    content_type="multipart/form-data")
    assert response.status_code == 422
    assert "单台设备的单价不得低于 20 万元" in response.get_data(as_text=True)
    _nothing_written()


def test_price_floors_are_configurable(app):
    app.config["CERTIFICATION_PRICE_FLOORS"] = {"core_component": 300_000}
    challenge, owner, _ = completed_challenge()
    with pytest.raises(InvalidField, match="30 万元"):
        _apply(challenge, owner, category=cert.EquipmentCategory.core_component, price=250_000)


def test_indicators_need_a_comparable(app):
    challenge, owner, _ = completed_challenge()
    row = cert.ComparisonRow(name="控温精度", own_value="±0.3")
    with pytest.raises(InvalidField) as refused:
        _apply(challenge, owner, indicators=[row])
    assert set(refused.value.errors) == {"indicators"}


def test_wrong_file_content_is_refused(app, login_as):
    from io import BytesIO

    challenge, owner, _ = completed_challenge()
    form = cert_form()
    form["test_report"] = (BytesIO(b"not a pdf at all"), "report.pdf")
    response = login_as(owner).post(f"/challenges/{challenge.id}/certification", data=form,
                                    content_type="multipart/form-data")
    assert response.status_code == 422
    assert "内容与扩展名不符" in response.get_data(as_text=True)
    _nothing_written()


def test_only_the_owner_of_a_completed_equipment_challenge_applies(app, login_as):
    challenge, owner, winner = completed_challenge()
    for user in (winner, create_user("enterprise"), create_user("reviewer")):
        with pytest.raises(PermissionDenied):
            _apply(challenge, user)
        assert login_as(user).post(f"/challenges/{challenge.id}/certification",
                                   data=cert_form()).status_code == 403
    running = create_challenge(owner, state=ChallengeState.in_progress)
    with pytest.raises(TransitionRefused, match="验收通过"):
        _apply(running, owner)
    software, owner2, _ = completed_challenge(category=Category.industrial_software)
    with pytest.raises(TransitionRefused, match="不属于装备类"):
        _apply(software, owner2)
    _nothing_written()
    _apply(challenge, owner)
    with pytest.raises(TransitionRefused, match="已提交过"):
        _apply(challenge, owner)


def test_apply_through_the_web(app, login_as):
    challenge, owner, _ = completed_challenge()
    client = login_as(owner)
    assert "首台（套）认定申请" in client.get(f"/challenges/{challenge.id}/certification").text
    response = client.post(f"/challenges/{challenge.id}/certification", data=cert_form(),
                           content_type="multipart/form-data")
    assert response.status_code == 302
    application = _db.session.scalars(sa.select(cert.CertificationApplication)).one()
    assert application.price_yuan == 800_000 and len(application.indicators) == 1
    assert application.indicators[0].foreign_value == "±0.5"
    page = client.get(response.location).text
    assert "待审核" in page and "查新报告" in page
    document = application.evidence[cert.EvidenceKind.novelty_search]
    download = client.get(f"/certifications/{application.id}/documents/{document.id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert "attachment" in download.headers["Content-Disposition"]
    download.close()


# --------------------------------------------------------------------------- deciding


def test_approval_issues_yearly_numbers_and_audits(app, time_machine):
    time_machine.move_to(NEW_YEAR_2026)
    reviewer = create_user("reviewer")
    first, second = _apply(), _apply()
    decide(first, reviewer, Outcome.approve)
    decide(second, reviewer, Outcome.approve)
    assert first.certificate_number == "OH-STT-2026-0001"
    assert second.certificate_number == "OH-STT-2026-0002"
    assert first.state == cert.CertificationState.certified and first.certified_at
    time_machine.move_to(datetime(2026, 12, 31, 16, 30, tzinfo=UTC))  # 2027-01-01 in Shanghai
    third = _apply()
    decide(third, reviewer, Outcome.approve)
    assert third.certificate_number == "OH-STT-2027-0001"
    events = _db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.subject_type == "certificationapplication", AuditEvent.action == "approve")
    ).all()
    assert [(e.from_state, e.to_state, e.actor_id) for e in events] == [
        ("submitted", "certified", reviewer.id)] * 3
    assert verify_chain().ok


def test_return_then_resubmit_then_approve(app):
    challenge, owner, _ = completed_challenge()
    reviewer = create_user("reviewer")
    application = _apply(challenge, owner)
    with pytest.raises(TransitionRefused, match="必须填写意见"):
        decide(application, reviewer, Outcome.return_, "  ")
    decide(application, reviewer, Outcome.return_, "请补充国外对比数据")
    assert application.state == cert.CertificationState.returned
    with pytest.raises(TransitionRefused):
        decide(application, reviewer, Outcome.approve)
    old_patent = application.evidence[cert.EvidenceKind.invention_patent].id
    # Documents already on file need not be uploaded again; a new upload replaces one.
    files = {"invention_patent": evidence_files()["invention_patent"]}
    cert.resubmit_certification(application, owner, cert_data(price=900_000), files)
    assert application.state == cert.CertificationState.submitted
    assert application.price_yuan == 900_000
    assert application.evidence[cert.EvidenceKind.invention_patent].id != old_patent
    decide(application, reviewer, Outcome.approve)
    assert application.certificate_number
    assert [d.outcome for d in application.decisions] == [Outcome.return_, Outcome.approve]


def test_reject_is_final(app):
    challenge, owner, _ = completed_challenge()
    application = _apply(challenge, owner)
    reviewer = create_user("reviewer")
    with pytest.raises(TransitionRefused):
        decide(application, reviewer, Outcome.reject)
    decide(application, reviewer, Outcome.reject, "不属于首台（套）")
    for outcome in Outcome:
        with pytest.raises(TransitionRefused):
            decide(application, reviewer, outcome, "再审")
    with pytest.raises(TransitionRefused):
        cert.resubmit_certification(application, owner, cert_data(), evidence_files())
    assert application.certificate_number is None


def test_only_reviewers_decide(app, login_as):
    challenge, owner, _ = completed_challenge()
    application = _apply(challenge, owner)
    for user in (owner, create_user("admin"), create_user("institute")):
        with pytest.raises(PermissionDenied):
            decide(application, user, Outcome.approve)
    response = login_as(owner).post(f"/certifications/{application.id}/decide",
                                    data={"outcome": "approve"})
    assert response.status_code == 403
    assert application.state == cert.CertificationState.submitted


def test_acceptance_approver_may_not_approve_certification(app):
    challenge, owner, _ = completed_challenge()
    acceptor, other = create_user("reviewer"), create_user("reviewer")
    _db.session.add(ReviewDecision(challenge_id=challenge.id, stage=StageKey.acceptance,
                                   outcome=Outcome.approve, reviewer_id=acceptor.id))
    _db.session.commit()
    application = _apply(challenge, owner)
    # 验收 and 首台套认定 are separated by default.
    with pytest.raises(PermissionDenied, match="「验收」阶段通过该榜单，按审核分离规则"):
        decide(application, acceptor, Outcome.approve)
    assert application.state == cert.CertificationState.submitted
    decide(application, other, Outcome.approve)
    assert application.certificate_number


def test_decision_on_a_stale_page_loses(app):
    application = _apply()
    first, second = create_user("reviewer"), create_user("reviewer")
    seen = application.version  # both reviewers loaded this version
    decide(application, first, Outcome.return_, "补充", version=seen)
    cert.resubmit_certification(application, application.applicant, cert_data(), {})
    with pytest.raises(ConcurrentUpdate):
        decide(application, second, Outcome.approve, version=seen)
    assert application.state == cert.CertificationState.submitted
    with _db.engine.begin() as conn:  # a decision lands between loading and committing
        conn.execute(sa.text("UPDATE certification_applications SET version = version + 1"))
    with pytest.raises(ConcurrentUpdate):
        decide(application, second, Outcome.approve)
    _db.session.expire_all()
    assert application.certificate_number is None


def test_concurrent_approvals_get_unique_numbers(app, time_machine):
    time_machine.move_to(NEW_YEAR_2026, tick=True)
    applications = [_apply().id for _ in range(4)]
    reviewers = [create_user("reviewer").id for _ in applications]
    barrier = threading.Barrier(len(applications))
    numbers, errors = [], []

    def approve(application_id, reviewer_id):
        from bounty.accounts.models import User

        with app.app_context():
            try:
                application = _db.session.get(cert.CertificationApplication, application_id)
                reviewer = _db.session.get(User, reviewer_id)
                barrier.wait(timeout=10)
                decide(application, reviewer, Outcome.approve)
                numbers.append(application.certificate_number)
            except Exception as exc:  # reported below, so a failure is not silent
                errors.append(exc)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=approve, args=pair)
               for pair in zip(applications, reviewers, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(numbers) == [f"OH-STT-2026-{n:04d}" for n in range(1, 5)]
    assert verify_chain().ok


# --------------------------------------------------------------------------- certificate


def _certified(**kwargs):
    application = _apply(**kwargs)
    decide(application, create_user("reviewer"), Outcome.approve)
    return application


def test_certificate_page_and_pdf(app, client, time_machine):
    time_machine.move_to(NEW_YEAR_2026)
    application = _certified()
    number = application.certificate_number
    page = client.get(f"/register/{number}")
    assert page.status_code == 200
    assert number in page.text and "高精度注塑模温控制成套装备" in page.text
    assert "2026-03-02" in page.text and "±0.5" in page.text
    pdf = client.get(f"/register/{number}/certificate.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert number.encode() in pdf.data
    assert client.get("/register/OH-STT-2026-9999").status_code == 404


def test_the_pdf_and_the_page_share_one_certificate_layout(app, client, time_machine,
                                                           monkeypatch):
    """The PDF is fpdf2's rendering of the page's own certificate markup, so both carry the
    same fields."""
    from fpdf import FPDF

    fed = []
    write_html = FPDF.write_html

    def spy(pdf, text, *args, **kwargs):
        fed.append(text)
        return write_html(pdf, text, *args, **kwargs)

    monkeypatch.setattr(FPDF, "write_html", spy)
    time_machine.move_to(NEW_YEAR_2026)
    application = _certified()
    number = application.certificate_number
    page = client.get(f"/register/{number}").text
    pdf = client.get(f"/register/{number}/certificate.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    [markup] = fed
    start = page.index('<article class="certificate">')
    article = page[start:page.index("</article>", start) + len("</article>")]
    assert markup.split() == article.split()
    for field in (number, application.product_name, application.equipment_category.label,
                  application.organization.name, application.organization.uscc, "80 万元",
                  application.challenge.title, "2026-03-02", "控温精度", "±0.5"):
        assert field in markup


def test_certificate_falls_back_to_printable_html_without_a_cjk_font(app, client, tmp_path):
    application = _certified()
    app.config["CERTIFICATE_FONT_DIRS"] = [str(tmp_path / "no-fonts")]
    response = client.get(f"/register/{application.certificate_number}/certificate.pdf")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "未安装中文字体" in response.text and application.certificate_number in response.text


def test_public_sees_only_certified_items(app, client, login_as):
    challenge, owner, _ = completed_challenge()
    application = _apply(challenge, owner)
    assert client.get(f"/certifications/{application.id}").status_code == 404
    assert login_as(create_user("enterprise")).get(
        f"/certifications/{application.id}").status_code == 404
    assert login_as(owner).get(f"/certifications/{application.id}").status_code == 200
    reviewer_page = login_as(create_user("reviewer")).get(f"/certifications/{application.id}")
    assert "提交审核意见" in reviewer_page.text
    assert "高精度注塑模温控制成套装备" not in client.get("/register").text
    decide(application, create_user("reviewer"), Outcome.approve)
    public = client.get(f"/certifications/{application.id}")
    assert public.status_code == 200 and application.certificate_number in public.text
    assert "证明材料" not in public.text  # evidence stays with the applicant and reviewers
    document = application.evidence[cert.EvidenceKind.user_report]
    assert login_as(create_user("enterprise")).get(
        f"/certifications/{application.id}/documents/{document.id}").status_code == 404
    assert application.certificate_number in client.get("/register").text


def test_register_search_and_pagination(app, client):
    owner = create_user("enterprise")
    reviewer = create_user("reviewer")
    for n in range(23):
        challenge, _, _ = completed_challenge(owner)
        category = (cert.EquipmentCategory.core_component if n % 2
                    else cert.EquipmentCategory.complete_set)
        application = cert.apply_for_certification(
            challenge, owner, cert_data(category, product_name=f"装备{n:02d}号"),
            evidence_files())
        decide(application, reviewer, Outcome.approve)
    first = client.get("/register").text
    assert "第 1 / 2 页" in first and first.count("装备") >= 20
    second = client.get("/register?page=2").text
    assert sum(f"装备{n:02d}号" in second for n in range(23)) == 3
    found = client.get("/register", query_string={"q": "装备07"}).text
    assert "装备07号" in found and "装备08号" not in found
    by_number = client.get("/register", query_string={"q": "OH-STT-2026-0002"}).text
    assert "装备01号" in by_number and "装备02号" not in by_number
    cores = client.get("/register", query_string={"category": "core_component"}).text
    assert "共 11 项" in cores and "装备01号" in cores and "装备02号" not in cores
    assert client.get("/register?page=9").status_code == 200
    assert stored_names(DOCUMENTS)
