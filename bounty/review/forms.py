"""The reviewer's decision form, one for every kind of item."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, ValidationError

from ..errors import DomainError
from ..limits import fits
from .models import Outcome, ReviewDecision, StageKey


class DecisionForm(FlaskForm):
    """Approve, return for revision or reject (the last two need a comment: the transition
    says so, :meth:`refusal` shows it)."""

    # The stage the page was rendered for (challenges): a stale page or a repeated POST
    # is refused rather than applied at the next stage.
    stage = HiddenField()
    # The item version the page showed: a decision made in between wins, this one not.
    version = HiddenField()
    outcome = RadioField(
        _l("审核结论"),
        choices=[SelectChoice(o.value, o.lazy_label) for o in Outcome],
        validators=[DataRequired(_l("请选择审核结论。"))],
    )
    comment = TextAreaField(_l("审核意见"), validators=[fits(ReviewDecision.comment)])
    submit = SubmitField(_l("提交审核结论"))

    def validate_stage(self, field) -> None:
        if field.data and field.data not in {s.value for s in StageKey}:
            raise ValidationError(_l("审核阶段无效，请刷新页面。"))

    def refusal(self, exc: DomainError) -> str | None:
        """What the page says of a refused decision: the transition's rule that a return or
        rejection says why (bounty.transitions) at the comment field, anything else above
        the form (returned)."""
        if getattr(exc, "field", None) == "comment":
            self.comment.errors = [*self.comment.errors, exc.message]
            return None
        return exc.message

    def posted_stage(self) -> StageKey | None:
        return StageKey(self.stage.data) if self.stage.data else None

    def version_number(self) -> int | None:
        """The item version the page showed, or None when absent or garbled."""
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None
