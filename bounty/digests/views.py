"""Subscription settings, unsubscribe (link and RFC 8058 one-click), and the admin outbox."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from ..challenges.models import Category, Industry
from ..errors import DomainError
from ..extensions import csrf, db
from ..inputs import page_arg
from . import outbox, services
from .forms import SettingsForm
from .models import (
    Frequency,
    NotificationKind,
    OutboxEmail,
    OutboxStatus,
)

log = logging.getLogger(__name__)
bp = Blueprint("digests", __name__, url_prefix="/digests")

@bp.after_app_request
def _remember_challenge_visit(response):
    """A logged-in user who opened a challenge gets its deadline reminder."""
    if (request.endpoint == "challenges.detail" and request.method == "GET"
            and response.status_code == 200 and current_user.is_authenticated):
        try:
            services.record_visit(current_user, request.view_args["challenge_id"])
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("could not record a challenge visit")
    return response


# --------------------------------------------------------------------------- settings


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """Choose what the digest holds, how often it comes, and which notifications to get."""
    user = current_user._get_current_object()
    subscription = services.get_subscription(user)
    form = SettingsForm()
    if request.method == "GET":
        if subscription is not None:
            form.frequency.data = subscription.frequency.value
            form.industries.data = list(subscription.industries or [])
            form.categories.data = list(subscription.categories or [])
            form.keywords.data = subscription.keywords
            form.min_bounty_yuan.data = subscription.min_bounty_yuan
        form.notifications.data = [k.value for k in services.enabled_kinds(user)]
    if form.validate_on_submit():
        data = services.SubscriptionData(
            frequency=Frequency(form.frequency.data),
            industries=[Industry(v) for v in form.industries.data],
            categories=[Category(v) for v in form.categories.data],
            keywords=form.keywords.data or "",
            min_bounty_yuan=form.min_bounty_yuan.data or 0,
        )
        try:
            services.update_settings(user, data,
                                     [NotificationKind(v) for v in form.notifications.data])
        except DomainError as exc:
            form.keywords.errors.append(exc.message)
            return render_template("digests/settings.html", form=form), 422
        flash(_("设置已保存，将从下一期推送起生效。"), "success")
        return redirect(url_for("digests.settings"))
    status = 422 if request.method == "POST" else 200
    return render_template("digests/settings.html", form=form), status


# --------------------------------------------------------------------------- unsubscribe


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # authenticated by the signed token; mail providers POST without a session
def unsubscribe(token: str):
    """GET: confirm page (link scanners must not unsubscribe anyone). POST: unsubscribe —
    the page's button, or the RFC 8058 one-click request of a mail provider."""
    try:
        if request.method == "POST":
            user, purpose = services.unsubscribe(token)
            return render_template("digests/unsubscribed.html", user=user,
                                   what=services.describe_purpose(purpose))
        user, purpose = services.check_unsubscribe_token(token)
    except DomainError as exc:
        return render_template("error.html", code=400, message=exc.message), 400
    return render_template("digests/unsubscribe.html", user=user, token=token,
                           what=services.describe_purpose(purpose))


# --------------------------------------------------------------------------- admin outbox


def _require_admin() -> None:
    if not current_user.is_admin:
        abort(403)


def get_outbox_email(email_id: int) -> OutboxEmail:
    """Load an outbox row for an admin; 404 if absent."""
    _require_admin()
    row = db.session.get(OutboxEmail, email_id)
    if row is None:
        abort(404)
    return row


@bp.route("/admin/outbox")
@login_required
def admin_outbox():
    """The outbox for admins: what is queued, sent or failed, and why."""
    _require_admin()
    status = request.args.get("status") or ""
    query = sa.select(OutboxEmail).order_by(OutboxEmail.id.desc())
    if status in OutboxStatus.__members__:
        query = query.where(OutboxEmail.status == OutboxStatus(status))
    else:
        status = ""
    page = db.paginate(query, page=page_arg(), per_page=50, error_out=False)
    return render_template("digests/admin_outbox.html", page=page, status=status,
                           counts=outbox.outbox_counts(),
                           labels={s: s.lazy_label for s in OutboxStatus})


@bp.route("/admin/outbox/<int:email_id>/retry", methods=["POST"])
@login_required
def admin_retry(email_id: int):
    """Put a failed email back in the queue, due now."""
    row = get_outbox_email(email_id)
    outbox.retry_email(row, current_user._get_current_object())
    flash(_("邮件 %(id)d 已重新排队，将在一分钟内发送。", id=email_id), "success")
    return redirect(url_for("digests.admin_outbox", status=request.args.get("status", "")))
