"""Forms for certification applications, market listings, deals and decisions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from ..challenges.models import MAX_BOUNTY_YUAN
from ..inputs import DateInRange
from ..limits import TOO_LONG, fits
from .certification import (
    CertificationApplication,
    CertificationIndicator,
    EquipmentCategory,
    EvidenceKind,
)
from .market import MarketDeal, MarketListing, TransactionType
from .models import Outcome
from .registry import RegistryDecision

_PRICE = NumberRange(min=1, max=MAX_BOUNTY_YUAN, message=_l("请输入正整数金额（元）。"))


class ShowsServiceErrors:
    """Puts a service's per-field messages next to their fields (others above the form)."""

    def show_errors(self, errors: dict[str, str]) -> None:
        self.extra_errors = {}
        for name, message in errors.items():
            field = self._fields.get(name)
            if field is not None and not isinstance(field, FieldList):
                field.errors = [*field.errors, message]
            else:
                self.extra_errors[name] = message

    def show_message(self, message: str) -> None:
        self.extra_errors = {"form": message}


class ComparisonRowForm(Form):
    name = StringField(_l("指标名称"), [Optional(), fits(CertificationIndicator.name)])
    unit = StringField(_l("单位"), [Optional(), fits(CertificationIndicator.unit)])
    own_value = StringField(_l("本产品"), [Optional(), fits(CertificationIndicator.own_value)])
    domestic_value = StringField(_l("国内同类最优"),
                                 [Optional(), fits(CertificationIndicator.domestic_value)])
    foreign_value = StringField(_l("国外同类最优"),
                                [Optional(), fits(CertificationIndicator.foreign_value)])


class CertificationForm(ShowsServiceErrors, FlaskForm):
    product_name = StringField(_l("产品名称"), [InputRequired(_l("请填写产品名称。")),
                                              fits(CertificationApplication.product_name)])
    equipment_category = SelectField(_l("装备类别"))
    price_yuan = IntegerField(_l("产品单价（元）"), [InputRequired(_l("请填写产品单价（元）。")),
                                                  _PRICE])
    description = TextAreaField(_l("产品简介与创新点"),
                                [Optional(), fits(CertificationApplication.description)])
    indicators = FieldList(FormField(ComparisonRowForm), min_entries=4, max_entries=12)
    invention_patent = FileField(EvidenceKind.invention_patent.label)
    test_report = FileField(EvidenceKind.test_report.label)
    novelty_search = FileField(EvidenceKind.novelty_search.label)
    user_report = FileField(EvidenceKind.user_report.label)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_errors: dict[str, str] = {}
        self.equipment_category.choices = [SelectChoice(c.value, c.label)
                                           for c in EquipmentCategory]

    def evidence_fields(self):
        return [self[kind.value] for kind in EvidenceKind]


class ListingForm(ShowsServiceErrors, FlaskForm):
    title = StringField(_l("成果名称"), [InputRequired(_l("请填写成果名称。")),
                                        fits(MarketListing.title)])
    summary = TextAreaField(_l("成果简介"), [InputRequired(_l("请填写成果简介。")),
                                           fits(MarketListing.summary)])
    transaction_type = SelectField(_l("交易方式"))
    price_yuan = IntegerField(_l("挂牌价格（元）"), [Optional(), _PRICE])
    negotiable = BooleanField(_l("面议"))
    documents = MultipleFileField(_l("知识产权证明文件"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_errors: dict[str, str] = {}
        self.transaction_type.choices = [SelectChoice(t.value, t.label) for t in TransactionType]


class DealForm(ShowsServiceErrors, FlaskForm):
    counterparty = StringField(_l("受让方 / 交易对方"),
                               [InputRequired(_l("请填写交易对方名称。")),
                                fits(MarketDeal.counterparty)])
    price_yuan = IntegerField(_l("成交金额（元）"), [InputRequired(_l("请填写成交金额。")),
                                                   _PRICE])
    contract_date = DateField(_l("合同签订日期"), [InputRequired(_l("请填写合同签订日期。")),
                                                 DateInRange()])
    registration_number = StringField(_l("技术合同登记号"),
                                      [InputRequired(_l("请填写技术合同登记号。")),
                                       fits(MarketDeal.registration_number)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_errors: dict[str, str] = {}


class DecisionForm(FlaskForm):
    outcome = RadioField(_l("审核结论"), [InputRequired(_l("请选择审核结论。"))],
                         choices=[SelectChoice(o.value, o.label) for o in Outcome])
    comment = TextAreaField(_l("审核意见（退回或不予通过时必填）"),
                            [Optional(), fits(RegistryDecision.comment)])
    version = HiddenField()


class WithdrawForm(FlaskForm):
    comment = TextAreaField(_l("撤牌说明"), [Optional(), Length(max=2000, message=TOO_LONG)])
