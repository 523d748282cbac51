"""Transactional notifications: receivers of the domain signals write outbox rows.

Signals are sent inside the service's transaction, so an outbox row commits
or rolls back with the change that caused it; the drain job sends it later.
Each user can turn each kind off (settings page, or the unsubscribe link of
any notification of that kind).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..accounts.models import MembershipStatus, Role, User
from ..challenges.models import Bid, BidState, Challenge, ChallengeState
from ..extensions import db
from ..signals import (
    bid_saved,
    challenge_transitioned,
    institute_invited,
    registration_repeated,
    registration_requested,
    review_assigned,
    review_overdue,
    user_registered,
)
from ..timeutil import to_local, utcnow
from . import emails, outbox
from .links import absolute_url
from .models import ChallengeVisit, NotificationKind, Subscription
from .services import ensure_default_subscription, is_notification_enabled

K = NotificationKind


def members(organization_id: int | None, role: Role) -> list[User]:
    """Active members of an organisation with the given role."""
    if organization_id is None:
        return []
    return list(db.session.execute(
        sa.select(User).where(User.organization_id == organization_id, User.role == role,
                              User.membership == MembershipStatus.active,
                              User.is_disabled.is_(False))
        .order_by(User.id)
    ).scalars())


def notify(user: User, kind: NotificationKind, subject_id: str, *, subject: str,
           paragraphs: list[str], link: str | None = None, link_label: str | None = None,
           comment: str = "") -> bool:
    """Record one notification for one user, in the current transaction, rendered in the
    current locale (see :func:`send_notification`). False when the user turned this kind
    off, cannot receive mail, or already has this one (same kind, subject and user)."""
    dedup_key = f"notify:{kind.value}:{subject_id}:{user.id}"
    if not user.is_active or not is_notification_enabled(user, kind) or outbox.exists(dedup_key):
        return False
    unsubscribe, headers = emails.list_headers(user.id, kind.value)
    text, html = emails.render_pair(
        "notification", user=user, subject=subject, paragraphs=paragraphs, link=link,
        link_label=link_label or _("查看详情"), comment=comment, kind_label=kind.label,
        unsubscribe_url=unsubscribe, settings_url=emails.settings_url())
    outbox.enqueue([{
        "kind": kind.value, "user_id": user.id, "recipient": user.email, "subject": subject,
        "text_body": text, "html_body": html, "headers": headers,
        "dedup_key": dedup_key,
    }])
    return True


def send_notification(users: list[User], kind: NotificationKind, subject_id: str, compose,
                      **extra) -> int:
    """``compose(user)`` → dict(subject, paragraphs, link, link_label, comment), called in
    each recipient's language; ``extra`` is shared by all of them, so text in it must be
    lazy (``_l``). Returns how many were recorded."""
    count = 0
    for user in users:
        with emails.recipient_locale(user.locale):
            count += notify(user, kind, subject_id, **compose(user), **extra)
    return count


def _challenge_link(challenge: Challenge) -> str:
    return absolute_url("challenges.detail", challenge_id=challenge.id)


def _deadline(challenge: Challenge) -> str:
    local = to_local(challenge.bid_deadline)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


def _submitted_bids(challenge: Challenge) -> list[Bid]:
    return list(db.session.execute(
        sa.select(Bid).where(Bid.challenge_id == challenge.id, Bid.state == BidState.submitted)
        .order_by(Bid.id)
    ).scalars())


# --------------------------------------------------------------------------- challenge events


def on_challenge_transitioned(challenge: Challenge, transition, actor=None, comment: str = "",
                              **_kwargs) -> None:
    action = transition.action
    handler = _HANDLERS.get(action)
    if handler is not None:
        handler(challenge, comment)


def _vetting(kind: NotificationKind, challenge: Challenge, comment: str) -> None:
    owners = members(challenge.organization_id, Role.enterprise)
    # A challenge can be returned, resubmitted and returned again: one email per decision.
    subject_id = f"{challenge.id}v{challenge.version}"

    def compose(_user):
        title = challenge.title
        if kind == K.challenge_approved:
            return {"subject": _("榜单「%(title)s」审题通过，已发榜", title=title),
                    "paragraphs": [_("您的榜单「%(title)s」已通过审题并正式发榜，揭榜截止时间为 "
                                     "%(deadline)s。", title=title, deadline=_deadline(challenge))]}
        if kind == K.challenge_returned:
            return {"subject": _("榜单「%(title)s」被退回修改", title=title),
                    "paragraphs": [_("您的榜单「%(title)s」在审题中被退回修改，请根据审核意见修改后"
                                     "重新提交。", title=title)],
                    "comment": comment}
        return {"subject": _("榜单「%(title)s」审题不予通过", title=title),
                "paragraphs": [_("很遗憾，您的榜单「%(title)s」审题不予通过。", title=title)],
                "comment": comment}

    send_notification(owners, kind, subject_id, compose, link=_challenge_link(challenge),
                      link_label=_l("查看榜单"))


def _bidding_closed(challenge: Challenge, _comment: str) -> None:
    bids = _submitted_bids(challenge)
    subject_id = f"{challenge.id}v{challenge.version}"
    title = challenge.title

    def compose_owner(_user):
        if not bids:
            return {"subject": _("榜单「%(title)s」揭榜截止，无人揭榜", title=title),
                    "paragraphs": [_("您的榜单「%(title)s」已到揭榜截止时间，未收到揭榜方案，"
                                     "榜单已流榜。", title=title)]}
        return {"subject": _("榜单「%(title)s」揭榜截止，请评选方案", title=title),
                "paragraphs": [_("您的榜单「%(title)s」已到揭榜截止时间，共收到 %(count)d 份"
                                 "揭榜方案，现已开启，请登录平台评选。", title=title,
                                 count=len(bids))]}

    def compose_bidder(_user):
        return {"subject": _("榜单「%(title)s」揭榜已截止", title=title),
                "paragraphs": [_("您参与揭榜的榜单「%(title)s」已截止，发榜企业正在评选，结果将另行"
                                 "通知。", title=title)]}

    link = _challenge_link(challenge)
    send_notification(members(challenge.organization_id, Role.enterprise), K.bidding_closed,
                      subject_id, compose_owner, link=link)
    for bid in bids:
        send_notification(members(bid.organization_id, Role.institute), K.bidding_closed,
                          subject_id, compose_bidder, link=link)


def _award_decided(challenge: Challenge, _comment: str) -> None:
    """After the award is confirmed (or the challenge fails): tell every bidder."""
    title = challenge.title
    link = _challenge_link(challenge)
    winner_id = challenge.winning_bid_id if challenge.state == ChallengeState.in_progress else None

    def selected(_user):
        return {"subject": _("恭喜！您的揭榜方案已中选：「%(title)s」", title=title),
                "paragraphs": [_("您对榜单「%(title)s」提交的揭榜方案已被选定，并通过揭榜结果审核。"
                                 "请登录平台查看后续攻关安排。", title=title)]}

    def not_selected(_user):
        return {"subject": _("揭榜结果：「%(title)s」", title=title),
                "paragraphs": [_("感谢您参与榜单「%(title)s」的揭榜。很遗憾，您的方案此次未中选。",
                                 title=title)]}

    for bid in _submitted_bids(challenge):
        users = members(bid.organization_id, Role.institute)
        if bid.id == winner_id:
            send_notification(users, K.bid_selected, str(challenge.id), selected, link=link)
        else:
            send_notification(users, K.bid_not_selected, str(challenge.id), not_selected,
                              link=link)


_HANDLERS = {
    "approve_vetting": lambda c, m: _vetting(K.challenge_approved, c, m),
    "return_vetting": lambda c, m: _vetting(K.challenge_returned, c, m),
    "reject_vetting": lambda c, m: _vetting(K.challenge_rejected, c, m),
    "close_bidding": _bidding_closed,
    "close_unbid": _bidding_closed,
    "approve_award": _award_decided,
    "reject_award": _award_decided,
    "declare_failed": _award_decided,
}


def on_bid_saved(bid: Bid, actor=None, submitted: bool = False, created: bool = False,
                 **_kwargs) -> None:
    """A bid was submitted: the enterprise hears that one arrived and how many, nothing else."""
    if not submitted or bid.state != BidState.submitted:
        return
    challenge = bid.challenge
    db.session.flush()
    count = db.session.execute(
        sa.select(sa.func.count(Bid.id)).where(Bid.challenge_id == challenge.id,
                                               Bid.state == BidState.submitted)
    ).scalar_one()

    def compose(_user):
        return {"subject": _("榜单「%(title)s」收到新的揭榜方案", title=challenge.title),
                "paragraphs": [
                    _("您的榜单「%(title)s」收到一份新的揭榜方案，目前共 %(count)d 份。",
                      title=challenge.title, count=count),
                    _("揭榜方案在截止时间 %(deadline)s 前密封，截止后方可查看。",
                      deadline=_deadline(challenge)),
                ]}

    send_notification(members(challenge.organization_id, Role.enterprise), K.bid_received,
                      str(bid.id), compose, link=_challenge_link(challenge))


def on_user_registered(user: User, **_kwargs) -> None:
    """Institutes start with a weekly digest on their organisation's expertise."""
    ensure_default_subscription(user)


challenge_transitioned.connect(on_challenge_transitioned)
bid_saved.connect(on_bid_saved)
user_registered.connect(on_user_registered)


# --------------------------------------------------------------------------- workbench items


def notify_item_assigned(user: User, *, item_key: str, title: str, link: str,
                         due_at: datetime | None = None) -> bool:
    """Tell a reviewer an item was assigned to them (called by the review workbench).

    :param item_key: stable id of the item, e.g. ``"vetting:12"``; one email per key and user.
    :param link: absolute URL of the item (see :func:`links.absolute_url`).
    """
    def compose(_user):
        paragraphs = [_("有一项工作已分配给您：%(title)s。", title=title)]
        if due_at is not None:
            paragraphs.append(_("请在 %(due)s 前处理。", due=to_local(due_at)
                                .strftime("%Y-%m-%d %H:%M")))
        return {"subject": _("新的待办：%(title)s", title=title), "paragraphs": paragraphs}

    return bool(send_notification([user], K.item_assigned, item_key, compose, link=link,
                                  link_label=_l("去处理")))


def notify_item_overdue(user: User, *, item_key: str, title: str, link: str,
                        due_at: datetime) -> bool:
    """Tell a reviewer an item assigned to them is past its due time (once per item)."""
    def compose(_user):
        return {"subject": _("事项已逾期：%(title)s", title=title),
                "paragraphs": [_("分配给您的事项「%(title)s」已于 %(due)s 逾期，请尽快处理。",
                                 title=title,
                                 due=to_local(due_at).strftime("%Y-%m-%d %H:%M"))]}

    return bool(send_notification([user], K.item_overdue, item_key, compose, link=link,
                                  link_label=_l("去处理")))


# --------------------------------------------------------------------------- deadline reminders

REMINDER_AHEAD_DAYS = 3


def deadline_reminder_recipients(challenge: Challenge) -> list[User]:
    """Subscribers who opened the challenge and members of institutes with a draft bid on it,
    except those whose organisation already submitted, and the posting enterprise."""
    bids = db.session.execute(sa.select(Bid.organization_id, Bid.state)
                              .where(Bid.challenge_id == challenge.id)).all()
    submitted = {org for org, state in bids if state == BidState.submitted}
    drafting = {org for org, state in bids if state == BidState.draft} - submitted
    visitors = db.session.execute(
        sa.select(User)
        .join(ChallengeVisit, ChallengeVisit.user_id == User.id)
        .join(Subscription, Subscription.user_id == User.id)
        .where(ChallengeVisit.challenge_id == challenge.id)
    ).scalars().all()
    chosen: dict[int, User] = {}
    for org in sorted(drafting):
        for user in members(org, Role.institute):
            chosen[user.id] = user
    for user in visitors:
        if user.organization_id in submitted or user.organization_id == challenge.organization_id:
            continue
        chosen.setdefault(user.id, user)
    return [chosen[k] for k in sorted(chosen)]


def send_deadline_reminders(now: datetime | None = None) -> int:
    """Remind once per challenge and user when an open challenge's deadline is 3 days away."""
    from datetime import timedelta

    now = now or utcnow()
    due = db.session.execute(
        sa.select(Challenge).where(
            Challenge.state == ChallengeState.open, Challenge.bid_deadline > now,
            Challenge.bid_deadline <= now + timedelta(days=REMINDER_AHEAD_DAYS))
        .order_by(Challenge.bid_deadline, Challenge.id)
    ).scalars().all()
    count = 0
    for challenge in due:
        title = challenge.title

        def compose(_user, title=title, challenge=challenge):
            return {"subject": _("揭榜即将截止：「%(title)s」", title=title),
                    "paragraphs": [_("您关注的榜单「%(title)s」将于 %(deadline)s 截止揭榜，"
                                     "如需揭榜请尽快提交方案。", title=title,
                                     deadline=_deadline(challenge))]}

        count += send_notification(deadline_reminder_recipients(challenge), K.deadline_soon,
                                   str(challenge.id), compose, link=_challenge_link(challenge))
    db.session.commit()
    return count


def _task_title(task) -> str:
    # The item's own name (data, shown as is in every language) and its stage key.
    item = task.item
    name = getattr(item, "title", None) or getattr(item, "product_name", None) or task.item_key
    return f"{name} [{task.stage.value}]"


def on_review_assigned(task, assignee=None, actor=None, **_kwargs) -> None:
    """A reviewer was given a task: tell them (once per task)."""
    if assignee is None:
        return
    notify_item_assigned(assignee, item_key=f"task:{task.id}", title=_task_title(task),
                         link=absolute_url("workbench.tasks"), due_at=task.due_at)


def on_review_overdue(task, assignee=None, due_at=None, **_kwargs) -> None:
    """A task passed its working-day limit: remind its reviewer (once per task)."""
    if assignee is None:
        return
    notify_item_overdue(assignee, item_key=f"task:{task.id}", title=_task_title(task),
                        link=absolute_url("workbench.tasks"), due_at=due_at)


review_assigned.connect(on_review_assigned)
review_overdue.connect(on_review_overdue)


def on_institute_invited(invitation, actor=None, **_kwargs) -> None:
    """An enterprise invited an institute to bid: its members hear of it (once)."""
    challenge = invitation.challenge

    def compose(_user):
        return {"subject": _("受邀揭榜：%(title)s", title=challenge.title),
                "paragraphs": [
                    _("%(enterprise)s 邀请贵单位就榜单「%(title)s」提交揭榜方案。",
                      enterprise=challenge.organization.name, title=challenge.title),
                    _("揭榜截止时间：%(deadline)s。", deadline=_deadline(challenge)),
                ]}

    send_notification(members(invitation.organization_id, Role.institute), K.invited,
                      str(invitation.id), compose, link=_challenge_link(challenge))


institute_invited.connect(on_institute_invited)


# --------------------------------------------------------------------------- registration


def _account_mail(recipient: str, locale: str, key: str, *, subject, paragraphs: list,
                  link: str | None = None, link_label=None, user_id: int | None = None) -> None:
    """One mail about an account (no subscription, no unsubscribe: it answers an action)."""
    with emails.recipient_locale(locale):
        subject, paragraphs = str(subject), [str(p) for p in paragraphs]
        text, html = emails.render_pair("account", subject=subject, paragraphs=paragraphs,
                                        link=link, link_label=str(link_label or ""))
    outbox.enqueue([{"kind": "account", "user_id": user_id, "recipient": recipient,
                     "subject": subject, "text_body": text, "html_body": html,
                     "headers": {"Auto-Submitted": "auto-generated"}, "dedup_key": key}])
    db.session.commit()


def on_registration_requested(email: str, token: str, locale: str = "zh_CN",
                              **_kwargs) -> None:
    """The link that completes a registration, to the address it names."""
    _account_mail(
        email, locale, f"register:{token[-40:]}",
        subject=_l("完成注册：瓯海揭榜挂帅平台"),
        paragraphs=[_l("您（或他人）使用本邮箱在瓯海揭榜挂帅平台注册账号。"),
                    _l("请在 24 小时内点击下面的链接完成注册。")],
        link=absolute_url("accounts.confirm_registration", token=token),
        link_label=_l("完成注册"))


def on_registration_repeated(user: User, locale: str = "zh_CN", **_kwargs) -> None:
    """Someone tried to register an address that has an account: tell its owner."""
    _account_mail(
        user.email, user.locale or locale, f"register-again:{user.id}:{utcnow():%Y%m%d%H%M%S%f}",
        subject=_l("有人尝试用您的邮箱注册"), user_id=user.id,
        paragraphs=[_l("有人在瓯海揭榜挂帅平台尝试用本邮箱注册新账号，但本邮箱已有账号。"),
                    _l("如果是您本人，请直接登录；忘记密码请联系平台管理员。")],
        link=absolute_url("accounts.login"), link_label=_l("登录"))


registration_requested.connect(on_registration_requested)
registration_repeated.connect(on_registration_repeated)
