"""Exports for the government's own reports: per stage and period, every review round
of every item with each reviewer's decision and scores and the time spent in the
stage, as CSV or XLSX. Blind stages are exported without bidders' identities."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import spreadsheets
from ..extensions import db
from ..timeutil import from_local, to_local, utcnow
from . import blind, items
from .assignment import ReviewTask, TaskResult
from .models import ReviewDecision
from .scoring import ScoreSheet
from .stages import StageKey, all_stages
from .workdays import working_days_between

KIND_LABELS = {"challenge": _l("榜单"), "certification": _l("首台套认定"),
               "listing": _l("科技大市场挂牌")}
ROUND_RESULTS = {TaskResult.approved: _l("通过"), TaskResult.returned: _l("退回修改"),
                 TaskResult.rejected: _l("不予通过")}


@dataclass
class Export:
    header: list[str]
    rows: list[list]


def _rounds(stage: StageKey | None, start: date | None, end: date | None):
    query = sa.select(ReviewTask)
    if stage is not None:
        query = query.where(ReviewTask.stage == stage)
    if start is not None:
        query = query.where(ReviewTask.opened_at >= from_local(datetime.combine(start, time())))
    if end is not None:
        query = query.where(ReviewTask.opened_at < from_local(
            datetime.combine(end + timedelta(days=1), time())))
    grouped: dict[tuple, list[ReviewTask]] = defaultdict(list)
    for task in db.session.execute(query.order_by(ReviewTask.opened_at, ReviewTask.item_key,
                                                  ReviewTask.round, ReviewTask.slot)).scalars():
        grouped[(task.item_key, task.stage, task.round)].append(task)
    return grouped


def _decisions(task_ids: list[int]) -> dict[int, object]:
    if not task_ids:
        return {}
    return {decision.task_id: decision for decision in db.session.execute(
        sa.select(ReviewDecision).where(ReviewDecision.task_id.in_(task_ids))).scalars()}


def _fmt(value: datetime | None) -> str:
    return to_local(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _bidder(item, stage_blind: bool) -> str:
    challenge = items.challenge_of(item)
    bid = challenge.winning_bid
    if bid is None:
        return ""
    return blind.alias(bid) if stage_blind else bid.organization.name


def export_rows(stage: StageKey | None = None, start: date | None = None,
                end: date | None = None) -> Export:
    """Every review round opened in [start, end] (Shanghai dates) at the stage (or all)."""
    configs = {s.key: s for s in all_stages()}
    criteria: list[str] = []
    for key in ([stage] if stage else list(StageKey)):
        for criterion in configs[key].criteria:
            if criterion.name not in criteria:
                criteria.append(criterion.name)
    rounds = _rounds(stage, start, end)
    decisions = _decisions([t.id for tasks in rounds.values() for t in tasks])
    sheets: dict[tuple, ScoreSheet] = {}
    if rounds:
        for sheet in db.session.execute(sa.select(ScoreSheet).where(
                ScoreSheet.item_key.in_({k[0] for k in rounds}))).scalars():
            sheets[(sheet.item_key, sheet.stage, sheet.round, sheet.reviewer_id)] = sheet
            for score in sheet.scores:
                if score.criterion not in criteria:
                    criteria.append(score.criterion)
    header = [_("编号"), _("类型"), _("标题"), _("行业"), _("发榜单位"), _("揭榜方"),
              _("审核阶段"), _("轮次"), _("进入阶段"), _("离开阶段"), _("停留天数"),
              _("停留工作日"), _("时限（工作日）"), _("是否超期"), _("阶段结果"), _("审核人"),
              _("结论"), _("审核意见"), _("结论时间")] + criteria + [_("加权得分"), _("评分说明")]
    now = utcnow()
    rows: list[list] = []
    for (key, stage_key, round_no), tasks in rounds.items():
        item = tasks[0].item
        challenge = items.challenge_of(item)
        config = configs[stage_key]
        opened = tasks[0].opened_at
        closed = None if any(t.is_open for t in tasks) else max(t.closed_at for t in tasks)
        until = closed or now
        outcome = next((str(ROUND_RESULTS[t.result]) for t in tasks if t.result in
                        (TaskResult.returned, TaskResult.rejected)), None)
        if outcome is None:
            outcome = _("通过") if closed and any(t.result == TaskResult.approved for t in tasks) \
                else (_("审核中") if closed is None else _("已结束"))
        base = [key, str(KIND_LABELS[items.kind_of(item)]), items.title_of(item),
                challenge.industry.label, challenge.organization.name,
                _bidder(item, config.is_blind), config.display_name, round_no, _fmt(opened),
                _fmt(closed), round((until - opened).total_seconds() / 86400, 2),
                working_days_between(opened, until), config.time_limit_days,
                _("是") if until > tasks[0].due_at else _("否"), outcome]
        reviewers: dict[int, dict] = {}
        for task in tasks:
            if task.decided_by_id is not None:
                decision = decisions.get(task.id)
                reviewers[task.decided_by_id] = {
                    "name": task.decided_by.name,
                    "outcome": task.result.label if task.result else "",
                    "comment": decision.comment if decision else "",
                    "at": _fmt(decision.created_at if decision else task.closed_at)}
        for (s_key, s_stage, s_round, reviewer_id), sheet in sheets.items():
            if (s_key, s_stage, s_round) == (key, stage_key, round_no):
                reviewers.setdefault(reviewer_id, {"name": sheet.reviewer.name, "outcome": "",
                                                   "comment": "", "at": ""})
        if not reviewers:
            rows.append(base + ["", "", "", ""] + [""] * len(criteria) + ["", ""])
            continue
        for reviewer_id, info in reviewers.items():
            sheet = sheets.get((key, stage_key, round_no, reviewer_id))
            scores = [sheet.value_of(c) if sheet else None for c in criteria]
            rows.append(base + [info["name"], info["outcome"], info["comment"], info["at"]]
                        + ["" if s is None else s for s in scores]
                        + [sheet.weighted if sheet else "", sheet.comment if sheet else ""])
    return Export(header=header, rows=rows)


def to_csv(export: Export) -> bytes:
    """UTF-8 with a BOM; no cell is a formula (see :mod:`bounty.spreadsheets`)."""
    return spreadsheets.to_csv(export.header, export.rows)


def to_xlsx(export: Export) -> bytes:
    """One sheet of text and numbers; no cell is a formula."""
    return spreadsheets.to_xlsx(_("审核记录"), export.header, export.rows)
