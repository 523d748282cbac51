"""Exports per stage and period, opened back and checked cell by cell."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook

from bounty.challenges.models import ChallengeState
from bounty.review import scoring
from bounty.review.assignment import sync_tasks
from bounty.review.decisions import decide
from bounty.review.models import Outcome
from bounty.review.stages import StageKey
from bounty.timeutil import SHANGHAI

from ..factories import create_challenge, create_user
from ..queries import recorded_statements, writes_in
from .conftest import award_challenge
from .test_stages import set_stage

HEADER = ["编号", "类型", "标题", "行业", "发榜单位", "揭榜方", "审核阶段", "轮次", "进入阶段",
          "离开阶段", "停留天数", "停留工作日", "时限（工作日）", "是否超期", "阶段结果", "审核人",
          "结论", "审核意见", "结论时间", "技术先进性", "可行性", "团队基础", "报价合理性",
          "加权得分", "评分说明"]


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=SHANGHAI)


@pytest.fixture
def reviewed(app, time_machine):
    """An award round opened Mon 03-02 09:00, scored and approved by two reviewers."""
    set_stage(StageKey.award, approvals_needed=2)
    time_machine.move_to(at(2, 9))
    challenge, _owner, bids = award_challenge(title="电机端盖高压压铸工艺")
    a = create_user("reviewer", name="甲专家")
    b = create_user("reviewer", name="乙专家")
    time_machine.move_to(at(3, 10))
    scoring.submit_scores(challenge, a, {"技术先进性": 9, "可行性": 8, "团队基础": 7,
                                         "报价合理性": 6}, "路线先进")
    decide(challenge, a, Outcome.approve, "同意", stage=StageKey.award)
    time_machine.move_to(at(4, 15))
    scoring.submit_scores(challenge, b, {"技术先进性": 6, "可行性": 6, "团队基础": 7,
                                         "报价合理性": 8}, "")
    decide(challenge, b, Outcome.approve, stage=StageKey.award)
    # Another stage and another period: not in the award export of early March.
    time_machine.move_to(at(20, 9))
    create_challenge(state=ChallengeState.vetting, title="三月下旬的审题")
    sync_tasks()  # the worker opens the round of an item set up directly
    return challenge, bids


def expected_rows(challenge, bids) -> list[list]:
    base = [f"challenge:{challenge.id}", "榜单", "电机端盖高压压铸工艺", "智能装备",
            challenge.organization.name, bids[0].organization.name, "揭榜结果审核", 1,
            "2026-03-02 09:00", "2026-03-04 15:00", 2.25, 2, 10, "否", "通过"]
    return [base + ["甲专家", "通过", "同意", "2026-03-03 10:00", 9, 8, 7, 6, 7.7, "路线先进"],
            # An empty cell reads back as None.
            base + ["乙专家", "通过", None, "2026-03-04 15:00", 6, 6, 7, 8, 6.6, None]]


def test_xlsx_cell_by_cell(reviewed, sign_in):
    challenge, bids = reviewed
    client = sign_in(create_user("reviewer"))
    response = client.get("/review/export?stage=award&start=2026-03-01&end=2026-03-31"
                          "&format=xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "review-award-2026-03-01-2026-03-31.xlsx" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == HEADER
    assert rows[1:] == expected_rows(challenge, bids)


def test_csv_matches(reviewed, sign_in):
    challenge, bids = reviewed
    client = sign_in(create_user("admin"))
    response = client.get("/review/export?stage=award&start=2026-03-01&end=2026-03-05"
                          "&format=csv")
    assert response.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    assert rows[1:] == [["" if v is None else str(v) for v in row]
                        for row in expected_rows(challenge, bids)]


def test_period_and_stage_filter(reviewed, sign_in):
    client = sign_in(create_user("reviewer"))

    def titles(query):
        data = client.get(f"/review/export?{query}&format=csv").data.decode("utf-8-sig")
        return {row[2] for row in list(csv.reader(io.StringIO(data)))[1:]}

    assert titles("stage=award&start=2026-03-05") == set()
    assert titles("start=2026-03-15") == {"三月下旬的审题"}
    assert titles("") == {"电机端盖高压压铸工艺", "三月下旬的审题"}


def test_export_form_and_access(app, sign_in, client):
    assert client.get("/review/export").status_code == 302
    assert sign_in(create_user("enterprise")).get("/review/export").status_code == 403
    reviewer = sign_in(create_user("reviewer"))
    assert "导出审核记录" in reviewer.get("/review/export").get_data(as_text=True)
    bad = reviewer.get("/review/export?start=2026-03-05&end=2026-03-01&format=csv")
    assert bad.status_code == 422 and "截止日期不能早于起始日期" in bad.get_data(as_text=True)


# --------------------------------------------------------------------------- scale


def test_no_dates_means_the_last_90_days(app, sign_in, time_machine):
    time_machine.move_to(at(2, 9))
    create_challenge(state=ChallengeState.vetting, title="早先的审题")
    sync_tasks()
    time_machine.move_to(at(2, 9) + timedelta(days=95))
    create_challenge(state=ChallengeState.vetting, title="最近的审题")
    sync_tasks()
    client = sign_in(create_user("reviewer"))

    def titles(query):
        response = client.get(f"/review/export?{query}")
        assert response.status_code == 200
        return {row[2] for row in list(csv.reader(io.StringIO(
            response.data.decode("utf-8-sig"))))[1:]}

    assert titles("format=csv") == {"最近的审题"}
    assert titles("format=csv&all_history=y") == {"早先的审题", "最近的审题"}
    assert titles("format=csv&start=2026-01-01&end=2027-12-31") == {"早先的审题", "最近的审题"}
    # XLSX: a year at most; the rows are the same as the CSV's
    sheet = load_workbook(io.BytesIO(client.get("/review/export?format=xlsx").data)).active
    assert [row[2].value for row in sheet.iter_rows(min_row=2)] == ["最近的审题"]


@pytest.mark.parametrize("query, message", [
    ("start=2025-01-01&end=2026-06-30", "Excel 文件的时间段最长 366 天"),
    ("all_history=y", "全部历史只能导出 CSV"),
])
def test_a_longer_xlsx_period_is_refused(app, sign_in, query, message):
    response = sign_in(create_user("reviewer")).get(f"/review/export?{query}&format=xlsx")
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def _award_rounds(n: int) -> None:
    reviewer = create_user("reviewer")
    for i in range(n):
        challenge, _owner, _bids = award_challenge(title=f"压铸工艺{i}")
        decide(challenge, reviewer, Outcome.approve if i % 2 else Outcome.return_,
               "" if i % 2 else "请补充报价依据", stage=StageKey.award)
    create_challenge(state=ChallengeState.vetting)
    sync_tasks()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_queries_do_not_grow_with_rows_and_write_nothing(app, sign_in, fmt):
    set_stage(StageKey.award, is_blind=True)
    client = sign_in(create_user("admin"))

    def run():
        with recorded_statements() as statements:
            response = client.get(f"/review/export?format={fmt}")
            assert response.status_code == 200 and response.data
        return statements

    _award_rounds(2)
    few = run()
    _award_rounds(10)
    many = run()
    assert writes_in(many) == []
    assert len(many) == len(few), "the export's queries grow with its rows"
