"""Forms for bids (揭榜方案), their evaluation and milestone delivery."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (
    FieldList,
    FormField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..inputs import coerce_id
from ..limits import TOO_LONG, fits
from .attachments import ALLOWED_LABEL
from .models import MAX_BOUNTY_YUAN, Bid, Milestone
from .services import BidData, MilestoneData

MAX_MILESTONES = 24


class MilestoneRowForm(FlaskForm):
    """One milestone row; a row left wholly empty is ignored."""

    class Meta:
        csrf = False  # the enclosing form carries the token

    name = StringField(_l("里程碑名称"), validators=[Optional(), fits(Milestone.name)])
    month = IntegerField(
        _l("第几个月"),
        validators=[Optional(), NumberRange(1, 120, _l("月份须在 1 至 120 之间。"))],
    )
    deliverable = StringField(_l("交付物"), validators=[Optional(), fits(Milestone.deliverable)])

    @property
    def is_blank(self) -> bool:
        return not (self.name.data or "").strip() and self.month.raw_data in (None, [], [""]) \
            and not (self.deliverable.data or "").strip()

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.is_blank:
            return ok
        if not (self.name.data or "").strip():
            self.name.errors = [*self.name.errors, str(_l("请填写里程碑名称。"))]
            ok = False
        if self.month.data is None and not self.month.errors:
            self.month.errors = [*self.month.errors, str(_l("请填写月份。"))]
            ok = False
        return ok


class BidForm(FlaskForm):
    """The bid form: add and remove milestone rows with buttons, no JavaScript needed."""

    title = StringField(_l("方案名称"), validators=[DataRequired(_l("请填写方案名称。")),
                                                 fits(Bid.title)])
    approach = TextAreaField(_l("技术路线"),
                             validators=[DataRequired(_l("请填写技术路线。")),
                                         fits(Bid.approach)])
    team_lead = StringField(_l("项目负责人"),
                            validators=[DataRequired(_l("请填写项目负责人。")),
                                        fits(Bid.team_lead)])
    team_members = TextAreaField(_l("团队成员"), validators=[Optional(), fits(Bid.team_members)])
    lab = StringField(_l("依托实验室 / 平台"), validators=[Optional(), fits(Bid.lab)])
    milestones = FieldList(FormField(MilestoneRowForm), min_entries=1,
                           max_entries=MAX_MILESTONES)
    quote_yuan = IntegerField(
        _l("报价（元）"),
        validators=[InputRequired(_l("请填写报价。")),
                    NumberRange(1, MAX_BOUNTY_YUAN, _l("报价须为正数且不超过 100 亿元。"))],
    )
    duration_months = IntegerField(
        _l("实施周期（月）"),
        validators=[InputRequired(_l("请填写实施周期。")),
                    NumberRange(1, 120, _l("实施周期须在 1 至 120 个月之间。"))],
    )
    prior_results = TextAreaField(_l("前期成果（专利、论文）"),
                                  validators=[Optional(), fits(Bid.prior_results)])
    attachments = MultipleFileField(_l("附件"),
                                    description=_l("可选 %(types)s，每个不超过 20 MB。",
                                                   types=ALLOWED_LABEL))
    save_draft = SubmitField(_l("保存草稿"))
    submit_bid = SubmitField(_l("提交方案"))

    def to_data(self) -> BidData:
        return BidData(
            title=self.title.data or "",
            approach=self.approach.data or "",
            team_lead=self.team_lead.data or "",
            team_members=self.team_members.data or "",
            lab=self.lab.data or "",
            quote_yuan=self.quote_yuan.data,
            duration_months=self.duration_months.data,
            prior_results=self.prior_results.data or "",
            milestones=[
                MilestoneData(name=(row.form.name.data or "").strip(), month=row.form.month.data,
                              deliverable=(row.form.deliverable.data or "").strip())
                for row in self.milestones
                if not row.form.is_blank
            ],
        )

    def fill_from(self, bid) -> None:
        """Prefill a GET of an existing bid."""
        for name in ("title", "approach", "team_lead", "team_members", "lab", "quote_yuan",
                     "duration_months", "prior_results"):
            getattr(self, name).data = getattr(bid, name)
        rows = [{"name": m.name, "month": m.month, "deliverable": m.deliverable}
                for m in bid.milestones]
        set_milestone_rows(self, rows or [{}])


def set_milestone_rows(form: BidForm, rows: list[dict]) -> None:
    """Replace the milestone rows (used by the add/remove-row buttons and prefill)."""
    field = form.milestones
    field.entries = []
    field.last_index = -1
    for row in rows[:MAX_MILESTONES]:
        field.append_entry(row)


_ROW_KEY = re.compile(r"^milestones-(\d+)-(name|month|deliverable)$")


def edit_rows(formdata: MultiDict, *, remove: int | None = None, add: bool = False) -> MultiDict:
    """The posted form with one milestone row removed or one blank row added.

    Rows are renumbered so the re-rendered form shows exactly what was typed in
    the rows that remain (raw text, even if not yet valid).
    """
    rows: dict[int, dict[str, str]] = {}
    rest = MultiDict()
    for key, value in formdata.items(multi=True):
        match = _ROW_KEY.match(key)
        if match:
            rows.setdefault(int(match[1]), {})[match[2]] = value
        else:
            rest.add(key, value)
    kept = [rows[i] for i in sorted(rows) if i != remove]
    if add and len(kept) < MAX_MILESTONES:
        kept.append({"name": "", "month": "", "deliverable": ""})
    if not kept:
        kept.append({"name": "", "month": "", "deliverable": ""})
    for index, row in enumerate(kept):
        for part in ("name", "month", "deliverable"):
            rest.add(f"milestones-{index}-{part}", row.get(part, ""))
    return rest


class SelectBidForm(FlaskForm):
    """The enterprise picks one submitted bid."""

    bid_id = RadioField(_l("选定揭榜方案"), coerce=coerce_id,
                        validators=[InputRequired(_l("请选择一个揭榜方案。"))])
    select = SubmitField(_l("选定该方案"))


class DeclareFailedForm(FlaskForm):
    """The enterprise closes the challenge without a winner (流榜)."""

    comment = TextAreaField(_l("流榜说明"),
                            validators=[DataRequired(_l("宣布流榜须填写说明。")),
                                        Length(max=2000, message=TOO_LONG)])
    declare = SubmitField(_l("宣布流榜"))


class MilestoneReportForm(FlaskForm):
    """The winning institute's report on one milestone."""

    report = TextAreaField(_l("里程碑报告"),
                           validators=[DataRequired(_l("请填写里程碑报告。")),
                                       fits(Milestone.report)])
    attachments = MultipleFileField(_l("附件"),
                                    description=_l("可选 %(types)s，每个不超过 20 MB。",
                                                   types=ALLOWED_LABEL))
    # ids of the milestone's own files to delete (others' ids are ignored by the service)
    remove_attachments = SelectMultipleField(_l("删除已上传的附件"), coerce=int, choices=[],
                                             validate_choice=False)
    send = SubmitField(_l("提交报告"))
