"""The review workbench: one queue across stages, assignment, conflicts of interest,
scoring, stage settings, the holiday calendar and exports."""

from __future__ import annotations

import tempfile
from datetime import date

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.memberships import memberships_of
from ..accounts.models import Organization, User
from ..accounts.permissions import admin_required, staff_required
from ..accounts.services import find_organization_by_uscc
from ..challenges.models import Category, Challenge, Industry
from ..challenges.services import can_view_challenge
from ..errors import DomainError
from ..extensions import db
from ..form_errors import show_error
from ..inputs import parse_id, safe_redirect_target
from ..keyset import keyset_page
from ..timeutil import to_local, utcnow
from . import (
    assignment,
    conflicts,
    decisions,
    exports,
    items,
    official_calendar,
    scoring,
    separation,
    stages,
    workdays,
)
from .assignment import QueueFilter, QueueView, ReviewTask
from .workbench_forms import (
    BulkForm,
    ConflictForm,
    DeclineForm,
    ExportForm,
    HolidayForm,
    OverrideForm,
    StageForm,
)

bp = Blueprint("workbench", __name__, url_prefix="/review")


def _user():
    return current_user._get_current_object()


def get_task(task_id: int) -> ReviewTask:
    task = db.session.get(ReviewTask, task_id)
    if task is None:
        abort(404)
    return task


def get_item(kind: str, item_id: int):
    """A review item the current user may see; 404 otherwise (a draft challenge included,
    so walking ids reveals no title or owner)."""
    item = items.load_item(f"{kind}:{item_id}")
    if item is None or (isinstance(item, Challenge)
                        and not can_view_challenge(item, current_user)):
        abort(404)
    return item


# --------------------------------------------------------------------------- the queue


def _queue_filter() -> QueueFilter:
    args = request.args

    def choice(name, enum_cls):
        try:
            return enum_cls(args.get(name, ""))
        except ValueError:
            return None

    try:
        age = max(0, int(args.get("age", "") or 0)) or None
    except ValueError:
        age = None
    return QueueFilter(view=choice("view", QueueView) or QueueView.all,
                       stage=choice("stage", stages.StageKey),
                       industry=(choice("industry", Industry) or None),
                       category=(choice("category", Category) or None),
                       min_age_days=age, sort="age" if args.get("sort") == "age" else "due")


@bp.route("/tasks")
@staff_required
def tasks():
    """One queue across stages: mine, unassigned, overdue; filters; bulk actions."""
    user = _user()
    flt = _queue_filter()
    filters = {k: v for k, v in request.args.items()
               if k not in ("page", "after", "before") and v}
    if "~" in request.args.get("after", ""):
        # a cursor of the queue's earlier pagination (time~key~slot): its first page
        return redirect(url_for(".tasks", **filters))
    page = keyset_page(assignment.queue_query(user, flt), assignment.queue_order(flt),
                       QUEUE_PAGE, descending=False, count=False, empty_ok=True)
    form = BulkForm()
    reviewers = assignment.active_reviewers()
    form.assignee.choices = [(r.id, r.name) for r in reviewers]
    return render_template(
        "review/tasks.html", rows=page.items, page=page, flt=flt,
        counts=assignment.queue_counts(user),
        bars=assignment.decision_bars([t.item for t in page.items], user),
        views=list(QueueView), stage_keys=list(stages.StageKey), industries=list(Industry),
        categories=list(Category), form=form, can_assign=user.can_assign,
        can_decide=user.can_review(), filters=filters, stage_names=_stage_names(),
        load=assignment.open_load(), reviewers=reviewers, cap=assignment.assignment_cap())


QUEUE_PAGE = 50


def _stage_names() -> dict:
    return {s.key: s.display_name for s in stages.all_stages()}


@bp.route("/tasks/bulk", methods=["POST"])
@staff_required
def bulk():
    """Assign the selected tasks to one reviewer, or return their items with one comment."""
    user = _user()
    form = BulkForm()
    form.assignee.choices = [(r.id, r.name) for r in assignment.active_reviewers()]
    back = safe_redirect_target(request.form.get("next"), url_for(".tasks"))
    ids = [parse_id(v) for v in request.form.getlist("task")]
    selected = [db.session.get(ReviewTask, i) for i in ids if i is not None]
    selected = [t for t in selected if t is not None]
    if not form.validate_on_submit() or not selected:
        flash(_("请先勾选审核任务，并选择批量操作。"), "error")
        return redirect(back)
    try:
        if form.action.data == "assign":
            reviewer = db.session.get(User, form.assignee.data or 0)
            result = assignment.bulk_assign(selected, reviewer, user)
        else:
            result = decisions.bulk_return(selected, user, form.comment.data or "")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    if result.done:
        flash(_("已处理 %(n)d 项。", n=len(result.done)), "success")
    for task, message in result.failed:
        flash(_("%(item)s：%(message)s", item=items.title_of(task.item), message=message),
              "error")
    return redirect(back)


@bp.route("/tasks/auto-assign", methods=["POST"])
@staff_required
def auto_assign():
    """Spread unassigned tasks evenly over reviewers, up to the per-reviewer cap."""
    done = assignment.auto_assign(_user())
    flash(_("已自动分配 %(n)d 项审核任务。", n=len(done)), "success")
    return redirect(url_for(".tasks", view="unassigned"))


@bp.route("/tasks/<int:task_id>/decline", methods=["GET", "POST"])
@staff_required
def decline(task_id: int):
    """The assignee hands a task back, with a reason."""
    task = get_task(task_id)
    if task.assignee_id != current_user.id:
        abort(404)
    form = DeclineForm()
    if form.validate_on_submit():
        try:
            assignment.decline_task(task, _user(), form.reason.data)
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("已退回该审核任务。"), "success")
            return redirect(url_for(".tasks", view="mine"))
    status = 422 if request.method == "POST" else 200
    return render_template("review/decline.html", task=task, form=form), status


# --------------------------------------------------------------------------- scoring


@bp.route("/challenges/<int:challenge_id>/scores", methods=["POST"])
@staff_required
def submit_scores(challenge_id: int):
    """A reviewer submits their scores against the stage's rubric (final)."""
    challenge = db.session.get(Challenge, challenge_id)
    if challenge is None or not current_user.can_review():
        abort(404)
    stage = items.current_stage(challenge)
    config = stages.get_stage(stage) if stage else None
    values: dict[str, int | None] = {}
    for criterion in (config.criteria if config else []):
        raw = request.form.get(f"score-{criterion.id}", "").strip()
        values[criterion.name] = int(raw) if raw.isdigit() else None
    try:
        scoring.submit_scores(challenge, _user(), values, request.form.get("comment", ""))
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("评分已提交，现在可以查看其他审核人员的评分。"), "success")
    return redirect(url_for("review.decision", challenge_id=challenge.id) + "#scores")


# --------------------------------------------------------------------------- conflicts


@bp.route("/conflicts", methods=["GET", "POST"])
@staff_required
def my_conflicts():
    """A reviewer's declared conflicts of interest (also shown on the profile page)."""
    if not current_user.can_review():
        abort(404)
    form = ConflictForm()
    if form.validate_on_submit():
        organization = find_organization_by_uscc(form.uscc.data)
        try:
            conflicts.declare_conflict(_user(), organization, form.reason.data)
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("已申报与「%(org)s」的利益冲突。", org=organization.name), "success")
            return redirect(url_for(".my_conflicts"))
    status = 422 if request.method == "POST" else 200
    return render_template("review/conflicts.html", form=form,
                           declarations=conflicts.declarations_of(current_user),
                           memberships=memberships_of(current_user)), status


@bp.route("/items/<kind>/<int:item_id>/conflicts", methods=["GET", "POST"])
@staff_required
def item_conflicts(kind: str, item_id: int):
    """Who may review an item: each reviewer's conflicts; admins record overrides here."""
    item = get_item(kind, item_id)
    user = _user()
    form = OverrideForm()
    reviewers = assignment.active_reviewers()
    form.reviewer.choices = [(r.id, r.name) for r in reviewers]
    if request.method == "POST":
        if not user.is_admin:
            abort(403)
        if form.validate_on_submit():
            try:
                conflicts.override_conflict(item, db.session.get(User, form.reviewer.data or 0),
                                            user, form.reason.data)
            except DomainError as exc:
                show_error(form, exc)
            else:
                flash(_("已登记利益冲突例外。"), "success")
                return redirect(url_for(".item_conflicts", kind=kind, item_id=item_id))
    rows = [(r, conflicts.conflict_with(r, item, reveal=user.is_admin),
             conflicts.override_for(r, item))
            for r in reviewers]
    parties = [db.session.get(Organization, org_id)
               for org_id in sorted(items.party_org_ids(item))]
    blind = user.can_review() and items.kind_of(item) == "challenge" \
        and _blind(items.challenge_of(item))
    status = 422 if request.method == "POST" else 200
    return render_template("review/item_conflicts.html", item=item, kind=kind, rows=rows,
                           parties=parties, form=form, overrides=conflicts.overrides_for(item),
                           title=items.title_of(item),
                           # Admins cannot decide: their way back is the challenge's own page.
                           review_url=url_for("challenges.detail", challenge_id=item.id)
                           if user.is_admin and kind == "challenge"
                           else items.review_url(item),
                           blind=blind, is_admin=user.is_admin), status


def _blind(challenge) -> bool:
    from .blind import stage_is_blind

    return stage_is_blind(challenge)


# --------------------------------------------------------------------------- settings


@bp.route("/stages")
@admin_required
def stage_settings():
    """Admins: every stage's settings and rubric, the lead reviewers."""
    forms = {}
    for stage in stages.all_stages():
        form = StageForm(prefix=stage.key.value, formdata=None, obj=stage)
        form.decider.data = stage.decider.value
        form.rubric.data = stages.rubric_text(stage)
        forms[stage.key] = form
    return _render_settings(forms)


def _render_settings(forms: dict, status: int = 200):
    groups = [sorted(group, key=list(stages.StageKey).index)
              for group in separation.separated_groups()]
    return render_template("review/stages.html", stages=stages.all_stages(), forms=forms,
                           reviewers=assignment.active_reviewers(),
                           load=assignment.open_load(), separated_groups=groups), status


@bp.route("/stages/<key>", methods=["POST"])
@admin_required
def update_stage(key: str):
    try:
        stage_key = stages.StageKey(key)
    except ValueError:
        abort(404)
    stage = stages.get_stage(stage_key)
    form = StageForm(prefix=stage_key.value)
    if form.validate_on_submit():
        try:
            stages.update_stage(stage, _user(), stages.StageData(
                name=form.name.data, decider=stages.Decider(form.decider.data),
                approvals_needed=form.approvals_needed.data,
                time_limit_days=form.time_limit_days.data, is_blind=form.is_blind.data,
                rubric=form.rubric.data or ""))
        except DomainError as exc:
            db.session.rollback()
            show_error(form, exc)
        else:
            flash(_("「%(name)s」阶段设置已保存。", name=stage.display_name), "success")
            return redirect(url_for(".stage_settings"))
    forms = {}
    for other in stages.all_stages():
        if other.key == stage_key:
            forms[other.key] = form
            continue
        f = StageForm(prefix=other.key.value, formdata=None, obj=other)
        f.decider.data = other.decider.value
        f.rubric.data = stages.rubric_text(other)
        forms[other.key] = f
    return _render_settings(forms, 422)


@bp.route("/leads/<int:user_id>", methods=["POST"])
@admin_required
def toggle_lead(user_id: int):
    reviewer = db.session.get(User, user_id)
    if reviewer is None:
        abort(404)
    try:
        stages.set_lead_reviewer(reviewer, _user(), not reviewer.is_lead_reviewer)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("已更新审核组长：%(name)s。", name=reviewer.name), "success")
    return redirect(url_for(".stage_settings") + "#leads")


@bp.route("/holidays", methods=["GET", "POST"])
@admin_required
def holidays():
    """Admins: the holiday calendar (days off and make-up working days, 调休)."""
    form = HolidayForm()
    if form.validate_on_submit():
        try:
            workdays.add_holiday(_user(), form.day.data, form.name.data, form.is_workday.data)
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("已登记 %(day)s。", day=form.day.data.isoformat()), "success")
            return redirect(url_for(".holidays"))
    status = 422 if request.method == "POST" else 200
    covered = official_calendar.last_covered_day().year
    this_year = to_local(utcnow()).year
    # Past years' days only matter to deadlines already counted: the page starts at this
    # year, so the days an admin may still edit are not below twenty years of history.
    return render_template("review/holidays.html", form=form,
                           holidays=workdays.holidays(since=date(this_year, 1, 1)),
                           this_year=this_year, official_until=covered,
                           next_year_uncovered=this_year >= covered), status


@bp.route("/holidays/<int:holiday_id>/delete", methods=["POST"])
@admin_required
def delete_holiday(holiday_id: int):
    holiday = db.session.get(workdays.Holiday, holiday_id)
    if holiday is None:
        abort(404)
    workdays.remove_holiday(_user(), holiday)
    flash(_("已删除。"), "success")
    return redirect(url_for(".holidays"))


# --------------------------------------------------------------------------- export


@bp.route("/export")
@staff_required
def export():
    """Per stage and period: every item, each reviewer's scores and decisions, CSV or XLSX,
    streamed (CSV) or written row by row (XLSX); nothing is written to the database."""
    form = ExportForm(request.args)
    if "format" not in request.args:
        return _render_export(form)
    if not form.validate():
        return _render_export(form, 422)
    stage = stages.StageKey(form.stage.data) if form.stage.data else None
    xlsx = form.format.data != "csv"
    try:
        start, end = exports.export_period(
            form.start.data, form.end.data, today=to_local(utcnow()).date(),
            all_history=form.all_history.data, xlsx=xlsx)
    except DomainError as exc:
        show_error(form, exc)
        return _render_export(form, 422)
    rows = exports.export_rows(stage, start, end)
    name = f"review-{stage.value if stage else 'all'}-{start or 'begin'}-{end or 'now'}"
    if xlsx:
        # Write-only mode to a spooled file (to disk past a few MB), then sent in chunks.
        target = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        exports.write_xlsx(rows, target)
        target.seek(0)
        response = current_app.response_class(
            _chunks_of(target),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        ext = "xlsx"
    else:
        response = current_app.response_class(
            stream_with_context(exports.csv_chunks(rows)), mimetype="text/csv; charset=utf-8")
        ext = "csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{ext}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _chunks_of(file, size: int = 64 * 1024):
    """The file's bytes in chunks, closed at the end (or when the client goes away)."""
    try:
        while chunk := file.read(size):
            yield chunk
    finally:
        file.close()


def _render_export(form: ExportForm, status: int = 200):
    return render_template("review/export.html", form=form,
                           default_days=exports.DEFAULT_PERIOD_DAYS,
                           max_xlsx_days=exports.MAX_XLSX_PERIOD_DAYS), status


# --------------------------------------------------------------------------- helpers for pages


@bp.app_template_global("review_item_url")
def _review_item_url(item) -> str:
    """Reviewers decide on the item's review page; admins (who do not decide) go to its
    conflict-of-interest page, where they record overrides."""
    if current_user.is_admin and items.kind_of(item) == "challenge":
        return url_for(".item_conflicts", kind="challenge", item_id=item.id)
    return items.review_url(item)


@bp.app_template_global("review_item_title")
def _review_item_title(item) -> str:
    return items.title_of(item)


@bp.app_template_global("review_stage_name")
def _review_stage_name(key) -> str:
    return stages.get_stage(key).display_name


@bp.app_template_global("my_conflict_declarations")
def _my_declarations():
    if not current_user.can_review():
        return []
    return conflicts.declarations_of(current_user)

