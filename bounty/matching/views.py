"""Matching pages: the challenge hall and its search, 为您推荐 for institutes, and inviting
a suggested institute."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.models import Organization, Role
from ..challenges.views import get_challenge
from ..errors import DomainError
from ..extensions import db
from ..inputs import parse_id
from . import services, similarity
from .forms import InviteForm, SearchForm

bp = Blueprint("matching", __name__, url_prefix="/matching")


# Filter parameters of the hall whose links drop them together (the range's two ends).
_RANGES = {"bounty": ("bounty_min", "bounty_max"), "deadline": ("deadline_from", "deadline_to")}


def hall():
    """The challenge hall: every public challenge, with one search box, filters, facets and
    sorting; with ``q`` it is the search results page, ranked by the matcher."""
    form = SearchForm(request.args)
    params = form.params()
    result = services.search_challenges(
        params, pagesize=current_app.config["CHALLENGES_PER_PAGE"])
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    popular = services.popular_industries() if not result.results else []
    # one link per active filter that drops it (for the page that found nothing)
    without = {}
    for name in form.filter_names():
        if args.get(name) and not form[name].errors:
            key = next((k for k, ends in _RANGES.items() if name in ends), name)
            dropped = _RANGES.get(key, (name,))
            without[key] = {k: v for k, v in args.items() if k not in dropped}
    # A date out of range is dropped like any invalid filter, but said (and answered 422).
    refused = [_("%(field)s：%(message)s", field=field.label.text, message=field.errors[0])
               for field in (form.deadline_from, form.deadline_to)
               if field.errors and field.data is not None]  # parsed, but out of range
    for message in refused:
        flash(message, "error")
    return render_template("challenges/index.html", form=form, params=params, result=result,
                           args=args, popular=popular,
                           without=without), 422 if refused else 200


@bp.record_once
def _register_hall(state) -> None:
    # The hall is the challenges' public list under /challenges/, but as the search page
    # it needs the matcher, which the challenges package may not import: its view lives here.
    state.app.add_url_rule("/challenges/", endpoint="challenges.index", view_func=hall)


@bp.route("/search")
def search():
    """The former search page: its links (and bookmarks) now open the hall."""
    args = request.args.to_dict()
    if "state" in args:  # the hall names the state filter "status"
        args.setdefault("status", args.pop("state"))
    return redirect(url_for("challenges.index", **args), 301)


@bp.route("/for-me")
@login_required
def for_me():
    """An institute's page: open challenges recommended for it, and invitations it received."""
    if current_user.role != Role.institute:
        abort(403)
    return render_template(
        "matching/for_me.html",
        recommendations=services.recommend_challenges(current_user),
        invitations=services.invitations_for(current_user),
        organization=current_user.organization,
    )


@bp.route("/challenges/<int:challenge_id>/invite", methods=["POST"])
@login_required
def invite(challenge_id: int):
    """The challenge's enterprise invites one suggested institute to bid."""
    challenge = get_challenge(challenge_id)
    if not challenge.is_owned_by(current_user):
        abort(403)
    form = InviteForm()
    organization = None
    organization_id = parse_id(form.organization_id.data) if form.validate_on_submit() else None
    if organization_id is not None:
        organization = db.session.get(Organization, organization_id)
    if organization is None:
        flash(_("请选择要邀请的单位。"), "error")
    else:
        try:
            services.invite_institute(challenge, organization, current_user)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(_("已邀请 %(name)s 揭榜。", name=organization.name), "success")
    return redirect(url_for("challenges.detail", challenge_id=challenge.id) + "#suggestions")


@bp.app_template_global()
def suggested_institutes(challenge):  # noqa: ANN001, ANN201
    """推荐揭榜单位 for the challenge page (empty unless the viewer may invite)."""
    return services.suggest_institutes(challenge, current_user)


@bp.app_template_global()
def my_invitations():  # noqa: ANN201
    """Invitations to the current user's organisation (for its dashboard)."""
    return services.invitations_for(current_user)


@bp.app_template_global("similar_challenges")
def similar_challenges_for(challenge):  # noqa: ANN001, ANN201
    """相似榜单 for a challenge in 审题 (``None`` unless the viewer may see it)."""
    return similarity.similar_challenges(challenge, current_user)


@bp.app_template_global("bid_copies")
def bid_copies_for(challenge):  # noqa: ANN001, ANN201
    """方案雷同 for a challenge's bids (``None`` unless the viewer is a reviewer after the
    deadline)."""
    return similarity.bid_copies(challenge, current_user)
