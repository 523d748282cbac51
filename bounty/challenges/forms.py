"""Challenge forms: posting and editing, with indicator rows added and removed server-side."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    MultipleFileField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..inputs import DateInRange
from ..limits import fits
from ..timeutil import from_local, to_local
from .models import Category, Challenge, ChallengeIndicator, Industry, IPTerms
from .services import ChallengeData, IndicatorData

MAX_INDICATORS = 30
DEADLINE_FORMAT = "%Y-%m-%dT%H:%M"


class IndicatorForm(Form):
    """One row of the indicators table (a plain Form: the parent carries the CSRF token)."""

    name = StringField(_l("指标名称"), validators=[Optional(), fits(ChallengeIndicator.name)])
    target = StringField(_l("目标值"), validators=[fits(ChallengeIndicator.target)])
    unit = StringField(_l("单位"), validators=[Optional(), fits(ChallengeIndicator.unit)])
    remove = SubmitField(_l("删除"))

    def validate_target(self, field):
        if (self.name.data or "").strip() and not (field.data or "").strip():
            raise ValidationError(_l("请填写该指标的目标值。"))


def _choices(enum_cls) -> list[tuple[str, str]]:
    return [(member.value, member.label) for member in enum_cls]


class ChallengeForm(FlaskForm):
    """Post or edit a challenge (榜单)."""

    title = StringField(_l("榜单名称"), validators=[DataRequired(_l("请填写榜单名称。")),
                                                  fits(Challenge.title)])
    industry = SelectField(_l("所属产业"), choices=lambda: _choices(Industry),
                           validators=[InputRequired()])
    category = SelectField(_l("需求类别"), choices=lambda: _choices(Category),
                           validators=[InputRequired()])
    background = TextAreaField(_l("需求背景"),
                               validators=[DataRequired(_l("请填写需求背景。")),
                                           fits(Challenge.background)])
    bottleneck = TextAreaField(_l("技术瓶颈"),
                               validators=[DataRequired(_l("请填写技术瓶颈。")),
                                           fits(Challenge.bottleneck)])
    indicators = FieldList(FormField(IndicatorForm), label=_l("技术指标"), min_entries=1,
                           max_entries=MAX_INDICATORS)
    add_indicator = SubmitField(_l("增加一行"))
    expected_outcome = TextAreaField(_l("预期成果"),
                                     validators=[Optional(), fits(Challenge.expected_outcome)])
    bounty_yuan = IntegerField(_l("悬赏金额（元）"),
                               validators=[InputRequired(_l("请填写悬赏金额。"))])
    bid_deadline = DateTimeLocalField(_l("揭榜截止时间（北京时间）"), format=DEADLINE_FORMAT,
                                      validators=[InputRequired(_l("请填写揭榜截止时间。")),
                                                  DateInRange()])
    delivery_months = IntegerField(_l("交付周期（月）"),
                                   validators=[InputRequired(_l("请填写交付周期。"))])
    ip_terms = SelectField(_l("知识产权归属"), choices=lambda: _choices(IPTerms),
                           validators=[InputRequired()])
    keywords = StringField(_l("关键词"), validators=[Optional(), fits(Challenge.keywords)],
                           description=_l("以空格或逗号分隔"))
    attachments = MultipleFileField(_l("附件"))
    remove_attachments = SelectMultipleField(_l("删除已上传的附件"), coerce=int, choices=[],
                                             validate_choice=False,
                                             widget=ListWidget(prefix_label=False),
                                             option_widget=CheckboxInput())
    save_draft = SubmitField(_l("保存草稿"))
    submit_for_vetting = SubmitField(_l("提交审题"))

    def row_action(self) -> bool:
        """Handle "增加一行" / "删除" without JavaScript; True when the page should just
        be shown again (nothing is validated or saved)."""
        if self.add_indicator.data:
            if len(self.indicators) < MAX_INDICATORS:
                self.indicators.append_entry()
            return True
        for index, row in enumerate(self.indicators):
            if row.remove.data:
                self._drop_row(index)
                return True
        return False

    def _drop_row(self, index: int) -> None:
        kept = [
            {key: value for key, value in row.data.items() if key != "remove"}
            for i, row in enumerate(self.indicators)
            if i != index
        ]
        while self.indicators.entries:
            self.indicators.pop_entry()
        for data in kept or [{}]:
            self.indicators.append_entry(data)

    def fill_from(self, challenge) -> None:
        """Defaults for the edit page, with the deadline in Asia/Shanghai."""
        self.process(data={
            "title": challenge.title,
            "background": challenge.background,
            "bottleneck": challenge.bottleneck,
            "expected_outcome": challenge.expected_outcome,
            "bounty_yuan": challenge.bounty_yuan,
            "delivery_months": challenge.delivery_months,
            "keywords": challenge.keywords,
            "industry": challenge.industry.value,
            "category": challenge.category.value,
            "ip_terms": challenge.ip_terms.value,
            "bid_deadline": to_local(challenge.bid_deadline).replace(tzinfo=None),
            "indicators": [{"name": i.name, "target": i.target, "unit": i.unit}
                           for i in challenge.indicators] or [{}],
        })

    def to_data(self) -> ChallengeData:
        return ChallengeData(
            title=self.title.data or "",
            industry=Industry(self.industry.data),
            category=Category(self.category.data),
            background=self.background.data or "",
            bottleneck=self.bottleneck.data or "",
            expected_outcome=self.expected_outcome.data or "",
            bounty_yuan=self.bounty_yuan.data,
            bid_deadline=from_local(self.bid_deadline.data),
            delivery_months=self.delivery_months.data,
            ip_terms=IPTerms(self.ip_terms.data),
            keywords=self.keywords.data or "",
            indicators=[IndicatorData(name=row.form.name.data or "",
                                      target=row.form.target.data or "",
                                      unit=row.form.unit.data or "")
                        for row in self.indicators],
        )
