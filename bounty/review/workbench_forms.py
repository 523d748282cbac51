"""Forms of the review workbench: stage settings, holidays, assignment, conflicts,
scoring and exports."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..inputs import DateInRange, coerce_id
from ..limits import TOO_LONG, fits
from .assignment import TaskDecline
from .conflicts import ConflictDeclaration, ConflictOverride
from .models import ReviewDecision, StageKey
from .stages import MAX_APPROVALS, Decider, ReviewStage
from .workdays import Holiday


class StageForm(FlaskForm):
    """One stage's settings and rubric."""

    name = StringField(_l("阶段名称"), validators=[DataRequired(_l("请填写阶段名称。")),
                                                fits(ReviewStage.name)])
    decider = SelectField(_l("谁可以作出结论"),
                          choices=[SelectChoice(d.value, d.lazy_label) for d in Decider])
    approvals_needed = IntegerField(
        _l("所需通过人数"), validators=[InputRequired(_l("请填写所需通过人数。")),
                                  NumberRange(1, MAX_APPROVALS,
                                              _l("所需通过人数应为 1 至 %(max)d。"))])
    time_limit_days = IntegerField(
        _l("办理时限（工作日）"), validators=[InputRequired(_l("请填写办理时限。")),
                                       NumberRange(1, 365, _l("办理时限应为 1 至 365 个工作日。"))])
    is_blind = BooleanField(_l("匿名评审（对审核员隐藏揭榜单位及联系人）"))
    rubric = TextAreaField(_l("评分细则（每行“指标 权重”，留空则不评分）"),
                           validators=[Length(max=2000, message=TOO_LONG)])
    submit = SubmitField(_l("保存"))


class HolidayForm(FlaskForm):
    day = DateField(_l("日期"), validators=[InputRequired(_l("请填写日期。")), DateInRange()])
    name = StringField(_l("名称"), validators=[DataRequired(_l("请填写名称。")),
                                             fits(Holiday.name)])
    is_workday = BooleanField(_l("调休上班日（周末上班）"))
    submit = SubmitField(_l("添加"))


class BulkForm(FlaskForm):
    """Bulk action on the selected tasks (their ids come as repeated ``task`` fields)."""

    action = SelectField(_l("批量操作"), choices=[
        SelectChoice("assign", _l("分配给")), SelectChoice("return", _l("退回修改"))])
    assignee = SelectField(_l("审核员"), coerce=coerce_id, validate_choice=False, choices=[])
    comment = TextAreaField(_l("退回意见（批量退回时必填，对每一项相同）"),
                            validators=[fits(ReviewDecision.comment)])
    submit = SubmitField(_l("执行"))


class DeclineForm(FlaskForm):
    reason = TextAreaField(_l("不能承担的原因"),
                           validators=[DataRequired(_l("请说明不能承担该审核任务的原因。")),
                                       fits(TaskDecline.reason)])
    submit = SubmitField(_l("退回该任务"))


class ConflictForm(FlaskForm):
    uscc = StringField(_l("对方单位统一社会信用代码"),
                       validators=[DataRequired(_l("请填写统一社会信用代码。")),
                                   Length(max=30, message=TOO_LONG)])
    reason = TextAreaField(_l("利益冲突说明"),
                           validators=[DataRequired(_l("请说明利益冲突的原因。")),
                                       fits(ConflictDeclaration.reason)])
    submit = SubmitField(_l("申报利益冲突"))


class OverrideForm(FlaskForm):
    reviewer = SelectField(_l("审核员"), coerce=coerce_id, validate_choice=False, choices=[])
    reason = TextAreaField(_l("例外理由"),
                           validators=[DataRequired(_l("登记例外必须说明理由。")),
                                       fits(ConflictOverride.reason)])
    submit = SubmitField(_l("登记例外"))


class ExportForm(FlaskForm):
    class Meta:
        csrf = False  # a GET download

    stage = SelectField(_l("审核阶段"), choices=[SelectChoice("", _l("全部阶段"))]
                        + [SelectChoice(k.value, k.lazy_label) for k in StageKey],
                        validators=[Optional()])
    start = DateField(_l("起始日期"), validators=[Optional(), DateInRange()])
    end = DateField(_l("截止日期"), validators=[Optional(), DateInRange()])
    all_history = BooleanField(_l("全部历史（仅 CSV，忽略起止日期）"))
    format = SelectField(_l("格式"), choices=[SelectChoice("xlsx", "Excel (XLSX)"),
                                              SelectChoice("csv", "CSV")])
