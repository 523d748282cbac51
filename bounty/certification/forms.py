"""The first-set certification application form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from ..limits import fits
from ..registry.forms import PRICE, ShowsServiceErrors
from .models import (
    CertificationApplication,
    CertificationIndicator,
    EquipmentCategory,
    EvidenceKind,
)


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
                                                  PRICE])
    description = TextAreaField(_l("产品简介与创新点"),
                                [Optional(), fits(CertificationApplication.description)])
    indicators = FieldList(FormField(ComparisonRowForm), min_entries=4, max_entries=12)
    invention_patent = FileField(EvidenceKind.invention_patent.lazy_label)
    test_report = FileField(EvidenceKind.test_report.lazy_label)
    novelty_search = FileField(EvidenceKind.novelty_search.lazy_label)
    user_report = FileField(EvidenceKind.user_report.lazy_label)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_errors: dict[str, str] = {}
        self.equipment_category.choices = [SelectChoice(c.value, c.label)
                                           for c in EquipmentCategory]

    def evidence_fields(self):
        return [self[kind.value] for kind in EvidenceKind]
