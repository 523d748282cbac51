"""Reviewer decision form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, ValidationError

from ..limits import fits
from .models import OUTCOME_LABELS, Outcome, ReviewDecision, Stage


class DecisionForm(FlaskForm):
    """Approve, return for revision or reject; a comment is required for the last two."""

    # The stage the page was rendered for: a stale page or a repeated POST is refused.
    stage = HiddenField(validators=[DataRequired()])
    # The challenge version the page showed: a decision made in between wins, this one not.
    version = HiddenField()
    outcome = RadioField(
        _l("审核结论"),
        choices=[SelectChoice(o.value, OUTCOME_LABELS[o]) for o in Outcome],
        validators=[DataRequired(_l("请选择审核结论。"))],
    )
    comment = TextAreaField(_l("审核意见"), validators=[fits(ReviewDecision.comment)])
    submit = SubmitField(_l("提交审核结论"))

    def validate_stage(self, field) -> None:
        if field.data not in {s.value for s in Stage}:
            raise ValidationError(_l("审核阶段无效，请刷新页面。"))

    def validate_comment(self, field) -> None:
        if self.outcome.data in (Outcome.return_.value, Outcome.reject.value) and not (
            field.data or ""
        ).strip():
            raise ValidationError(_l("退回修改或不予通过时必须填写审核意见。"))
