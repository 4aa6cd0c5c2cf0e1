"""Reference data of the insurer-traffic simulator: insurers, places, causes, mixes.

Pure constants. Weights are relative (they need not sum to 100). Nothing here
is personal data: names, phones and ids are drawn in :mod:`workers.sim.people`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class City:
    """A simulated city: Chinese names as insurers send them, plus codes."""

    province: str
    name: str
    prov_code: str  # adjuster id infix, e.g. GD in ADJ-GD-0042
    area_code: str  # 6-digit administrative division code (report numbers, resident ids)
    plate: str  # licence-plate prefix, e.g. 粤B
    districts: tuple[str, ...]
    weight: int


CITIES: tuple[City, ...] = (
    City("广东省", "深圳市", "GD", "440300", "粤B", ("南山区", "福田区", "宝安区", "龙岗区", "罗湖区"), 12),
    City("广东省", "广州市", "GD", "440100", "粤A", ("天河区", "越秀区", "海珠区", "白云区", "番禺区"), 11),
    City("广东省", "东莞市", "GD", "441900", "粤S", ("南城街道", "长安镇", "虎门镇", "松山湖"), 5),
    City("广东省", "佛山市", "GD", "440600", "粤E", ("禅城区", "南海区", "顺德区"), 5),
    City("浙江省", "杭州市", "ZJ", "330100", "浙A", ("西湖区", "上城区", "滨江区", "余杭区"), 7),
    City("浙江省", "宁波市", "ZJ", "330200", "浙B", ("海曙区", "鄞州区", "北仑区"), 4),
    City("浙江省", "温州市", "ZJ", "330300", "浙C", ("鹿城区", "瓯海区", "龙湾区"), 3),
    City("江苏省", "南京市", "JS", "320100", "苏A", ("玄武区", "鼓楼区", "江宁区", "建邺区"), 5),
    City("江苏省", "苏州市", "JS", "320500", "苏E", ("姑苏区", "工业园区", "吴中区", "昆山市"), 6),
    City("上海市", "上海市", "SH", "310100", "沪A", ("浦东新区", "徐汇区", "闵行区", "静安区"), 10),
    City("北京市", "北京市", "BJ", "110100", "京A", ("朝阳区", "海淀区", "丰台区", "西城区"), 9),
    City("四川省", "成都市", "SC", "510100", "川A", ("武侯区", "锦江区", "高新区", "青羊区"), 6),
    City("湖北省", "武汉市", "HB", "420100", "鄂A", ("武昌区", "江汉区", "洪山区", "汉阳区"), 5),
    City("福建省", "厦门市", "FJ", "350200", "闽D", ("思明区", "湖里区", "集美区"), 3),
    City("福建省", "福州市", "FJ", "350100", "闽A", ("鼓楼区", "台江区", "仓山区"), 3),
    City("山东省", "青岛市", "SD", "370200", "鲁B", ("市南区", "黄岛区", "崂山区"), 3),
    City("山东省", "济南市", "SD", "370100", "鲁A", ("历下区", "槐荫区", "历城区"), 2),
    City("湖南省", "长沙市", "HN", "430100", "湘A", ("岳麓区", "芙蓉区", "雨花区"), 3),
    City("重庆市", "重庆市", "CQ", "500100", "渝A", ("渝中区", "江北区", "渝北区"), 4),
)

#: Provinces whose typhoon losses carry the typhoon catastrophe code.
TYPHOON_PROVINCES: frozenset[str] = frozenset({"广东省", "浙江省", "福建省", "上海市"})
#: Catastrophe code templates (``{year}`` is the report year).
TYPHOON_CAT = "TY-{year}-21"
FLOOD_CAT = "FL-{year}-07"

#: Insurer code → (weight, two-letter code used in report and policy numbers).
INSURERS: dict[str, tuple[int, str]] = {
    "PICC": (30, "DA"),
    "PINGAN": (27, "PA"),
    "CPIC": (18, "CP"),
    "CHINALIFE": (13, "CL"),
    "TAIPING": (12, "TP"),
}

LINES: dict[str, int] = {
    "auto": 60, "property": 15, "cargo": 5, "liability": 7, "health": 8, "agriculture": 5,
}
LINE_CODE: dict[str, str] = {
    "auto": "A", "property": "B", "cargo": "C", "liability": "D", "health": "E", "agriculture": "F",
}

CHANNELS: dict[str, int] = {"phone": 45, "app": 30, "web": 10, "agent": 10, "counter": 5}

#: Causes per line; the second mapping is the weather-driven subset used by surges.
CAUSES: dict[str, dict[str, int]] = {
    "auto": {"collision": 55, "scrape": 14, "glass_breakage": 8, "vandalism": 4, "theft": 4,
             "flood": 6, "typhoon": 3, "hail": 3, "fire": 3},
    "property": {"fire": 22, "water_leak": 22, "flood": 18, "typhoon": 12, "theft": 10,
                 "storm": 10, "lightning": 6},
    "cargo": {"cargo_damage": 40, "collision": 15, "wetting": 15, "theft": 12, "overturn": 12,
              "fire": 6},
    "liability": {"third_party_injury": 40, "property_damage": 35, "product_liability": 15,
                  "employer_liability": 10},
    "health": {"illness": 50, "accident_injury": 35, "hospitalization": 15},
    "agriculture": {"flood": 30, "drought": 18, "hail": 15, "typhoon": 12,
                    "livestock_disease": 15, "frost": 10},
}
WEATHER_CAUSES: frozenset[str] = frozenset(
    {"flood", "typhoon", "storm", "hail", "lightning", "wetting"}
)

#: Incident descriptions per cause family (PII free text; ``{plate}`` filled for auto).
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "collision": ("两车追尾,无人员受伤", "{plate} 与电动车发生刮擦", "路口左转时与直行车辆相撞"),
    "scrape": ("倒车时刮蹭立柱", "{plate} 停放期间被不明车辆刮花"),
    "flood": ("暴雨导致车辆/房屋进水", "地下车库积水,车辆被淹"),
    "typhoon": ("台风过境,树木倒伏砸中", "台风导致门窗损毁、屋内进水"),
    "fire": ("电线短路起火", "厨房失火,部分财产烧毁"),
    "theft": ("夜间失窃,已向派出所报案", "{plate} 停放期间被盗"),
    "default": ("客户来电报案,详情待查勘", "已拍照留存,等待公估师联系"),
}

MISSING_DOCUMENTS: dict[str, tuple[str, ...]] = {
    "auto": ("驾驶证", "行驶证", "事故认定书", "维修发票", "银行账户信息"),
    "property": ("财产损失清单", "购置发票", "消防证明", "银行账户信息"),
    "cargo": ("货运单据", "装箱单", "商业发票", "货损检验报告"),
    "liability": ("事故责任认定书", "受害方身份证明", "赔偿协议", "医疗费用发票"),
    "health": ("病历", "医疗费用发票", "出院小结", "诊断证明书"),
    "agriculture": ("承保清单", "乡镇证明", "损失照片", "银行账户信息"),
}

REJECT_REASONS: tuple[str, ...] = (
    "事故不属于保险责任范围", "出险时间在保险期间之外", "未按约定及时报案,损失无法核定",
    "驾驶人无有效驾驶证", "属于免责条款约定情形", "重复索赔,已在其他保单赔付",
)
UNABLE_REASONS: tuple[str, ...] = (
    "现场已清理,无法查勘", "客户多次联系未接听", "标的已修复,无法核定损失", "道路封闭无法到达",
)
UPHELD_REASONS: tuple[str, ...] = (
    "投诉属实,已向客户致歉并整改", "处理时效超出承诺,已对相关人员考核", "已重新核定并告知客户",
)
DISMISSED_REASONS: tuple[str, ...] = (
    "经核实,处理符合合同约定", "定损金额依据充分,已向客户解释", "时效在监管规定范围内",
)
COMPLAINT_TEXT: dict[str, tuple[str, ...]] = {
    "delay": ("查勘员迟到两小时,电话 {phone} 多次无人接听", "报案三天无人联系"),
    "service_attitude": ("客服态度恶劣,挂断电话", "公估师说话不耐烦"),
    "amount_dispute": ("定损金额明显偏低,要求重新核定", "维修报价与定损差距大"),
    "adjuster_conduct": ("查勘员索要好处费", "查勘员未出示工作证"),
    "privacy": ("个人信息被泄露,接到推销电话 {phone}", "理赔资料被他人获知"),
    "other": ("理赔流程不清楚,希望有人解释", "对处理结果有疑问"),
}
CATEGORIES: dict[str, int] = {
    "delay": 30, "service_attitude": 20, "amount_dispute": 20, "adjuster_conduct": 15,
    "privacy": 5, "other": 10,
}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方")
GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉文斌婷宇浩凯鹏辉晨欣怡子轩"
    "梓涵雨佳嘉琪思源博文俊杰一鸣海燕春梅秋菊冬雪晓东晓明立新振华"
)
STREETS = (
    "深南大道", "人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "长江路", "科技路",
    "滨海大道", "迎宾大道", "工业大道", "学府路", "文化路", "光明街", "东风路", "幸福路", "青年路",
)
PHONE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "180", "181", "182", "183", "185", "186", "187", "188", "189",
)

#: Every skill a dispatch may need (SPEC §3): the lines plus heavy_vehicle.
SKILLS: tuple[str, ...] = (*LINES, "heavy_vehicle")

# Default thresholds of SPEC §4.3 (the simulator's own model of the chain).
FAST_TRACK_LIMIT = Decimal("5000.00")
CAT_FAST_TRACK_LIMIT = Decimal("20000.00")
JOINT_THRESHOLD = Decimal("100000.00")
MONEY_CAP = Decimal("999999999.99")
SURGE_MIN = 20  # smallest count that can open a surge (SPEC §4.5)
