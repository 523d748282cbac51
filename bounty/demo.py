"""Demo data: organisations and users of every role, and challenges in every state
of the life cycle, driven through the real services so that the audit chain is real.

Idempotent: organisations are keyed on their USCC, users on their email and
challenges on their title; running it twice adds nothing. Past deadlines are
reached with the ``now`` parameters the services accept, never by assigning a state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import sqlalchemy as sa

from .accounts.models import Organization, OrgKind, Role, User
from .accounts.services import find_user_by_email, hash_password
from .accounts.uscc import check_character, validate_uscc
from .audit import record_event
from .challenges import services as challenges
from .challenges.models import (
    Category,
    Challenge,
    ChallengeState,
    Industry,
    IPTerms,
)
from .extensions import db
from .review.decisions import decide
from .review.models import Outcome
from .review.stages import ensure_default_stages, set_lead_reviewer
from .signals import organization_saved
from .timeutil import from_local, to_local, utcnow
from .transactions import atomic

DEMO_PASSWORD = "ouhai-demo-2026"
REGION = "浙江省温州市瓯海区"

S = ChallengeState


# --------------------------------------------------------------------------- organisations


@dataclass(frozen=True)
class OrgSpec:
    key: str
    name: str
    kind: OrgKind
    prefix: str  # registration authority and type: 91 enterprise, 12 public institute ...
    area: str  # administrative division code
    serial: int
    contact: str
    description: str = ""
    expertise: str = ""
    keywords: str = ""


def demo_uscc(prefix: str, area: str, serial: int) -> str:
    """A valid, stable USCC: prefix, area code, a 9-character organisation code, check."""
    body = f"{prefix}{area}MA2H{serial:05d}"
    return body + check_character(body)


ORGS = (
    OrgSpec("yayun", "温州瓯海雅韵服饰有限公司", OrgKind.enterprise, "91", "330304", 10231,
            "陈晓燕", "女装设计、生产一体化企业，年产西装、衬衫 120 万件。"),
    OrgSpec("ouyue", "浙江瓯越鞋业有限公司", OrgKind.enterprise, "91", "330304", 10388,
            "林建国", "男女皮鞋及休闲鞋出口企业，拥有 12 条成型流水线。"),
    OrgSpec("mingshi", "温州明视眼镜有限公司", OrgKind.enterprise, "91", "330304", 10452,
            "周立群", "钛架、板材眼镜架及太阳镜 ODM 企业。"),
    OrgSpec("ansuo", "温州安锁智能科技有限公司", OrgKind.enterprise, "91", "330304", 10517,
            "黄志强", "智能门锁整机与电子模组研发制造，国家高新技术企业。"),
    OrgSpec("ruichi", "温州瑞驰汽车部件有限公司", OrgKind.enterprise, "91", "330304", 10609,
            "郑伟", "汽车制动系统、摩托车铝合金轮毂等汽摩配产品制造。"),
    OrgSpec("oudian", "浙江瓯电电气机械有限公司", OrgKind.enterprise, "91", "330304", 10744,
            "吴海波", "低压断路器、接触器及成套开关设备制造。"),
    OrgSpec("wzu", "温州大学", OrgKind.institute, "12", "330300", 20011, "李明教授",
            "省属综合性大学，设有机电工程学院、化学与材料工程学院。",
            "智能制造装备、机器视觉检测、激光加工、新型高分子材料、低压电器可靠性",
            "机器视觉 激光焊接 PLC 低压电器 高分子"),
    OrgSpec("wmu", "温州医科大学", OrgKind.institute, "12", "330300", 20024, "王芳教授",
            "以医学为主的省属大学，眼视光学科全国领先。",
            "眼视光学、镜片光学设计、生物相容性材料、医用传感器",
            "眼视光 镜片 生物相容性 抗菌"),
    OrgSpec("zjut", "浙江工业大学瓯海研究院", OrgKind.institute, "52", "330304", 20037,
            "赵强研究员", "浙江工业大学与瓯海区共建的新型研发机构。",
            "工业机器人、伺服控制、数字孪生、工业软件、表面处理工艺",
            "伺服 数字孪生 MES 工业机器人 SUS304"),
    OrgSpec("ucas", "中国科学院大学温州研究院", OrgKind.institute, "12", "330300", 20046,
            "孙磊研究员", "面向温州产业的新材料与先进制造研究平台。",
            "光电材料、功能涂层、锂电材料、精密检测",
            "光电材料 涂层 IP67 传感器"),
    OrgSpec("kjj", "温州市瓯海区科学技术局", OrgKind.government, "11", "330304", 30001,
            "刘科长", "负责全区科技创新政策、揭榜挂帅项目审题与验收。"),
    OrgSpec("jxj", "温州市瓯海区经济和信息化局", OrgKind.government, "11", "330304", 30002,
            "钱科长", "负责全区首台（套）装备认定与科技成果转化。"),
    OrgSpec("platform", "瓯海揭榜挂帅平台运营中心", OrgKind.platform, "91", "330304", 40001,
            "平台客服", "平台运营方。"),
)
ORG_SPECS = {spec.key: spec for spec in ORGS}


@dataclass(frozen=True)
class UserSpec:
    email: str
    name: str
    role: Role
    org: str


# Five reviewers, 刘审核 the lead (审核组长, assigns tasks): enough to walk a challenge
# through all five stages even when every stage must be decided by someone else.
USERS = (
    UserSpec("admin@example.com", "平台管理员", Role.admin, "platform"),
    UserSpec("reviewer@example.com", "刘审核", Role.reviewer, "kjj"),
    UserSpec("reviewer2@example.com", "许专家", Role.reviewer, "kjj"),
    UserSpec("reviewer3@example.com", "赵验收", Role.reviewer, "kjj"),
    UserSpec("reviewer4@example.com", "钱认定", Role.reviewer, "jxj"),
    UserSpec("reviewer5@example.com", "孙挂牌", Role.reviewer, "jxj"),
    UserSpec("yayun@example.com", "陈晓燕", Role.enterprise, "yayun"),
    UserSpec("ouyue@example.com", "林建国", Role.enterprise, "ouyue"),
    UserSpec("mingshi@example.com", "周立群", Role.enterprise, "mingshi"),
    UserSpec("ansuo@example.com", "黄志强", Role.enterprise, "ansuo"),
    UserSpec("ruichi@example.com", "郑伟", Role.enterprise, "ruichi"),
    UserSpec("oudian@example.com", "吴海波", Role.enterprise, "oudian"),
    UserSpec("wzu@example.com", "李明", Role.institute, "wzu"),
    UserSpec("wmu@example.com", "王芳", Role.institute, "wmu"),
    UserSpec("zjut@example.com", "赵强", Role.institute, "zjut"),
    UserSpec("ucas@example.com", "孙磊", Role.institute, "ucas"),
)


# --------------------------------------------------------------------------- challenges


@dataclass(frozen=True)
class BidSpec:
    institute: str
    title: str
    approach: str
    quote_wan: int  # in 万元, for readability here
    months: int
    milestones: tuple[tuple[str, int, str], ...] = ()
    submit: bool = True


@dataclass(frozen=True)
class ChallengeSpec:
    title: str
    owner: str  # enterprise org key
    target: ChallengeState
    industry: Industry
    category: Category
    background: str
    bottleneck: str
    expected_outcome: str
    indicators: tuple[tuple[str, str, str], ...]
    keywords: str
    bounty_wan: int
    months: int = 12
    ip_terms: IPTerms = IPTerms.shared
    days: int = 30  # bid deadline: days from now (negative: in the past)
    bids: tuple[BidSpec, ...] = ()
    winner: int = 0
    comments: dict[str, str] = field(default_factory=dict)


def _milestones(*names: str, step: int = 3) -> tuple[tuple[str, int, str], ...]:
    return tuple((name, (i + 1) * step, f"{name}报告及相关测试数据") for i, name in
                 enumerate(names))


MS3 = _milestones("方案设计与仿真验证", "样机试制", "中试与现场验证")

CHALLENGES = (
    # ----------------------------------------------------------------- open (揭榜中)
    ChallengeSpec(
        "高速缝制单元自动送料与视觉对位系统", "yayun", S.open, Industry.apparel,
        Category.complete_equipment,
        "企业西装前片缝制仍依赖人工对条对格，单件耗时 90 秒，熟练工流失严重。",
        "条格面料弹性大、纹理复杂，现有视觉方案对位误差超过 1.5 mm，无法满足高端定制要求。",
        "一套可接入现有吊挂线的自动送料与视觉对位缝制单元，含 PLC 控制程序与操作规程。",
        (("对条对格误差", "≤0.5", "mm"), ("单件节拍", "≤45", "秒"), ("换款时间", "≤10", "分钟")),
        "机器视觉 对条对格 PLC 吊挂系统 sewing automation", 180, 12, days=21,
        bids=(BidSpec("wzu", "基于深度学习纹理配准的自动对位缝制单元",
                      "采用线阵相机 + 深度学习纹理配准，伺服送料闭环修正，PLC 与吊挂线对接。",
                      160, 12, MS3),
              BidSpec("zjut", "面向柔性面料的视觉伺服送料系统",
                      "双目视觉测量面料形变，数字孪生预演送料轨迹。", 175, 11, MS3,
                      submit=False)),
    ),
    ChallengeSpec(
        "鞋底聚氨酯（PU）发泡成型能耗与不良率优化", "ouyue", S.open, Industry.footwear,
        Category.key_process,
        "企业年产 PU 鞋底 600 万双，发泡工序能耗占全厂 35%，缺料、气泡不良率约 4%。",
        "模温与料温耦合控制粗放，发泡配方依赖经验，缺乏在线质量判定手段。",
        "PU 发泡工艺参数优化方案及在线质量检测装置，形成企业工艺标准。",
        (("发泡不良率", "≤1.5", "%"), ("单位能耗下降", "≥20", "%"), ("模温控制精度", "±1", "℃")),
        "PU发泡 鞋底 模温控制 energy-saving 在线检测", 120, 10, days=25,
    ),
    ChallengeSpec(
        "钛合金眼镜架激光焊接强度与外观一致性提升", "mingshi", S.open, Industry.eyewear,
        Category.key_process,
        "钛架桩头、鼻托焊点依赖手工氩弧焊，焊点发黑、强度波动大，返修率 8%。",
        "β 钛与纯钛异种材料焊接易脆化，微小焊点（直径 0.8 mm）的能量控制与保护气氛难以稳定。",
        "一套适用于多款钛架的激光焊接工艺包与自动夹具，焊点拉脱力达到行业领先水平。",
        (("焊点拉脱力", "≥180", "N"), ("外观不良率", "≤1", "%"), ("焊点直径", "0.8±0.05", "mm")),
        "激光焊接 β钛 titanium 眼镜架 夹具", 90, 9, IPTerms.enterprise, days=18,
        bids=(BidSpec("wzu", "脉冲光纤激光微焊接工艺包",
                      "采用 QCW 光纤激光器与波形调制，氩气拖罩保护。",
                      85, 9, MS3),
              BidSpec("wmu", "鼻托焊点生物相容性与强度协同优化",
                      "焊后微弧氧化处理，兼顾焊点强度与皮肤接触安全。",
                      70, 8, MS3)),
    ),
    ChallengeSpec(
        "智能门锁低功耗 3D 人脸识别模组国产化", "ansuo", S.open, Industry.smart_lock,
        Category.first_set,
        "企业年出货智能门锁 80 万套，3D 人脸模组全部外购，成本高且供货不稳定。",
        "结构光模组待机功耗高、强光下识别率下降，核心算法与驱动芯片受制于人。",
        "自主可控的 3D 结构光人脸识别模组及算法 SDK，通过第三方防伪攻击测试。",
        (("待机功耗", "≤50", "μA"), ("识别时间", "≤0.8", "秒"), ("误识率 FAR", "≤0.0001", "%"),
         ("防护等级", "IP65", "")),
        "3D结构光 人脸识别 低功耗 智能锁 SDK", 300, 18, IPTerms.negotiable, days=40,
        bids=(BidSpec("ucas", "低功耗结构光模组与活体检测算法",
                      "VCSEL 点阵投射 + 自研 ISP，待机电源域分离。",
                      280, 18, MS3),
              BidSpec("zjut", "边缘端人脸识别 SDK 与模组集成", "轻量化神经网络量化部署于国产 NPU。",
                      260, 16, MS3)),
    ),
    ChallengeSpec(
        "摩托车铝合金轮毂低压铸造缺陷在线检测", "ruichi", S.open, Industry.auto_parts,
        Category.complete_equipment,
        "轮毂铸造后靠人工 X 光抽检，缩松、气孔漏检导致客户索赔。",
        "X 射线图像噪声大、缺陷形态多样，现有算法误判率高，检测节拍跟不上产线。",
        "一套 X 射线在线检测设备及缺陷识别软件，对接 MES 实现全检与追溯。",
        (("缺陷检出率", "≥99", "%"), ("误判率", "≤2", "%"), ("检测节拍", "≤60", "秒/件")),
        "X射线 DR 缺陷检测 低压铸造 MES deep learning", 250, 12, days=30,
    ),
    ChallengeSpec(
        "小型断路器银氧化锡触头材料国产替代", "oudian", S.open, Industry.electrical,
        Category.first_batch_material,
        "企业年产小型断路器 2000 万极，AgSnO2 触头材料依赖进口，价格上涨 30%。",
        "国产 AgSnO2 材料电寿命短、温升高，氧化物颗粒分布不均导致触头熔焊。",
        "可批量供货的 AgSnO2 触头材料及制备工艺，通过 GB/T 10963.1 型式试验。",
        (("电寿命", "≥10000", "次"), ("温升", "≤60", "K"), ("抗熔焊力", "≤5", "N")),
        "AgSnO2 银氧化锡 触头 断路器 首批次新材料", 200, 15, days=35,
        bids=(BidSpec("ucas", "反应合成法 AgSnO2 触头材料",
                      "内氧化与反应合成结合，添加 In2O3 改善润湿性。",
                      190, 15, MS3),),
    ),
    ChallengeSpec(
        "服装吊挂生产线数字孪生与排产软件", "yayun", S.open, Industry.digital,
        Category.industrial_software,
        "多品种小批量订单占比 70%，吊挂线排产依赖班组长经验，产线平衡率不足 65%。",
        "缺乏工序工时数据模型，插单、急单时无法快速重排，现有 MES 不支持仿真。",
        "吊挂线数字孪生平台与智能排产模块，与现有 ERP/MES 集成。",
        (("产线平衡率", "≥85", "%"), ("重排产时间", "≤5", "分钟"), ("在制品下降", "≥30", "%")),
        "数字孪生 APS 排产 MES 吊挂线", 80, 8, IPTerms.solver, days=28,
    ),
    ChallengeSpec(
        "不锈钢 SUS304 锁体精密冲压模具寿命提升", "ansuo", S.open, Industry.smart_lock,
        Category.key_process,
        "锁体采用 SUS304 冲压，级进模刃口磨损快，每 5 万次需刃磨，停机损失大。",
        "奥氏体不锈钢加工硬化严重，模具涂层与润滑工艺不匹配。",
        "模具表面处理与润滑综合方案，实现模具寿命翻番。",
        (("刃磨间隔", "≥12", "万次"), ("毛刺高度", "≤0.05", "mm")),
        "SUS304 级进模 PVD涂层 冲压", 60, 6, days=15,
    ),
    ChallengeSpec(
        "户外充电桩用 IP67 防水连接器密封结构", "oudian", S.open, Industry.electrical,
        Category.key_process,
        "企业开拓充电桩配套市场，连接器在盐雾、高低温循环后密封失效。",
        "硅橡胶密封件压缩永久变形大，插拔 500 次后防护等级下降。",
        "满足 IP67 的连接器密封结构设计与材料方案。",
        (("防护等级", "IP67", ""), ("插拔寿命", "≥1000", "次"), ("盐雾试验", "≥500", "h")),
        "IP67 连接器 密封 硅橡胶 充电桩", 70, 8, days=20,
    ),
    # ----------------------------------------------------------------- before publication
    ChallengeSpec(
        "皮革无铬鞣制工艺产业化", "ouyue", S.draft, Industry.footwear,
        Category.key_process,
        "出口欧盟鞋面革需满足 REACH 六价铬限值，企业计划全面转向无铬鞣。",
        "无铬鞣革收缩温度低、丰满度差，成本较铬鞣高 25%。",
        "无铬鞣制工艺包及中试线验证报告。",
        (("收缩温度", "≥85", "℃"), ("六价铬", "未检出", "mg/kg")),
        "无铬鞣 REACH 皮革 chrome-free", 100, 12, days=45,
    ),
    ChallengeSpec(
        "防蓝光树脂镜片膜层耐磨性提升", "mingshi", S.vetting, Industry.eyewear,
        Category.first_batch_material,
        "防蓝光镜片膜层易划伤，客户投诉率高于行业平均。",
        "多层膜系应力大、与树脂基底结合力不足。",
        "新型膜系设计与镀膜工艺，耐磨等级达到 Bayer 比值 ≥ 8。",
        (("Bayer 比值", "≥8", ""), ("蓝光阻隔率", "≥40", "%")),
        "防蓝光 镀膜 耐磨 Bayer test 树脂镜片", 75, 10, days=30,
    ),
    ChallengeSpec(
        "汽车制动卡钳壳体球墨铸铁轻量化设计", "ruichi", S.returned, Industry.auto_parts,
        Category.key_process,
        "主机厂要求卡钳减重 15%，现有 QT450 壳体设计余量大。",
        "拓扑优化后薄壁处铸造缩松风险高，疲劳性能验证周期长。",
        "轻量化卡钳壳体设计及铸造工艺，通过台架疲劳试验。",
        (("减重", "≥15", "%"), ("台架疲劳", "≥100", "万次")),
        "轻量化 拓扑优化 QT450 CAE", 110, 12, days=50,
        comments={"return": "请补充台架试验标准（如 QC/T 592）及现有产品的基线数据后再提交。"},
    ),
    ChallengeSpec(
        "通用型服装面料 AI 瑕疵检测云平台", "yayun", S.rejected, Industry.digital,
        Category.industrial_software,
        "希望建设面向全行业的面料瑕疵检测云平台。",
        "需求范围过大，未聚焦企业自身的具体技术瓶颈。",
        "云平台一套。",
        (("瑕疵检出率", "≥95", "%"),),
        "AI 瑕疵检测 云平台", 500, 24, days=60,
        comments={"reject": "需求属平台建设类项目，不属于关键核心技术攻关，"
                            "建议申报数字化改造专项。"},
    ),
    # ----------------------------------------------------------------- after the deadline
    ChallengeSpec(
        "电动自行车智能锁 NB-IoT 通信模组低温可靠性", "ansuo", S.evaluating,
        Industry.smart_lock, Category.key_process,
        "北方客户反馈 -20℃ 以下锁具通信掉线，售后成本高。",
        "电池低温内阻增大导致发射瞬间掉电，天线在金属锁体内效率低。",
        "低温可靠的通信模组电源与天线方案，通过 -30℃ 环境试验。",
        (("工作温度下限", "-30", "℃"), ("掉线率", "≤0.5", "%")),
        "NB-IoT 低温 天线 电源管理", 65, 8, days=-5,
        bids=(BidSpec("ucas", "超级电容辅助供电与 LDS 天线方案",
                      "超级电容削峰 + LDS 激光直接成型天线。",
                      60, 8, MS3),
              BidSpec("wzu", "低温电池管理与天线匹配优化", "低温电池预热策略与天线阻抗自适应匹配。",
                      55, 7, MS3)),
    ),
    ChallengeSpec(
        "眼镜板材（醋酸纤维）边角料回收再生", "mingshi", S.failed, Industry.new_materials,
        Category.first_batch_material,
        "板材镜架加工边角料占原料 60%，目前低价外卖。",
        "醋酸纤维再生后色泽、强度下降，无法回用于镜架。",
        "边角料再生工艺及再生板材样品。",
        (("回用比例", "≥30", "%"), ("拉伸强度保持率", "≥90", "%")),
        "醋酸纤维 再生 circular economy 板材", 40, 10, days=-10,
    ),
    ChallengeSpec(
        "新能源汽车电机端盖高压压铸工艺开发", "ruichi", S.award_review, Industry.auto_parts,
        Category.key_process,
        "企业承接新能源电机端盖订单，需从重力铸造转向高压压铸。",
        "端盖气密性要求高，压铸件内部气孔导致试漏不合格率 12%。",
        "高压压铸工艺方案、模具设计及批量试产验证。",
        (("试漏合格率", "≥98", "%"), ("内部气孔", "≤Ⅱ级", "ASTM E505")),
        "高压压铸 真空压铸 端盖 气密性 ADC12", 220, 12, days=-12,
        bids=(BidSpec("zjut", "真空高压压铸与模流仿真优化方案",
                      "真空辅助压铸 + ProCAST 模流仿真优化浇排系统。",
                      200, 12, MS3),
              BidSpec("wzu", "局部挤压与模温分区控制方案",
                      "局部挤压销补缩，模温机分区控温。", 185, 12, MS3),
              BidSpec("ucas", "压铸件缺陷 CT 检测与工艺闭环",
                      "工业 CT 检测反馈工艺参数。", 210, 14, MS3)),
    ),
    ChallengeSpec(
        "低压成套开关柜局部放电在线监测装置", "oudian", S.in_progress, Industry.electrical,
        Category.first_set,
        "成套开关柜出口东南亚，客户要求具备局部放电在线监测功能。",
        "柜内电磁干扰强，特高频（UHF）传感器信噪比低，误报率高。",
        "局部放电在线监测装置样机及首台（套）应用验证。",
        (("检测灵敏度", "≤5", "pC"), ("误报率", "≤1", "%"), ("通信接口", "Modbus/IEC 61850", "")),
        "局部放电 UHF 在线监测 IEC 61850 首台套", 260, 15, IPTerms.shared, days=-40,
        bids=(BidSpec("wzu", "UHF 与 TEV 联合检测的局放监测装置",
                      "UHF + TEV 多传感融合，小波去噪与 PRPD 图谱识别。",
                      240, 15, _milestones("传感器设计", "样机研制", "挂网运行", step=5)),
              BidSpec("ucas", "光纤局放传感方案", "光纤超声传感抗电磁干扰。", 255, 15, MS3)),
    ),
    ChallengeSpec(
        "运动鞋 3D 打印中底点阵结构设计与量产", "ouyue", S.acceptance_review,
        Industry.footwear, Category.key_process,
        "高端跑鞋需求增长，企业希望推出 3D 打印中底产品。",
        "点阵结构回弹与耐久性平衡难，打印效率低、成本高。",
        "点阵结构参数化设计软件与量产打印工艺。",
        (("回弹率", "≥65", "%"), ("单只打印时间", "≤40", "分钟"), ("耐折", "≥10", "万次")),
        "3D打印 点阵结构 TPU lattice 中底", 150, 10, days=-80,
        bids=(BidSpec("zjut", "参数化点阵设计与 SLS 量产工艺",
                      "基于足底压力分区的参数化点阵生成，SLS 粉末 TPU 打印。",
                      140, 10, _milestones("点阵设计软件", "打印工艺验证", step=4)),),
    ),
    ChallengeSpec(
        "服装裁床智能排料算法", "yayun", S.completed, Industry.apparel,
        Category.industrial_software,
        "裁床排料依赖进口软件，面料利用率 82%，年面料成本超 8000 万元。",
        "多尺码混排、条格对位约束下排料算法求解慢、利用率低。",
        "国产智能排料软件，对接自动裁床（CAD/CAM）。",
        (("面料利用率", "≥86", "%"), ("排料时间", "≤3", "分钟/床")),
        "智能排料 nesting 裁床 CAD 遗传算法", 95, 8, IPTerms.shared, days=-150,
        bids=(BidSpec("wzu", "基于强化学习的多尺码智能排料",
                      "强化学习 + 启发式搜索，支持对条对格约束。",
                      90, 8, _milestones("算法原型", "软件集成与上线", step=4)),
              BidSpec("zjut", "遗传算法排料软件", "改进遗传算法与并行计算。", 88, 8, MS3)),
        comments={"return": "请明确面料利用率的统计口径（按床次还是按月）。"},
    ),
)


# --------------------------------------------------------------------------- loading


def load_demo() -> list[str]:
    """Load the demo data (adding only what is missing) and return lines to print."""
    orgs = {spec.key: _ensure_org(spec) for spec in ORGS}
    password_hash = None
    users: dict[str, User] = {}
    created_users = 0
    for spec in USERS:
        user = find_user_by_email(spec.email)
        if user is None:
            # One hash for all demo users: scrypt is slow on purpose, and they share a password.
            password_hash = password_hash or hash_password(DEMO_PASSWORD)
            user = _create_user(spec, orgs[spec.org], password_hash)
            created_users += 1
        users[spec.org] = users.get(spec.org) or user
    reviewers = [find_user_by_email(u.email) for u in USERS if u.role == Role.reviewer]
    ensure_default_stages()
    if not reviewers[0].is_lead_reviewer:  # the lead reviewer (审核组长) assigns review tasks
        set_lead_reviewer(reviewers[0], find_user_by_email("admin@example.com"), True)

    created_challenges = 0
    for spec in CHALLENGES:
        if _challenge_exists(spec.title):
            continue
        _drive(spec, users, reviewers)
        created_challenges += 1
    # Anything left open past its deadline (from an earlier run) closes as it would by itself.
    challenges.close_due_challenges()
    from .digests.demo import load_demo_subscriptions

    subscription_lines = load_demo_subscriptions()

    lines = [f"demo data: {created_users} users and {created_challenges} challenges added",
             "", "demo logins (password for every demo user: " + DEMO_PASSWORD + ")"]
    for spec in USERS:
        lines.append(f"  {spec.role.value:<10} {spec.email:<24} {DEMO_PASSWORD}  "
                     f"{spec.name} · {orgs[spec.org].name}")
    counts = dict(db.session.execute(
        sa.select(Challenge.state, sa.func.count()).group_by(Challenge.state)).all())
    lines.append("")
    lines.append("challenges: " + ", ".join(f"{state.value} {counts.get(state, 0)}"
                                            for state in ChallengeState))
    return lines + subscription_lines


def _ensure_org(spec: OrgSpec) -> Organization:
    uscc = demo_uscc(spec.prefix, spec.area, spec.serial)
    validate_uscc(uscc)  # a demo code that the platform would refuse is a bug here
    org = db.session.execute(
        sa.select(Organization).where(Organization.uscc == uscc)).scalar_one_or_none()
    if org is not None:
        return org
    with atomic():
        org = Organization(name=spec.name, kind=spec.kind, uscc=uscc, region=REGION,
                           contact_name=spec.contact, contact_phone=f"0577-8{spec.serial:07d}",
                           description=spec.description, expertise=spec.expertise,
                           keywords=spec.keywords, verified_at=utcnow())
        db.session.add(org)
        db.session.flush()
        record_event(actor=None, action="verify_organization", subject=org, to_state="verified",
                     comment="demo data")
        organization_saved.send(org, actor=None)
    return org


def _create_user(spec: UserSpec, org: Organization, password_hash: str) -> User:
    with atomic():
        user = User(email=spec.email, name=spec.name, password_hash=password_hash,
                    role=spec.role, organization=org)
        db.session.add(user)
        db.session.flush()
        record_event(actor=None, action="create_user", subject=user, to_state=spec.role.value)
    return user


def _challenge_exists(title: str) -> bool:
    return db.session.execute(
        sa.select(Challenge.id).where(Challenge.title == title)).first() is not None


def _drive(spec: ChallengeSpec, users: dict[str, User], reviewers: list[User]) -> Challenge:
    """Create one challenge and walk it through the services to its target state."""
    now = utcnow()
    deadline = _local_day(now, spec.days, time(17, 0))
    # A challenge whose deadline is past was posted and published before it.
    posted = min(_local_day(now, -3, time(9, 30)),
                 _local_day(deadline, -33, time(9, 30)))
    owner = users[spec.owner]
    # A reviewer per stage, as an office that separates its stages would staff them.
    reviewer, expert, inspector = reviewers[0], reviewers[1], reviewers[2]
    challenge = challenges.create_challenge(owner, _challenge_data(spec, deadline), now=posted)
    if spec.target == S.draft:
        return challenge
    challenges.submit_challenge(challenge, owner, now=posted)
    if spec.target == S.vetting:
        return challenge
    if spec.target == S.returned:
        decide(challenge, reviewer, Outcome.return_, spec.comments["return"],
               now=_later(posted, 1, now))
        return challenge
    if spec.target == S.rejected:
        decide(challenge, reviewer, Outcome.reject, spec.comments["reject"],
               now=_later(posted, 1, now))
        return challenge
    if "return" in spec.comments:  # returned once, revised, submitted again
        decide(challenge, reviewer, Outcome.return_, spec.comments["return"],
               now=_later(posted, 1, now))
        challenges.submit_challenge(challenge, owner, now=_later(posted, 2, now))
    decide(challenge, reviewer, Outcome.approve, "需求明确，指标可考核，同意发榜。",
           now=_later(posted, 3, now))

    bids = [_bid(challenge, users[b.institute], b, _later(posted, 5 + i, now))
            for i, b in enumerate(spec.bids)]
    if spec.target == S.open:
        return challenge
    # Bidding closes by itself at the deadline; each later step takes days, as in an office
    # (the statistics' time per stage are read from these times).
    challenges.close_due_challenges(now=min(deadline, now))
    if spec.target in (S.evaluating, S.failed):
        return challenge

    winner = bids[spec.winner]
    challenges.select_bid(challenge, winner, owner, now=_later(deadline, 4, now))
    if spec.target == S.award_review:
        return challenge
    decide(challenge, expert, Outcome.approve,
           "揭榜方技术路线可行、团队基础扎实，报价合理，同意企业选定结果。",
           now=_later(deadline, 9, now))
    institute = users[spec.bids[spec.winner].institute]
    milestones = list(winner.milestones)
    if spec.target == S.in_progress:
        challenges.report_milestone(milestones[0], institute,
                                    "已完成传感器结构设计与电磁仿真，样件 UHF 灵敏度实测 4.2 pC。",
                                    now=_later(deadline, 40, now))
        challenges.confirm_milestone(milestones[0], owner, now=_later(deadline, 42, now))
        return challenge
    for n, milestone in enumerate(milestones, start=1):
        challenges.report_milestone(milestone, institute,
                                    f"{milestone.name}已完成，交付物：{milestone.deliverable}。",
                                    now=_later(deadline, 9 + 25 * n, now))
        challenges.confirm_milestone(milestone, owner, now=_later(deadline, 11 + 25 * n, now))
    if spec.target == S.acceptance_review:
        return challenge
    decide(challenge, inspector, Outcome.approve,
           "各项技术指标经第三方检测均达到榜单要求，同意验收。",
           now=_later(deadline, 20 + 25 * len(milestones), now))
    return challenge


def _local_day(start: datetime, days: int, at: time) -> datetime:
    """The given Shanghai wall-clock time, ``days`` days after ``start``."""
    return from_local(datetime.combine(to_local(start).date() + timedelta(days=days), at))


def _later(start: datetime, days: int, cap: datetime) -> datetime:
    return min(start + timedelta(days=days), cap)


def _challenge_data(spec: ChallengeSpec, deadline: datetime) -> challenges.ChallengeData:
    return challenges.ChallengeData(
        title=spec.title, industry=spec.industry, category=spec.category,
        background=spec.background, bottleneck=spec.bottleneck,
        expected_outcome=spec.expected_outcome, bounty_yuan=spec.bounty_wan * 10_000,
        bid_deadline=deadline, delivery_months=spec.months, ip_terms=spec.ip_terms,
        keywords=spec.keywords,
        indicators=[challenges.IndicatorData(name, target, unit)
                    for name, target, unit in spec.indicators],
    )


def _bid(challenge: Challenge, user: User, spec: BidSpec, now: datetime):
    institute = ORG_SPECS[spec.institute]
    data = challenges.BidData(
        title=spec.title, approach=spec.approach, team_lead=institute.contact,
        quote_yuan=spec.quote_wan * 10_000,
        duration_months=max([spec.months, *(m[1] for m in spec.milestones)]),
        team_members="博士 2 名、高级工程师 3 名、研究生 4 名",
        lab=f"{institute.name}重点实验室",
        prior_results="授权发明专利 5 项，发表 SCI/EI 论文 12 篇，承担省重点研发计划项目 2 项。",
        milestones=[challenges.MilestoneData(name, month, deliverable)
                    for name, month, deliverable in spec.milestones],
    )
    return challenges.save_bid(challenge, user, data, submit=spec.submit, now=now)
