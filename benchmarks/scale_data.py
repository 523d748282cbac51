"""A platform-scale dataset: years of history on top of ``bounty demo``, in minutes.

    export BOUNTY_INSTANCE=/tmp/scale BOUNTY_EMBEDDER=none   # or DATABASE_URL=postgresql://...
    bounty db upgrade && bounty demo
    python benchmarks/scale_data.py --challenges 10000 [--seed 14] [--vectors synthetic|none]

Writes into the instance that BOUNTY_INSTANCE / DATABASE_URL name, with bulk inserts
(never the web forms), the rows the services would have written for that history:
organisations (verified), users with their memberships, challenges with indicators
walked through the life cycle (5% open; the rest vetting, returned, rejected, drafts,
evaluating, award review, failed, in progress, acceptance review and mostly completed),
about ``--bids`` bids per challenge from distinct institutes with their milestones
(reported and confirmed for the winners), review tasks per round and the decisions
that closed them (due dates in working days from the holiday calendar), and one
audit event per transition, appended to the existing chain with the project's own
hash (``AuditEvent.compute_hash`` with the configured key), so ``bounty audit verify``
passes. Figures at 10,000 challenges: 300 institutes, ~1,300 users, ~100,000 bids,
~24,000 tasks and decisions, ~200,000 audit events.

The demo users take part: the demo enterprises post a share of the challenges, the
demo institutes bid like the others (~330 bids each), the demo reviewers decided a
share of the past rounds and hold open tasks (刘审核 审题, 许专家 揭榜结果审核, 赵验收 验收).
Texts are the matching benchmark's corpus generator (benchmarks/matching_bench.py):
Chinese sentences in the platform's genre with English terms, codes and units.

Not written: e-mails and notifications of that history (the outbox), visits,
attachments, certification and market records. Every generated user shares the demo
password's hash (scrypt per user would take minutes); log in with the demo users.

Vectors: with ``--vectors synthetic`` (the default) every indexed document gets a
random unit vector (and random latent terms) stored under the configured model's key
and its text's real hash, as matching_bench does, so dense search runs over 10,000
challenges without embedding 110,000 texts with the model (hours on this machine);
bids get no sentence vectors. Rankings are then meaningless but cost what real ones
cost. ``--vectors none`` leaves them out (the pages rank by words alone). Then the
search index is rebuilt from the database, as ``bounty reindex`` does. Seeded: the
same arguments give the same rows.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask import current_app  # noqa: E402
from matching_bench import INDUSTRIES, TOPICS, text_of  # noqa: E402

from bounty import create_app  # noqa: E402
from bounty.accounts.models import (  # noqa: E402
    MembershipStatus,
    Organization,
    OrganizationMembership,
    OrgKind,
    Role,
    User,
)
from bounty.audit import GENESIS, AuditEvent, AuditHead  # noqa: E402
from bounty.audit_keys import audit_keys  # noqa: E402
from bounty.challenges.models import (  # noqa: E402
    Bid,
    BidState,
    Category,
    Challenge,
    ChallengeIndicator,
    ChallengeState,
    Industry,
    IPTerms,
    Milestone,
)
from bounty.demo import USERS as DEMO_USERS  # noqa: E402
from bounty.demo import demo_uscc  # noqa: E402
from bounty.extensions import db  # noqa: E402
from bounty.review.assignment import ReviewTask, TaskResult  # noqa: E402
from bounty.review.models import Outcome, ReviewDecision, StageKey  # noqa: E402
from bounty.review.stages import ReviewStage  # noqa: E402
from bounty.review.workdays import Holiday, is_working_day  # noqa: E402
from bounty.stats.backfill import rebuild as rebuild_stats  # noqa: E402
from bounty.timeutil import from_local, to_local, utcnow  # noqa: E402

S = ChallengeState
DAY = timedelta(days=1)
# share of challenges per final state (the rest completed): 5% open, as the figures
STATE_SHARES = [(S.open, 0.05), (S.draft, 0.015), (S.vetting, 0.01), (S.returned, 0.005),
                (S.rejected, 0.01), (S.evaluating, 0.01), (S.award_review, 0.01),
                (S.failed, 0.04), (S.in_progress, 0.10), (S.acceptance_review, 0.02)]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强海波晓燕立群文博宇航子涵浩然思远俊杰欣怡雨轩"  # noqa: E501
PLACES = ["温州", "瓯海", "瑞安", "乐清", "永嘉", "平阳", "苍南", "文成", "泰顺", "鹿城", "龙湾",
          "洞头", "丽水", "台州", "金华", "宁波", "杭州", "绍兴", "嘉兴", "湖州"]
FIRM_WORDS = ["精工", "恒达", "瑞丰", "华瓯", "东方", "正泰", "远航", "新创", "宏业", "金鼎",
              "安泰", "博远", "盛世", "鼎新", "天成", "永信", "中瓯", "汇通", "凯越", "嘉禾"]
FIRM_KINDS = {"apparel": "服饰", "footwear": "鞋业", "eyewear": "眼镜", "smart_lock": "智能科技",
              "auto_parts": "汽车部件", "electrical": "电气", "health": "医疗器械",
              "smart_equipment": "智能装备", "digital": "信息技术", "optoelectronic": "光电",
              "new_materials": "新材料", "other": "实业"}
INSTITUTE_KINDS = ["大学", "职业技术学院", "研究院", "工业技术研究院", "新材料研究所",
                   "智能制造创新中心"]
COMMENTS = {
    "approve_vetting": "需求明确，指标可考核，同意发榜。",
    "return_vetting": "请补充关键技术指标的测试方法与验收口径，明确现有工艺的瓶颈数据。",
    "reject_vetting": "需求属一般性技术改造，不属于关键核心技术攻关，建议通过其他渠道解决。",
    "approve_award": "揭榜方技术路线可行、团队基础扎实，报价合理，同意企业选定结果。",
    "approve_acceptance": "各项技术指标经第三方检测均达到榜单要求，同意验收。",
}
INDICATOR_NAMES = [("良品率", "≥", "%"), ("单件节拍", "≤", "秒"), ("定位精度", "≤", "mm"),
                   ("使用寿命", "≥", "h"), ("能耗降低", "≥", "%"), ("待机电流", "≤", "μA"),
                   ("检测准确率", "≥", "%"), ("耐磨次数", "≥", "次")]


class Writer:
    """Bulk inserts with ids chosen here (the next free ids of each table)."""

    def __init__(self) -> None:
        self.rows: dict[sa.Table, list[dict]] = {}
        self.next_id: dict[sa.Table, int] = {}

    def add(self, model, **row) -> int:  # noqa: ANN001
        table = model.__table__
        if table not in self.next_id:
            self.next_id[table] = (db.session.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1
        row["id"] = self.next_id[table]
        self.next_id[table] += 1
        self.rows.setdefault(table, []).append(row)
        return row["id"]

    def flush(self, order: list) -> dict[str, int]:  # noqa: ANN001
        counts = {}
        conn = db.session.connection()
        # a challenge's winning bid is set once the bids are in (the foreign keys)
        winners = [{"cid": row["id"], "wb": row.pop("winning_bid_id")}
                   for row in self.rows.get(Challenge.__table__, [])]
        for model in order:
            table = model.__table__
            rows = self.rows.pop(table, [])
            if table is Challenge.__table__:
                rows = [{**row, "winning_bid_id": None} for row in rows]
            for start in range(0, len(rows), 5000):
                conn.execute(sa.insert(table), rows[start:start + 5000])
            counts[table.name] = len(rows)
        table = Challenge.__table__
        conn.execute(table.update().where(table.c.id == sa.bindparam("cid"))
                     .values(winning_bid_id=sa.bindparam("wb")),
                     [w for w in winners if w["wb"] is not None])
        if conn.dialect.name == "postgresql":  # the sequences continue after our ids
            for table, next_id in self.next_id.items():
                conn.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"GREATEST({next_id - 1}, 1))"))
        return counts


class Calendar:
    """add_working_days over the holiday table loaded once (the service reads it per call)."""

    def __init__(self) -> None:
        self.exceptions = dict(db.session.execute(sa.select(Holiday.day, Holiday.is_workday)).all())

    def add(self, start: datetime, days: int) -> datetime:
        local = to_local(start)
        day: date = local.date()
        counted = 0
        while counted < days:
            day += DAY
            if is_working_day(day, self.exceptions):
                counted += 1
        return from_local(datetime.combine(day, local.time().replace(tzinfo=None)))


class History:
    """Generates the rows; ``events`` are (when, order, fields) until they are chained."""

    def __init__(self, args: argparse.Namespace, now: datetime) -> None:
        self.rng = random.Random(args.seed)
        self.args = args
        self.now = now
        self.w = Writer()
        self.events: list[tuple[datetime, int, dict]] = []
        self.cal = Calendar()
        self.stage_days = dict(db.session.execute(
            sa.select(ReviewStage.key, ReviewStage.time_limit_days)).all())
        self.password_hash = db.session.scalar(
            sa.select(User.password_hash).where(User.email == "admin@example.com"))
        self.serial = 50000

    # ------------------------------------------------------------------ helpers
    def event(self, at: datetime, actor: int | None, action: str, subject_type: str,
              subject_id: int, challenge_id: int | None = None, from_state=None,  # noqa: ANN001
              to_state=None, comment: str = "") -> None:  # noqa: ANN001
        self.events.append((at, len(self.events), {
            "actor_id": actor, "action": action, "subject_type": subject_type,
            "subject_id": subject_id, "challenge_id": challenge_id,
            "from_state": str(from_state) if from_state is not None else None,
            "to_state": str(to_state) if to_state is not None else None,
            "comment": comment, "created_at": at}))

    def when(self, start: datetime, lo: float, hi: float) -> datetime:
        """A moment lo..hi days after start, at office hours (Shanghai)."""
        t = start + timedelta(days=self.rng.uniform(lo, hi))
        local = to_local(t)
        return from_local(datetime.combine(local.date(), datetime.min.time())
                          + timedelta(hours=self.rng.uniform(9, 17.5)))

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.sample(GIVEN, self.rng.randint(1, 2)))

    def org(self, name: str, kind: OrgKind, prefix: str, created: datetime,
            expertise: str = "", keywords: str = "") -> int:
        self.serial += 1
        org_id = self.w.add(
            Organization, name=name, kind=kind, uscc=demo_uscc(prefix, "330304", self.serial),
            region="浙江省温州市" + self.rng.choice(
                ["瓯海区", "鹿城区", "龙湾区", "瑞安市", "乐清市"]),
            contact_name=self.name(), contact_phone=f"0577-8{self.serial:07d}",
            description=text_of(self.rng, keywords.split() or [name], 40, 120),
            expertise=expertise, keywords=keywords, verified_at=created, created_at=created)
        self.event(created, None, "verify_organization", "organization", org_id,
                   to_state="verified")
        return org_id

    def user(self, email: str, role: Role, org_id: int, created: datetime) -> int:
        user_id = self.w.add(
            User, email=email, name=self.name(), password_hash=self.password_hash, role=role,
            organization_id=org_id, membership=MembershipStatus.active,
            session_token=f"{self.rng.getrandbits(128):032x}", locale="zh_CN",
            is_disabled=False, is_lead_reviewer=False, created_at=created)
        self.w.add(OrganizationMembership, user_id=user_id, organization_id=org_id,
                   joined_at=created, left_at=None)
        self.event(created, None, "create_user", "user", user_id, to_state=role.value)
        return user_id

    # ------------------------------------------------------------------ people
    def people(self) -> None:
        scale = self.args.challenges / 10_000
        rng = self.rng
        start = self.now - timedelta(days=4 * 365 + 60)
        demo = {u.email: u for u in db.session.scalars(sa.select(User))}
        self.reviewers_demo = [demo[u.email].id for u in DEMO_USERS if u.role == Role.reviewer]
        gov = [demo[u.email].organization_id for u in DEMO_USERS if u.role == Role.reviewer]
        # enterprises: the demo ones weigh three times as much as a generated one
        self.enterprises: list[tuple[int, list[int]]] = []  # (org, users)
        weights: list[float] = []
        for u in DEMO_USERS:
            if u.role == Role.enterprise:
                self.enterprises.append((demo[u.email].organization_id, [demo[u.email].id]))
                weights.append(3.0)
        self.institutes: list[tuple[int, list[int]]] = []
        for u in DEMO_USERS:
            if u.role == Role.institute:
                self.institutes.append((demo[u.email].organization_id, [demo[u.email].id]))
        n_ent = max(20, round(650 * scale))
        n_inst = max(20, round(300 * scale))
        industries = list(Industry)
        for i in range(n_ent):
            created = self.when(start, 0, 200)
            ind = rng.choice(industries)
            name = (f"{rng.choice(PLACES)}{rng.choice(FIRM_WORDS)}{FIRM_KINDS[ind.value]}"
                    f"有限公司（{i + 1}）")
            org_id = self.org(name, OrgKind.enterprise, "91", created)
            self.enterprises.append((org_id, [self.user(f"ent{i + 1}@scale.example.com",
                                                        Role.enterprise, org_id, created)]))
            weights.append(1.0)
        self.enterprise_weights = weights
        for i in range(len(self.institutes), n_inst):
            created = self.when(start, 0, 200)
            topics = rng.sample(TOPICS, 5)
            name = f"{rng.choice(PLACES)}{rng.choice(INSTITUTE_KINDS)}（{i + 1}）"
            org_id = self.org(name, OrgKind.institute, rng.choice(["12", "52"]), created,
                              expertise="、".join(topics) + "。" + text_of(rng, topics, 60, 200),
                              keywords=" ".join(topics[:4]))
            users = [self.user(f"inst{i + 1}-{k}@scale.example.com", Role.institute, org_id,
                               created) for k in (1, 2)]
            self.institutes.append((org_id, users))
        self.reviewers = list(self.reviewers_demo)
        for i in range(max(5, round(40 * scale))):
            self.reviewers.append(self.user(f"reviewer{i + 1}@scale.example.com", Role.reviewer,
                                            gov[i % len(gov)], self.when(start, 0, 30)))
        self.user("admin2@scale.example.com", Role.admin,
                  demo["admin@example.com"].organization_id, self.when(start, 0, 30))

    # ------------------------------------------------------------------ challenges
    def pick_state(self) -> ChallengeState:
        r = self.rng.random()
        for state, share in STATE_SHARES:
            if r < share:
                return state
            r -= share
        return S.completed

    def challenges(self) -> None:
        for _ in range(self.args.challenges):
            self.challenge(self.pick_state())

    def challenge(self, target: ChallengeState) -> None:
        rng, w, now = self.rng, self.w, self.now
        org_id, users = rng.choices(self.enterprises, self.enterprise_weights)[0]
        owner = users[0]
        k = rng.randrange(len(INDUSTRIES))
        topics = rng.sample(TOPICS, 4)
        # how far back it started: what its state needs, and for finished ones up to 4 years
        back = {S.draft: (0, 60), S.vetting: (1, 4), S.returned: (3, 15), S.rejected: (3, 700),
                S.open: (8, 25), S.evaluating: (67, 70), S.award_review: (76, 80),
                S.failed: (70, 1400), S.in_progress: (100, 300),
                S.acceptance_review: (230, 240)}.get(target, (260, 1400))
        created = self.when(now - timedelta(days=back[1]), 0, back[1] - back[0])
        reviewers = rng.sample(self.reviewers, 3)
        if rng.random() < 0.3:  # the demo reviewers decide their share of each stage
            reviewers = self.reviewers_demo[:3]
        months = rng.randint(6, 36)
        cid = w.add(
            Challenge, organization_id=org_id, created_by_id=owner,
            title="".join(topics[:2]) + rng.choice(
                ["关键技术攻关", "工艺优化", "国产化替代", "智能化改造"]),
            industry=list(Industry)[k], category=rng.choice(list(Category)),
            background=text_of(rng, topics, 200, 1200), bottleneck=text_of(rng, topics, 80, 300),
            expected_outcome=text_of(rng, topics, 60, 200),
            bounty_yuan=rng.randint(5, 500) * 10_000, bid_deadline=None, delivery_months=months,
            ip_terms=rng.choice(list(IPTerms)), keywords=" ".join(topics[:3]), state=target,
            published_at=None, winning_bid_id=None, created_at=created, updated_at=created,
            version=1)
        row = w.rows[Challenge.__table__][-1]
        for pos in range(rng.randint(2, 4)):
            name, op, unit = rng.choice(INDICATOR_NAMES)
            w.add(ChallengeIndicator, challenge_id=cid, position=pos, name=name,
                  target=f"{op}{rng.randint(1, 99)}", unit=unit)
        self.event(created, owner, "create", "challenge", cid, cid, to_state=S.draft)
        version = 1

        def step(at: datetime, actor, action: str, frm, to, comment: str = "") -> None:  # noqa: ANN001
            nonlocal version
            version += 1
            row.update(state=to, updated_at=at, version=version)
            self.event(at, actor, action, "challenge", cid, cid, frm, to, comment)

        deadline_days = rng.randint(30, 60)
        row["bid_deadline"] = from_local(datetime.combine(
            to_local(created).date() + timedelta(days=deadline_days + 5), datetime.min.time())
            + timedelta(hours=17))
        if target == S.draft:
            row["state"] = S.draft
            return
        t = self.when(created, 0, 1)
        step(t, owner, "submit", S.draft, S.vetting)
        rounds = 1
        if target == S.returned or (target != S.vetting and rng.random() < 0.1):
            t = self.review(cid, StageKey.vetting, rounds, t, reviewers[0],
                            Outcome.return_, "return_vetting", S.vetting, S.returned, step)
            if target == S.returned:
                return
            t = self.when(t, 1, 4)
            step(t, owner, "submit", S.returned, S.vetting)
            rounds += 1
        if target == S.vetting:
            self.open_task(cid, StageKey.vetting, rounds, t, self.reviewers_demo[0])
            return
        if target == S.rejected:
            self.review(cid, StageKey.vetting, rounds, t, reviewers[0],
                        Outcome.reject, "reject_vetting", S.vetting, S.rejected, step)
            return
        t = self.review(cid, StageKey.vetting, rounds, t, reviewers[0],
                        Outcome.approve, "approve_vetting", S.vetting, S.open, step)
        row["published_at"] = t
        deadline = max(row["bid_deadline"], t + timedelta(days=8))
        row["bid_deadline"] = deadline
        # bids from distinct institutes, submitted while open
        n_bids = 0 if target == S.failed else max(1, round(rng.gauss(10.5, 3)))
        open_until = min(deadline, now)
        bidders = rng.sample(self.institutes, min(n_bids, len(self.institutes)))
        bids = []
        for org, members in bidders:
            submitted = t + (open_until - t) * rng.random()
            if submitted >= now:
                continue
            draft = target == S.open and rng.random() < 0.1
            bids.append(self.bid(cid, org, rng.choice(members), topics, submitted, draft))
        if target == S.open:
            return
        if not bids:
            step(deadline, None, "close_unbid", S.open, S.failed)
            return
        step(deadline, None, "close_bidding", S.open, S.evaluating)
        if target == S.evaluating:
            return
        winner_id, winner_user, milestones = rng.choice(bids)
        row["winning_bid_id"] = winner_id
        t = self.when(deadline, 2, 8)
        step(t, owner, "select_bid", S.evaluating, S.award_review)
        if target == S.award_review:
            self.open_task(cid, StageKey.award, 1, t, self.reviewers_demo[1])
            return
        t = self.review(cid, StageKey.award, 1, t, reviewers[1], Outcome.approve,
                        "approve_award", S.award_review, S.in_progress, step)
        for n, (mid, mrow) in enumerate(milestones):
            reported = self.when(t, 20, 40)
            if reported >= now:
                break
            mrow.update(report=f"{mrow['name']}已完成，交付物：{mrow['deliverable']}。",
                        reported_at=reported)
            self.event(reported, winner_user, "report_milestone", "milestone", mid, cid,
                       comment=mrow["name"])
            t = self.when(reported, 1, 3)
            if t >= now or (target == S.in_progress and n == len(milestones) - 1):
                break
            mrow["confirmed_at"] = t
            self.event(t, owner, "confirm_milestone", "milestone", mid, cid, comment=mrow["name"])
        if target == S.in_progress:
            return
        for _mid, mrow in milestones:  # an acceptance needs every milestone confirmed
            if mrow["confirmed_at"] is None:
                mrow.update(report=f"{mrow['name']}已完成，交付物：{mrow['deliverable']}。",
                            reported_at=min(t, now - DAY), confirmed_at=min(t, now - DAY))
        t = min(t, now - DAY)
        step(t, owner, "request_acceptance", S.in_progress, S.acceptance_review)
        if target == S.acceptance_review:
            self.open_task(cid, StageKey.acceptance, 1, t, self.reviewers_demo[2])
            return
        self.review(cid, StageKey.acceptance, 1, t, reviewers[2],
                    Outcome.approve, "approve_acceptance", S.acceptance_review, S.completed,
                    step)

    def bid(self, cid: int, org: int, user: int, topics: list[str], at: datetime,
            draft: bool) -> tuple[int, int, list]:
        rng = self.rng
        btopics = topics[:2] + rng.sample(TOPICS, 2)
        duration = rng.randint(6, 24)
        state = BidState.draft if draft else BidState.submitted
        bid_id = self.w.add(
            Bid, challenge_id=cid, organization_id=org, created_by_id=user,
            title="".join(btopics[:2]) + rng.choice(["解决方案", "技术方案", "攻关方案"]),
            approach=text_of(rng, btopics, 300, 1400), team_lead=self.name() + "教授",
            team_members=f"博士 {rng.randint(1, 5)} 名、高级工程师 {rng.randint(1, 6)} 名、"
                         f"研究生 {rng.randint(2, 9)} 名",
            lab=rng.choice(btopics) + "重点实验室", quote_yuan=rng.randint(5, 400) * 10_000,
            duration_months=duration, prior_results=text_of(rng, btopics, 40, 160),
            state=state, submitted_at=None if draft else at, created_at=at - timedelta(hours=6),
            updated_at=at, version=1)
        milestones = []
        n = rng.randint(2, 3)
        for pos in range(n):
            name = rng.choice(btopics) + rng.choice(
                ["样机研制", "工艺验证", "中试", "小批量试产", "算法原型"])
            mid = self.w.add(Milestone, bid_id=bid_id, position=pos, name=name,
                             month=max(1, duration * (pos + 1) // n),
                             deliverable=f"{name}报告及测试数据", report="", reported_at=None,
                             confirmed_at=None)
            milestones.append((mid, self.w.rows[Milestone.__table__][-1]))
        self.event(at, user, "save_bid" if draft else "submit_bid", "bid", bid_id, cid,
                   to_state=state)
        return bid_id, user, milestones

    def review(self, cid: int, key: StageKey, round_no: int, opened: datetime,
               reviewer: int, outcome: Outcome, action: str, frm, to, step) -> datetime:  # noqa: ANN001
        """A closed round: its task, the decision that closed it, the transition."""
        decided = min(self.when(opened, 1, 1.5 * self.stage_days[key]), self.now - DAY / 2)
        decided = max(decided, opened + timedelta(hours=1))
        task = self.w.add(
            ReviewTask, item_key=f"challenge:{cid}", stage=key, round=round_no, slot=1,
            challenge_id=cid, certification_id=None, listing_id=None, assignee_id=reviewer,
            assigned_at=opened + timedelta(hours=2), assigned_by_id=None, opened_at=opened,
            due_at=self.cal.add(opened, self.stage_days[key]), closed_at=decided,
            result={Outcome.approve: TaskResult.approved, Outcome.return_: TaskResult.returned,
                    Outcome.reject: TaskResult.rejected}[outcome],
            decided_by_id=reviewer, overdue_notified_at=None)
        comment = COMMENTS[action]
        self.w.add(ReviewDecision, challenge_id=cid, stage=key, outcome=outcome,
                   comment=comment, reviewer_id=reviewer, created_at=decided, task_id=task)
        step(decided, reviewer, action, frm, to, comment)
        return decided

    def open_task(self, cid: int, key: StageKey, round_no: int, opened: datetime,
                  demo_reviewer: int) -> None:
        """A waiting item's open slot: half with the stage's demo reviewer, some with
        another reviewer, the rest not yet assigned."""
        r = self.rng.random()
        assignee = (demo_reviewer if r < 0.5 else self.rng.choice(self.reviewers) if r < 0.8
                    else None)
        self.w.add(ReviewTask, item_key=f"challenge:{cid}", stage=key, round=round_no, slot=1,
                   challenge_id=cid, certification_id=None, listing_id=None,
                   assignee_id=assignee, assigned_at=opened if assignee else None,
                   assigned_by_id=self.reviewers_demo[0] if assignee else None,
                   opened_at=opened, due_at=self.cal.add(opened, self.stage_days[key]),
                   closed_at=None, result=None, decided_by_id=None, overdue_notified_at=None)

    # ------------------------------------------------------------------ audit chain
    def chain(self) -> int:
        """Append the events in time order to the chain, hashed as record_event does."""
        keys = audit_keys(current_app.config)
        head = db.session.get(AuditHead, 1)
        seq, prev = (head.seq, head.last_hash) if head else (0, GENESIS)
        next_id = (db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0) + 1
        rows = []
        for _at, _, fields in sorted(self.events, key=lambda e: (e[0], e[1])):
            seq += 1
            event = AuditEvent(seq=seq, prev_hash=prev, key_id=keys.current_id, **fields)
            prev = event.compute_hash(keys.current)
            rows.append({"id": next_id, "seq": seq, "prev_hash": event.prev_hash, "hash": prev,
                         "key_id": keys.current_id, **fields})
            next_id += 1
        conn = db.session.connection()
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(AuditEvent.__table__), rows[start:start + 5000])
        if head is None:
            db.session.add(AuditHead(id=1, seq=seq, last_hash=prev))
        else:
            head.seq, head.last_hash = seq, prev
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('audit_events', 'id'), "
                                 f"GREATEST({next_id - 1}, 1))"))
        return len(rows)


def synthetic_vectors(docs, dim: int, model: str, seed: int):  # noqa: ANN001, ANN201
    """Pass documents through, storing a random vector (or latent terms) per document and
    role under the text's real hash (so nothing is queued as stale), as matching_bench does."""
    from semantic_parts import synthetic_vector

    from bounty.matching.models import DocVector
    from bounty.matching.vectors import ROLES, embed_text, text_hash

    rng = np.random.default_rng(seed)
    now = utcnow()
    rows: list[dict] = []
    table = DocVector.__table__

    def write() -> None:
        with db.engine.begin() as conn:
            conn.execute(sa.insert(table), rows)
        rows.clear()

    for doc in docs:
        digest = text_hash(embed_text(doc))
        for role in ROLES[doc["kind"]]:
            width, data = synthetic_vector(role, rng, dim)
            rows.append({"kind": doc["kind"], "doc_id": str(doc["id"]), "role": role,
                         "model": model, "text_hash": digest, "dim": width,
                         "vector": data, "updated_at": now})
        if len(rows) >= 5000:
            write()
        yield doc
    if rows:
        write()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--challenges", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--vectors", choices=("synthetic", "none"), default="synthetic")
    ap.add_argument("--no-index", action="store_true", help="leave the search index alone")
    args = ap.parse_args()
    app = create_app()
    with app.app_context():
        if db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0:
            sys.exit("run `bounty db upgrade` and `bounty demo` first")
        if db.session.scalar(sa.select(User.id).where(User.email.like("%@scale.example.com"))):
            sys.exit("this instance already holds a generated dataset")
        t0 = time.perf_counter()
        # the clock of the history: now, to the second, so the seed fixes everything else
        now = utcnow().replace(microsecond=0)
        history = History(args, now)
        history.people()
        history.challenges()
        counts = history.w.flush([Organization, User, OrganizationMembership, Challenge,
                                  ChallengeIndicator, Bid, Milestone, ReviewTask,
                                  ReviewDecision])
        counts["audit_events"] = history.chain()
        db.session.commit()
        with db.engine.begin() as connection:  # bulk rows bypass the statistics' hooks
            counts["stats_rows"] = rebuild_stats(connection)
        print(f"# rows: {counts} in {time.perf_counter() - t0:.1f} s", flush=True)
        if not args.no_index:
            index(app, args)
        print(f"# total {time.perf_counter() - t0:.1f} s", flush=True)


def index(app, args: argparse.Namespace) -> None:  # noqa: ANN001
    """Synthetic vectors (or none), then the full-text index rebuilt as `bounty reindex`."""
    from sqlalchemy.orm import Session

    from bounty.matching import get_engine, get_matcher, indexing
    from bounty.matching.healing import rebuild_procs

    t0 = time.perf_counter()
    embedder = get_matcher().embedder
    with Session(db.engine) as session:
        docs = indexing.all_docs(session)
        if args.vectors == "synthetic":
            if embedder is None:
                from bounty.matching.embedder import load_embedder

                embedder = load_embedder("e5-small")
            docs = synthetic_vectors(docs, embedder.dim, embedder.key, args.seed)
        from tqdm import tqdm

        total = indexing.count_docs(session)
        with tqdm(total=total, unit="doc", desc="index") as bar:
            n = get_engine().rebuild(docs, progress=bar.update, procs=rebuild_procs(total))
    print(f"# index: {n} documents in {time.perf_counter() - t0:.1f} s "
          f"({n / (time.perf_counter() - t0):.0f} docs/s, vectors {args.vectors})", flush=True)


if __name__ == "__main__":
    main()
