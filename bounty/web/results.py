"""A completed challenge's results across certification and the market: what its page
links to, the organisation's 成果认定与挂牌 page and the reviewers' registry queue."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..certification import services as cert
from ..challenges.models import Bid, Challenge, ChallengeState
from ..extensions import db
from ..market import services as market

bp = Blueprint("results", __name__)


@bp.app_template_global("registry_of")
def registry_of(challenge: Challenge, user) -> dict:
    """What the challenge page links to in the registry: the user's next steps (apply for
    certification, list the result) and the application and listings the user may see."""
    if challenge.state != ChallengeState.completed:
        return {}
    application = cert.application_for(challenge)
    listings = db.session.execute(
        sa.select(market.MarketListing).where(market.MarketListing.challenge_id == challenge.id)
        .order_by(market.MarketListing.id)
    ).scalars().all()
    return {
        "can_apply": cert.can_apply(challenge, user),
        "can_list": market.can_list(challenge, user),
        "application": (application if application is not None
                        and cert.can_view_application(application, user) else None),
        "listings": [listing for listing in listings if market.can_view_listing(listing, user)],
    }


@bp.route("/registry/mine")
@login_required
def mine():
    """The user's organisation: completed results, certification applications, listings."""
    org_id = current_user.organization_id
    # only the organisation's own results are read (owner or winner); the rule itself
    # is is_result_owner's
    won = sa.select(Bid.id).where(Bid.organization_id == org_id)
    completed = db.session.execute(
        sa.select(Challenge).where(
            Challenge.state == ChallengeState.completed,
            sa.or_(Challenge.organization_id == org_id, Challenge.winning_bid_id.in_(won)))
        .options(sa.orm.joinedload(Challenge.winning_bid))
        .order_by(Challenge.updated_at.desc())
    ).scalars().all()
    results = [c for c in completed if market.is_result_owner(c, current_user)]
    applications = db.session.execute(
        sa.select(cert.CertificationApplication)
        .where(cert.CertificationApplication.organization_id == org_id)
        .order_by(cert.CertificationApplication.id.desc())
    ).scalars().all()
    listings = db.session.execute(
        sa.select(market.MarketListing).where(market.MarketListing.organization_id == org_id)
        .order_by(market.MarketListing.id.desc())
    ).scalars().all()
    return render_template("web/results.html", results=results, applications=applications,
                           listings=listings, can_apply=cert.can_apply,
                           can_list=market.can_list)


@bp.route("/registry/review")
@login_required
def review_queue():
    """The old registry queue: the task queue holds certification applications and
    listings with every other review item."""
    if not current_user.is_staff:
        abort(403)
    return redirect(url_for("workbench.tasks"))
