"""Exports for the government's own reports: per stage and period, every review round
of every item with each reviewer's decision and scores and the time spent in the
stage, as CSV or XLSX. Blind stages are exported without bidders' identities.

The rows stream: read a batch of rounds at a time with everything they show (a fixed
number of queries per batch), written out, let go -- so a quarter or the whole history
costs time in proportion, never memory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from .. import spreadsheets
from ..accounts.models import Organization, User
from ..challenges.models import Bid, Challenge, Industry
from ..errors import InvalidField
from ..extensions import db
from ..timeutil import from_local, to_local, utcnow
from . import blind, items
from .assignment import ReviewTask, TaskResult
from .models import ReviewDecision
from .scoring import Score, ScoreSheet
from .stages import StageKey, all_stages
from .workdays import load_calendar, working_days_between

KIND_LABELS = {"challenge": _l("榜单"), "certification": _l("首台套认定"),
               "listing": _l("科技大市场挂牌")}
ROUND_RESULTS = {TaskResult.approved: _l("通过"), TaskResult.returned: _l("退回修改"),
                 TaskResult.rejected: _l("不予通过")}


# Rounds are read in batches of this many tasks, each batch with its items, decisions
# and score sheets in a few queries, then let go: memory stays flat over any period.
BATCH_TASKS = 500
#: The period when none is asked for: the last 90 days.
DEFAULT_PERIOD_DAYS = 90
#: The longest period of one XLSX export (CSV streams any period, the full history too).
MAX_XLSX_PERIOD_DAYS = 366


def export_period(start: date | None, end: date | None, *, today: date,
                  all_history: bool = False, xlsx: bool = False
                  ) -> tuple[date | None, date | None]:
    """The period to export: [start, end] as asked, the last :data:`DEFAULT_PERIOD_DAYS`
    days when no date is given, (None, None) for the whole history (CSV only).

    :raises InvalidField: the end is before the start, or an XLSX period is longer than
        :data:`MAX_XLSX_PERIOD_DAYS` days (or the whole history).
    """
    if all_history:
        if xlsx:
            raise InvalidField(str(_l("全部历史只能导出 CSV；Excel 文件的时间段最长 %(days)d 天。",
                                      days=MAX_XLSX_PERIOD_DAYS)), "all_history")
        return None, None
    if start and end and end < start:
        raise InvalidField(str(_l("截止日期不能早于起始日期。")), "end")
    if end is None:
        end = max(today, start) if start else today
    if start is None:
        start = end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if xlsx and (end - start).days + 1 > MAX_XLSX_PERIOD_DAYS:
        raise InvalidField(str(_l("Excel 文件的时间段最长 %(days)d 天，请缩短时间段，或导出 CSV。",
                                  days=MAX_XLSX_PERIOD_DAYS)), "end")
    return start, end


@dataclass
class Export:
    header: list[str]
    rows: Iterable[list]


def _task_filters(stage: StageKey | None, start: date | None, end: date | None) -> list:
    where = []
    if stage is not None:
        where.append(ReviewTask.stage == stage)
    if start is not None:
        where.append(ReviewTask.opened_at >= from_local(datetime.combine(start, time())))
    if end is not None:
        where.append(ReviewTask.opened_at < from_local(
            datetime.combine(end + timedelta(days=1), time())))
    return where


# A round's slots share their opening time, so in this order each round is contiguous.
_ORDER = (ReviewTask.opened_at, ReviewTask.item_key, ReviewTask.stage, ReviewTask.round,
          ReviewTask.slot)


def _round_batches(session: Session, where: list) -> Iterator[list[list[ReviewTask]]]:
    """The rounds in [start, end], a batch at a time (seek pagination over the tasks), each
    task with its item, the challenge's enterprise and winning bid, and its decider."""
    challenge_load = (sa.orm.load_only(Challenge.id, Challenge.title, Challenge.industry,
                                       Challenge.organization_id, Challenge.winning_bid_id,
                                       Challenge.state),
                      sa.orm.joinedload(Challenge.organization).load_only(Organization.name),
                      sa.orm.joinedload(Challenge.winning_bid)
                      .load_only(Bid.challenge_id, Bid.organization_id, Bid.state,
                                 Bid.submitted_at)
                      .joinedload(Bid.organization).load_only(Organization.name))
    query = (sa.select(ReviewTask).where(*where).order_by(*_ORDER).limit(BATCH_TASKS)
             .options(sa.orm.joinedload(ReviewTask.challenge).options(*challenge_load),
                      sa.orm.selectinload(ReviewTask.certification),
                      sa.orm.selectinload(ReviewTask.listing),
                      sa.orm.joinedload(ReviewTask.decided_by).load_only(User.name)))
    pending: list[ReviewTask] = []  # the last round of a batch may go on in the next one
    after = None
    while True:
        page = query if after is None else query.where(sa.tuple_(*_ORDER) > after)
        tasks = list(session.execute(page).unique().scalars())
        if tasks:
            last = tasks[-1]
            after = (last.opened_at, last.item_key, last.stage, last.round, last.slot)
        rounds: list[list[ReviewTask]] = []
        for task in pending + tasks:
            if rounds and (task.item_key, task.stage, task.round) == _round_of(rounds[-1][0]):
                rounds[-1].append(task)
            else:
                rounds.append([task])
        if len(tasks) == BATCH_TASKS:
            pending = rounds.pop()
        else:
            pending = []
        if rounds:
            yield rounds
        if len(tasks) < BATCH_TASKS:
            return


def _round_of(task: ReviewTask) -> tuple:
    return (task.item_key, task.stage, task.round)


def _decisions(session: Session, task_ids: list[int]) -> dict[int, object]:
    if not task_ids:
        return {}
    return {decision.task_id: decision for decision in session.execute(
        sa.select(ReviewDecision.task_id, ReviewDecision.comment, ReviewDecision.created_at)
        .where(ReviewDecision.task_id.in_(task_ids)))}


def _sheets(session: Session, rounds: list[list[ReviewTask]]) -> dict[tuple, ScoreSheet]:
    """(item key, stage, round, reviewer id) -> sheet, for these rounds, scores loaded."""
    keys = {_round_of(tasks[0]) for tasks in rounds}
    found = {}
    for sheet in session.execute(
            sa.select(ScoreSheet).where(ScoreSheet.item_key.in_({k[0] for k in keys}))
            .order_by(ScoreSheet.id)
            .options(sa.orm.selectinload(ScoreSheet.scores),
                     sa.orm.joinedload(ScoreSheet.reviewer).load_only(User.name))).scalars():
        if (sheet.item_key, sheet.stage, sheet.round) in keys:
            found[(sheet.item_key, sheet.stage, sheet.round, sheet.reviewer_id)] = sheet
    return found


def _aliases(session: Session, challenge_ids: set[int]) -> dict[int, str]:
    """bid id -> "方案A" for these challenges' bids (blind.aliases' rule, without loading
    the bids' texts)."""
    if not challenge_ids:
        return {}
    by_challenge: dict[int, list] = defaultdict(list)
    for row in session.execute(
            sa.select(Bid.id, Bid.challenge_id, Bid.state, Bid.submitted_at)
            .where(Bid.challenge_id.in_(challenge_ids))).all():
        by_challenge[row.challenge_id].append(row)
    found: dict[int, str] = {}
    for bids in by_challenge.values():
        found.update(blind.aliases(SimpleNamespace(bids=bids)))
    return found


def _criteria(session: Session, stage: StageKey | None, where: list) -> list[str]:
    """The stage's rubric (or every stage's), then any other criterion scored in a round
    of the period (a rubric changed since): the score columns, known before any row."""
    configs = {s.key: s for s in all_stages()}
    criteria: list[str] = []
    for key in ([stage] if stage else list(StageKey)):
        for criterion in configs[key].criteria:
            if criterion.name not in criteria:
                criteria.append(criterion.name)
    scored = session.execute(
        sa.select(Score.criterion).join(ScoreSheet, Score.sheet_id == ScoreSheet.id)
        .join(ReviewTask, sa.and_(ReviewTask.item_key == ScoreSheet.item_key,
                                  ReviewTask.stage == ScoreSheet.stage,
                                  ReviewTask.round == ScoreSheet.round))
        .where(*where).group_by(Score.criterion)
        .order_by(sa.func.min(ScoreSheet.id), sa.func.min(Score.position))).scalars()
    criteria += [name for name in scored if name not in criteria]
    return criteria


def export_rows(stage: StageKey | None = None, start: date | None = None,
                end: date | None = None) -> Export:
    """Every review round opened in [start, end] (Shanghai dates; None: unbounded) at the
    stage (or all). The rows are produced as they are read, batch by batch, from a
    session of their own: iterate them within the app context."""
    session = Session(db.engine)
    where = _task_filters(stage, start, end)
    criteria = _criteria(session, stage, where)
    header = [_("编号"), _("类型"), _("标题"), _("行业"), _("发榜单位"), _("揭榜方"),
              _("审核阶段"), _("轮次"), _("进入阶段"), _("离开阶段"), _("停留天数"),
              _("停留工作日"), _("时限（工作日）"), _("是否超期"), _("阶段结果"), _("审核人"),
              _("结论"), _("审核意见"), _("结论时间")] + criteria + [_("加权得分"), _("评分说明")]
    return Export(header=header, rows=_rows(session, where, criteria))


def _rows(session: Session, where: list, criteria: list[str]) -> Iterator[list]:
    configs = {s.key: s for s in all_stages()}
    calendar = load_calendar()
    # every label translated once, not once a row
    # (the enums are str enums: keyed by type too, so "certification" the kind and the
    # stage stay apart)
    labels = {("kind", kind): str(label) for kind, label in KIND_LABELS.items()}
    labels.update({("industry", industry): industry.label for industry in Industry})
    labels.update({("result", result): result.label for result in TaskResult})
    labels.update({("stage", key): config.display_name for key, config in configs.items()})
    labels.update({"yes": _("是"), "no": _("否"), "approved": _("通过"),
                   "pending": _("审核中"), "ended": _("已结束")})
    results = {result: str(label) for result, label in ROUND_RESULTS.items()}
    now = utcnow()
    try:
        for rounds in _round_batches(session, where):
            decisions = _decisions(session, [t.id for tasks in rounds for t in tasks])
            sheets = _sheets(session, rounds)
            aliases = _aliases(session, {tasks[0].challenge_id for tasks in rounds
                                         if configs[tasks[0].stage].is_blind})
            for tasks in rounds:
                yield from _round_rows(tasks, configs[tasks[0].stage], criteria, decisions,
                                       sheets, aliases, calendar, labels, results, now)
            session.expunge_all()  # done with this batch: let it go
    finally:
        session.close()


def _round_rows(tasks: list[ReviewTask], config, criteria: list[str], decisions: dict,
                sheets: dict, aliases: dict, calendar, labels: dict, results: dict,
                now: datetime) -> Iterator[list]:
    key, stage_key, round_no = _round_of(tasks[0])
    item = tasks[0].item
    challenge = items.challenge_of(item)
    opened = tasks[0].opened_at
    closed = None if any(t.is_open for t in tasks) else max(t.closed_at for t in tasks)
    until = closed or now
    outcome = next((results[t.result] for t in tasks if t.result in
                    (TaskResult.returned, TaskResult.rejected)), None)
    if outcome is None:
        outcome = labels["approved"] if closed and any(
            t.result == TaskResult.approved for t in tasks) \
            else (labels["pending"] if closed is None else labels["ended"])
    bid = challenge.winning_bid
    bidder = "" if bid is None else (aliases.get(bid.id) or blind.alias_for_index(0)
                                     if config.is_blind else bid.organization.name)
    base = [key, labels["kind", items.kind_of(item)], items.title_of(item),
            labels["industry", challenge.industry], challenge.organization.name,
            bidder, labels["stage", stage_key], round_no, _fmt(opened),
            _fmt(closed), round((until - opened).total_seconds() / 86400, 2),
            working_days_between(opened, until, calendar), config.time_limit_days,
            labels["yes"] if until > tasks[0].due_at else labels["no"], outcome]
    reviewers: dict[int, dict] = {}
    for task in tasks:
        if task.decided_by_id is not None:
            decision = decisions.get(task.id)
            reviewers[task.decided_by_id] = {
                "name": task.decided_by.name,
                "outcome": labels["result", task.result] if task.result else "",
                "comment": decision.comment if decision else "",
                "at": _fmt(decision.created_at if decision else task.closed_at)}
    for (s_key, s_stage, s_round, reviewer_id), sheet in sheets.items():
        if (s_key, s_stage, s_round) == (key, stage_key, round_no):
            reviewers.setdefault(reviewer_id, {"name": sheet.reviewer.name, "outcome": "",
                                               "comment": "", "at": ""})
    if not reviewers:
        yield base + ["", "", "", ""] + [""] * len(criteria) + ["", ""]
        return
    for reviewer_id, info in reviewers.items():
        sheet = sheets.get((key, stage_key, round_no, reviewer_id))
        scores = [sheet.value_of(c) if sheet else None for c in criteria]
        yield (base + [info["name"], info["outcome"], info["comment"], info["at"]]
               + ["" if s is None else s for s in scores]
               + [sheet.weighted if sheet else "", sheet.comment if sheet else ""])


def _fmt(value: datetime | None) -> str:
    return to_local(value).strftime("%Y-%m-%d %H:%M") if value else ""


def csv_chunks(export: Export) -> Iterator[bytes]:
    """UTF-8 with a BOM, a few hundred rows per chunk; no cell is a formula (see
    :mod:`bounty.spreadsheets`)."""
    return spreadsheets.iter_csv(export.header, export.rows)


def write_xlsx(export: Export, target) -> None:
    """One sheet of text and numbers, written row by row to ``target`` (a path or a
    binary file); no cell is a formula."""
    spreadsheets.write_xlsx(target, _("审核记录"), export.header, export.rows)
