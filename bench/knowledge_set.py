# ruff: noqa: E501  (data: one case per line reads better than wrapped)
"""The knowledge-answer eval set: 33 documents (bench/data/knowledge/docs) and their questions.

Written for issue #20 before looking at how retrieval or the retrieval tool work: English and
Chinese documents in md, txt, csv and html (tables included), look-alike documents (two leave
policies, two routers, two quarters, two meeting minutes, two purifier manuals, two incident
reports) where only the right one holds the answer, questions in the document's language and
across (a Chinese question on an English document and back), and questions whose answer is in
no document (`absent`: the right answer says the documents do not contain it).

Each question: `answers` — alternatives, any one appearing in the model's answer counts (after
normalising case, spaces and thousands separators); `evidence` — a string of the source
document that a retrieved chunk must contain for recall@5. The dev/test split is a hash of the
id (fixed, stored in the data file). Tune on dev only.

    .venv/bin/python bench/knowledge_set.py   # rewrites bench/data/knowledge/questions.jsonl
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent / "data" / "knowledge"
DOCS = HERE / "docs"
OUT = HERE / "questions.jsonl"

# (id, question language, document (file stem) or None when absent, question, answers, evidence)
Q = [
    # en_leave_policy_2025 / 2023 (look-alikes)
    (
        "lp01",
        "en",
        "en_leave_policy_2025",
        "Under the current Halvorsen leave policy, how many days of annual leave does someone with 4 years of service get?",
        ["21"],
        "2 to 5 years",
    ),
    (
        "lp02",
        "en",
        "en_leave_policy_2025",
        "How many weeks of paid parental leave does a primary caregiver get at Halvorsen Instruments now?",
        ["20 weeks", "20"],
        "20 weeks",
    ),
    (
        "lp03",
        "en",
        "en_leave_policy_2025",
        "Who should I contact with questions about the 2025 leave policy?",
        ["Ingrid Solberg"],
        "Ingrid Solberg",
    ),
    (
        "lp04",
        "zh",
        "en_leave_policy_2025",
        "Halvorsen 公司2025年的政策下，每年有几天带薪病假？",
        ["12"],
        "12 days of paid sick leave",
    ),
    (
        "lp05",
        "zh",
        "en_leave_policy_2025",
        "Halvorsen 现行休假政策中，未休年假最多可以结转几天？",
        ["5"],
        "Up to 5 unused days",
    ),
    (
        "lp06",
        "en",
        "en_leave_policy_2023",
        "In the 2023 edition of the Halvorsen leave policy, how many sick days per year were paid?",
        ["10"],
        "10 days of paid sick leave",
    ),
    (
        "lp07",
        "en",
        "en_leave_policy_2023",
        "Who was the HR contact named in Halvorsen's superseded 2023 leave policy?",
        ["Lars Bakke"],
        "Lars Bakke",
    ),
    (
        "lp08",
        "zh",
        "en_leave_policy_2023",
        "Halvorsen 2023版休假政策里，主要照护人有几周育儿假？",
        ["16"],
        "16 weeks",
    ),
    (
        "lp09",
        "en",
        "en_leave_policy_2025",
        "How far in advance must leave be requested in PeopleDesk?",
        ["10 working days", "10"],
        "10 working days",
    ),
    # routers
    (
        "rt01",
        "en",
        "en_router_kx200",
        "How long do I hold the reset button on the KX200?",
        ["8 seconds", "8"],
        "8 seconds",
    ),
    (
        "rt02",
        "en",
        "en_router_kx300",
        "What is the default admin address of the Kestrel KX300?",
        ["192.168.10.1"],
        "192.168.10.1",
    ),
    (
        "rt03",
        "zh",
        "en_router_kx200",
        "Kestrel KX200 路由器的最大速率是多少？",
        ["1,800", "1800"],
        "1,800 Mbps",
    ),
    ("rt04", "zh", "en_router_kx300", "KX300 的保修期是多少个月？", ["36"], "36 months"),
    (
        "rt05",
        "en",
        "en_router_kx200",
        "What does a solid red light mean on the KX200?",
        ["no internet"],
        "Solid red: no internet connection on the WAN port",
    ),
    (
        "rt06",
        "en",
        "en_router_kx300",
        "What is the KX300 support hotline number?",
        ["7946 0388", "79460388"],
        "+44 20 7946 0388",
    ),
    ("rt07", "zh", "en_router_kx300", "KX300 恢复出厂设置需要按住复位键多少秒？", ["15"], "15 seconds"),
    (
        "rt08",
        "en",
        "en_router_kx200",
        "Which Wi-Fi standard does the KX200 support?",
        ["Wi-Fi 6", "802.11ax"],
        "Wi-Fi 6 (802.11ax)",
    ),
    # price list (csv)
    (
        "pl01",
        "en",
        "en_price_list",
        "What is the unit price of the Oakline standing desk?",
        ["389"],
        "Oakline standing desk",
    ),
    (
        "pl02",
        "en",
        "en_price_list",
        "What's the minimum order for the Gelline fountain pen?",
        ["10"],
        "Gelline fountain pen",
    ),
    ("pl03", "zh", "en_price_list", "SKU 为 CH-3410 的产品交货期是几天？", ["14"], "CH-3410"),
    (
        "pl04",
        "zh",
        "en_price_list",
        "Lumo LED 台灯的单价是多少欧元？",
        ["36.5", "36.50"],
        "Lumo desk lamp LED",
    ),
    ("pl05", "en", "en_price_list", "Which SKU is the A4 squared notebook?", ["NB-1002"], "NB-1002"),
    # travel per diem
    ("tp01", "en", "en_travel_per_diem", "What is Meridian's per diem for London?", ["88"], "| London | 88"),
    (
        "tp02",
        "en",
        "en_travel_per_diem",
        "What's the hotel cap per night in Singapore under Meridian's rules?",
        ["260"],
        "| Singapore | 80 | 260",
    ),
    (
        "tp03",
        "zh",
        "en_travel_per_diem",
        "Meridian 咨询公司规定，飞行时间多少小时以上可以坐商务舱？",
        ["6"],
        "6 hours or more",
    ),
    (
        "tp04",
        "zh",
        "en_travel_per_diem",
        "Meridian 出差到上海，每天的餐补（per diem）是多少美元？",
        ["62"],
        "| Shanghai | 62",
    ),
    (
        "tp05",
        "en",
        "en_travel_per_diem",
        "Within how many days after returning must a Meridian expense claim be filed?",
        ["30"],
        "within 30 days of return",
    ),
    (
        "tp06",
        "en",
        "en_travel_per_diem",
        "Who approves late expense claims at Meridian?",
        ["Paulo Mendes"],
        "Paulo Mendes",
    ),
    # incidents (look-alikes)
    (
        "in01",
        "en",
        "en_incident_inc4471",
        "How long did the payment gateway outage INC-4471 last?",
        ["47 minutes", "47"],
        "47 minutes",
    ),
    (
        "in02",
        "en",
        "en_incident_inc4471",
        "What caused incident INC-4471?",
        ["certificate", "TLS"],
        "expired TLS certificate",
    ),
    (
        "in03",
        "zh",
        "en_incident_inc4471",
        "INC-4471 故障期间大约有多少笔交易被拒绝？",
        ["18,400", "18400", "1.84万"],
        "18,400 transactions",
    ),
    (
        "in04",
        "en",
        "en_incident_inc4502",
        "Who was the incident commander for INC-4502?",
        ["Tomasz Wilk"],
        "Incident commander: Tomasz Wilk",
    ),
    (
        "in05",
        "zh",
        "en_incident_inc4502",
        "INC-4502 事件中搜索延迟的P95上升到了多少？",
        ["4 seconds", "4 秒", "4秒", "4s"],
        "more than 4 seconds",
    ),
    (
        "in06",
        "en",
        "en_incident_inc4502",
        "At what heap usage will the new alert from INC-4502 fire?",
        ["85"],
        "85 percent",
    ),
    (
        "in07",
        "zh",
        "en_incident_inc4471",
        "支付网关故障 INC-4471 的事故指挥官是谁？",
        ["Rachel Okafor"],
        "Incident commander: Rachel Okafor",
    ),
    (
        "in08",
        "en",
        "en_incident_inc4502",
        "Which cluster was affected in the search latency incident?",
        ["search-ap-1"],
        "search-ap-1",
    ),
    # onboarding (html)
    (
        "ob01",
        "en",
        "en_onboarding",
        "What time does the first day start at Brightwater Labs?",
        ["9:30"],
        "9:30",
    ),
    (
        "ob02",
        "en",
        "en_onboarding",
        "What is the pass mark of the security awareness course?",
        ["80"],
        "80 percent",
    ),
    (
        "ob03",
        "zh",
        "en_onboarding",
        "Brightwater Labs 的试用期是多久？",
        ["6", "六个月"],
        "probation period is 6 months",
    ),
    ("ob04", "zh", "en_onboarding", "Brightwater Labs 的 CTO 叫什么名字？", ["Amara Osei"], "Amara Osei"),
    (
        "ob05",
        "en",
        "en_onboarding",
        "How many approvals does a pull request need at Brightwater?",
        ["two", "2"],
        "two approvals",
    ),
    # lab safety
    (
        "ls01",
        "en",
        "en_lab_safety",
        "What is the maximum number of students allowed in lab C-210 at once?",
        ["24"],
        "No more than 24 students",
    ),
    (
        "ls02",
        "en",
        "en_lab_safety",
        "Where is the fire assembly point for the chemistry teaching lab?",
        ["car park B"],
        "car park B",
    ),
    (
        "ls03",
        "zh",
        "en_lab_safety",
        "化学教学实验室的值班技术员是谁？分机号多少？",
        ["Graham Pike", "4417"],
        "Graham Pike",
    ),
    (
        "ls04",
        "zh",
        "en_lab_safety",
        "实验室里柜子外最多能放多少升易燃溶剂？",
        ["10"],
        "no more than 10 litres",
    ),
    (
        "ls05",
        "en",
        "en_lab_safety",
        "How often must the eyewash station be flushed?",
        ["Monday", "weekly", "every week"],
        "flushed every Monday",
    ),
    # Q3 / Q2 results (look-alikes)
    (
        "q301",
        "en",
        "en_q3_results",
        "What was Northwind Bikes' revenue in Q3 2025?",
        ["62.8"],
        "62.8 million euros",
    ),
    (
        "q302",
        "en",
        "en_q3_results",
        "What was the gross margin in Q3 2025 for Northwind?",
        ["38.6"],
        "38.6 percent",
    ),
    (
        "q303",
        "zh",
        "en_q3_results",
        "Northwind Bikes 2025年第三季度电动自行车的收入是多少百万欧元？",
        ["31.5"],
        "| E-bikes | 31.5",
    ),
    ("q304", "zh", "en_q3_results", "Northwind 第三家工厂开在哪个城市？", ["Brno", "布尔诺"], "Brno"),
    (
        "q305",
        "en",
        "en_q2_results",
        "How many employees did Northwind Bikes have at the end of Q2 2025?",
        ["1,185", "1185"],
        "1,185",
    ),
    (
        "q306",
        "en",
        "en_q2_results",
        "What share of units sold were e-bikes in Q2 2025?",
        ["37"],
        "37 percent",
    ),
    ("q307", "zh", "en_q2_results", "Northwind 2025年第二季度营收同比增长了多少？", ["9"], "grew 9 percent"),
    (
        "q308",
        "en",
        "en_q3_results",
        "What full-year revenue range did the CFO give with the Q3 2025 results?",
        ["240", "250"],
        "between 240 and 250",
    ),
    # api limits
    (
        "ap01",
        "en",
        "en_api_limits",
        "How many requests per minute does the Skyline Team plan allow?",
        ["600"],
        "| Team | 600",
    ),
    (
        "ap02",
        "en",
        "en_api_limits",
        "What HTTP status does Skyline return when a rate limit is exceeded?",
        ["429"],
        "HTTP 429",
    ),
    (
        "ap03",
        "zh",
        "en_api_limits",
        "Skyline 的免费套餐每天可以请求多少次？",
        ["5,000", "5000"],
        "| Free | 60 | 5,000",
    ),
    ("ap04", "zh", "en_api_limits", "Skyline API 的密钥多久轮换一次？", ["90"], "rotated every 90 days"),
    ("ap05", "en", "en_api_limits", "How much does the Skyline Team plan cost per month?", ["49"], "49 USD"),
    (
        "ap06",
        "en",
        "en_api_limits",
        "How many times are Skyline webhooks retried?",
        ["5", "five"],
        "retried 5 times",
    ),
    # clinic
    (
        "cl01",
        "en",
        "en_clinic",
        "What time does Riverside Family Clinic close on Saturdays?",
        ["13:00", "1 pm", "1pm"],
        "Saturday: 09:00–13:00",
    ),
    (
        "cl02",
        "en",
        "en_clinic",
        "Which doctor at Riverside handles paediatrics?",
        ["Owen Fitzgerald"],
        "Owen Fitzgerald",
    ),
    (
        "cl03",
        "zh",
        "en_clinic",
        "Riverside 诊所错过预约且未提前24小时通知要付多少罚款？",
        ["25"],
        "25 pounds",
    ),
    (
        "cl04",
        "zh",
        "en_clinic",
        "Riverside 诊所做胆固醇检查前需要空腹几个小时？",
        ["12"],
        "fast for 12 hours",
    ),
    (
        "cl05",
        "en",
        "en_clinic",
        "On which days does Dr. Priya Natarajan see patients?",
        ["Monday"],
        "Monday, Wednesday, Friday",
    ),
    # warranty
    (
        "wa01",
        "en",
        "en_warranty_aerocool",
        "How long is the AeroCool DH-20's compressor covered?",
        ["7 years", "7"],
        "compressor is covered for 7 years",
    ),
    (
        "wa02",
        "en",
        "en_warranty_aerocool",
        "Within how many days must the DH-20 be registered?",
        ["60"],
        "within 60 days",
    ),
    (
        "wa03",
        "zh",
        "en_warranty_aerocool",
        "AeroCool DH-20 除湿机的滤网多久更换一次？",
        ["6"],
        "replace every 6 months",
    ),
    (
        "wa04",
        "zh",
        "en_warranty_aerocool",
        "DH-20 在多少度以上使用造成的损坏不在保修范围内？",
        ["35"],
        "above 35 °C",
    ),
    # conference (csv)
    (
        "cf01",
        "en",
        "en_conference_agenda",
        "Who gives the opening keynote?",
        ["Elena Moravec"],
        "Dr. Elena Moravec",
    ),
    (
        "cf02",
        "en",
        "en_conference_agenda",
        "In which room is the bike lane mapping workshop?",
        ["Birch"],
        "Room Birch",
    ),
    ("cf03", "zh", "en_conference_agenda", "关于阿伯丁氢能公交的报告几点开始？", ["15:30"], "15:30"),
    ("cf04", "zh", "en_conference_agenda", "会议中电池回收的演讲者是谁？", ["Kwame Asante"], "Kwame Asante"),
    # shipping (csv)
    (
        "sr01",
        "en",
        "en_shipping_rates",
        "How much is express shipping to Japan?",
        ["48"],
        "Japan; South Korea; Singapore",
    ),
    (
        "sr02",
        "en",
        "en_shipping_rates",
        "What is the maximum parcel weight for Australia?",
        ["20"],
        "Australia; New Zealand",
    ),
    (
        "sr03",
        "zh",
        "en_shipping_rates",
        "寄到德国的标准运费是多少美元？",
        ["18"],
        "United Kingdom; Germany; France",
    ),
    ("sr04", "zh", "en_shipping_rates", "寄往巴西的快递（Express）多少钱？", ["64"], "Brazil; South Africa"),
    # zh 考勤制度
    (
        "kq01",
        "zh",
        "zh_考勤制度",
        "星河科技的核心工作时间是几点到几点？",
        ["10:00", "10点"],
        "核心工作时间为上午10:00至下午4:00",
    ),
    ("kq02", "zh", "zh_考勤制度", "星河科技每月允许迟到几次？", ["3"], "每月允许迟到3次"),
    ("kq03", "zh", "zh_考勤制度", "法定节假日加班按几倍工资计算？", ["3"], "法定节假日加班按3倍工资计算"),
    (
        "kq04",
        "en",
        "zh_考勤制度",
        "At Xinghe Technology, how many days of annual leave does an employee with 12 years of service get?",
        ["10"],
        "满10年不满20年为10天",
    ),
    (
        "kq05",
        "en",
        "zh_考勤制度",
        "How many consecutive days of absence without leave count as resignation at Xinghe Technology?",
        ["3", "three"],
        "连续旷工3天",
    ),
    (
        "kq06",
        "en",
        "zh_考勤制度",
        "What is the extension number of the HR contact for Xinghe's attendance rules?",
        ["8021"],
        "分机 8021",
    ),
    # zh 报销制度
    (
        "bx01",
        "zh",
        "zh_报销制度",
        "星河科技员工去深圳出差，住宿标准每晚多少元？",
        ["500"],
        "一线城市（北京、上海、广州、深圳） | 500",
    ),
    ("bx02", "zh", "zh_报销制度", "出差的伙食补助每天多少钱？", ["120"], "每天补助120元"),
    (
        "bx03",
        "zh",
        "zh_报销制度",
        "单笔报销超过多少元需要财务总监审批？",
        ["5000", "5,000"],
        "单笔超过5000元",
    ),
    (
        "bx04",
        "en",
        "zh_报销制度",
        "Under Xinghe's travel rules, what is the hotel limit per night for a manager in a provincial capital?",
        ["600"],
        "| 省会城市 | 400 | 600",
    ),
    (
        "bx05",
        "en",
        "zh_报销制度",
        "Above what distance may Xinghe employees fly instead of taking the high-speed train?",
        ["800"],
        "超过800公里",
    ),
    (
        "bx06",
        "en",
        "zh_报销制度",
        "Who is Xinghe's finance director who approves large reimbursements?",
        ["王建国"],
        "财务总监王建国",
    ),
    # 净化器 A1 / A2 (look-alikes)
    ("jh01", "zh", "zh_净化器A1说明书", "清风A1净化器的CADR是多少？", ["300"], "| 颗粒物CADR | 300"),
    ("jh02", "zh", "zh_净化器A2说明书", "清风A2的滤网多久换一次？", ["9"], "每 9 个月更换一次"),
    (
        "jh03",
        "zh",
        "zh_净化器A1说明书",
        "A1 净化器滤网需要更换时指示灯是什么颜色？",
        ["红"],
        "指示灯变为红色",
    ),
    (
        "jh04",
        "en",
        "zh_净化器A2说明书",
        "What is the rated power of the Qingfeng A2 air purifier?",
        ["55"],
        "| 额定功率 | 55",
    ),
    ("jh05", "en", "zh_净化器A1说明书", "How heavy is the Qingfeng A1 purifier?", ["5.2"], "| 重量 | 5.2"),
    (
        "jh06",
        "en",
        "zh_净化器A2说明书",
        "How many years is the motor of the Qingfeng A2 under warranty?",
        ["5", "five"],
        "电机保修 5 年",
    ),
    ("jh07", "zh", "zh_净化器A2说明书", "清风A2适用多大面积的房间？", ["40", "60"], "40–60 平方米"),
    (
        "jh08",
        "en",
        "zh_净化器A1说明书",
        "What is the customer service hotline for the Qingfeng A1?",
        ["400-820-1234", "4008201234"],
        "400-820-1234",
    ),
    # 门店 (csv)
    ("md01", "zh", "zh_门店营业时间", "静安店营业到几点？", ["22:30"], "静安店"),
    ("md02", "zh", "zh_门店营业时间", "浦东店的店长是谁？", ["赵磊"], "浦东店"),
    (
        "md03",
        "en",
        "zh_门店营业时间",
        "What are the opening hours of the Hangzhou West Lake store?",
        ["10:00", "21:00"],
        "杭州西湖店",
    ),
    (
        "md04",
        "en",
        "zh_门店营业时间",
        "What is the phone number of the Nanjing Xinjiekou store?",
        ["025-84009900", "02584009900"],
        "南京新街口店",
    ),
    ("md05", "zh", "zh_门店营业时间", "徐汇店的地址在哪里？", ["漕溪北路88号"], "漕溪北路88号"),
    # 会议纪要 (look-alikes)
    ("hy01", "zh", "zh_会议纪要_0312", "3月12日的会议上，3.2版本预计哪天发布？", ["3月28日"], "3月28日发布"),
    ("hy02", "zh", "zh_会议纪要_0319", "3.2版本最后推迟到了哪天发布？", ["4月3日"], "推迟到4月3日"),
    ("hy03", "zh", "zh_会议纪要_0319", "会员价格调整后是每月多少元？", ["28"], "调整为每月28元"),
    (
        "hy04",
        "en",
        "zh_会议纪要_0319",
        "From what date does the new membership price take effect?",
        ["5月1日", "May 1", "1 May"],
        "自5月1日起生效",
    ),
    (
        "hy05",
        "en",
        "zh_会议纪要_0312",
        "Who chaired the product meeting on 12 March?",
        ["李娜"],
        "主持人：李娜",
    ),
    (
        "hy06",
        "en",
        "zh_会议纪要_0319",
        "What was the Android cold start time after optimisation, per the 19 March minutes?",
        ["1.9"],
        "降到1.9秒",
    ),
    ("hy07", "zh", "zh_会议纪要_0312", "支付模块回归测试由谁负责？", ["王磊"], "由王磊负责"),
    (
        "hy08",
        "en",
        "zh_会议纪要_0319",
        "Where is the product meeting on 26 March held?",
        ["泰山厅", "Taishan"],
        "泰山厅",
    ),
    # 停车
    ("tc01", "zh", "zh_停车管理规定", "翠湖花园业主车位年租多少钱？", ["3300", "3,300"], "年租为 3300 元"),
    ("tc02", "zh", "zh_停车管理规定", "访客停车每天最多收多少钱？", ["40"], "每日最高收费 40 元"),
    (
        "tc03",
        "en",
        "zh_停车管理规定",
        "How many EV charging spots are there at Cuihu Garden?",
        ["48"],
        "共 48 个",
    ),
    (
        "tc04",
        "en",
        "zh_停车管理规定",
        "How much does EV charging cost per kWh at Cuihu Garden?",
        ["1.2"],
        "每度电 1.2 元",
    ),
    (
        "tc05",
        "en",
        "zh_停车管理规定",
        "During which hours are trucks banned from Cuihu Garden?",
        ["23:00", "11 pm", "11pm"],
        "夜间 23:00 至次日 6:00",
    ),
    # 年报
    (
        "nb01",
        "zh",
        "zh_年报摘要",
        "华岳新能源2024年营业收入是多少亿元？",
        ["86.4"],
        "| 营业收入（亿元） | 86.4",
    ),
    ("nb02", "zh", "zh_年报摘要", "华岳新能源2024年的研发投入同比增长了多少？", ["28.6"], "+28.6%"),
    (
        "nb03",
        "en",
        "zh_年报摘要",
        "How many GWh of storage batteries did Huayue New Energy ship in 2024?",
        ["12.6"],
        "12.6 GWh",
    ),
    (
        "nb04",
        "en",
        "zh_年报摘要",
        "What cash dividend per 10 shares did Huayue's board propose?",
        ["3.5"],
        "派发现金红利 3.5 元",
    ),
    ("nb05", "en", "zh_年报摘要", "Who is the chairman of Huayue New Energy?", ["高振华"], "董事长：高振华"),
    (
        "nb06",
        "zh",
        "zh_年报摘要",
        "华岳新能源2023年有多少员工？",
        ["4,920", "4920"],
        "| 员工人数 | 5,380 | 4,920",
    ),
    # 培训课程表 (html)
    ("px01", "zh", "zh_培训课程表", "信息安全基础课的讲师是谁？", ["郑涛"], "信息安全基础"),
    ("px02", "zh", "zh_培训课程表", "培训结束后的笔试及格线是多少分？", ["70"], "及格线为70分"),
    (
        "px03",
        "en",
        "zh_培训课程表",
        "How long is the customer communication skills course in the Q2 new-hire training?",
        ["3"],
        "客户沟通技巧",
    ),
    (
        "px04",
        "en",
        "zh_培训课程表",
        "On what date is the product knowledge course on the Qingfeng purifier series?",
        ["4月15日", "April 15", "15 April"],
        "4月15日",
    ),
    # 租房合同
    ("zf01", "zh", "zh_租房合同", "这份租房合同的月租金是多少？", ["6,800", "6800"], "月租金为人民币6,800元"),
    ("zf02", "zh", "zh_租房合同", "乙方提前解约需要提前多少天通知？", ["30"], "须提前30天书面通知"),
    (
        "zf03",
        "en",
        "zh_租房合同",
        "How much is the deposit in the lease for the Cuihu Garden flat 7-1203?",
        ["13,600", "13600"],
        "即13,600元",
    ),
    ("zf04", "en", "zh_租房合同", "When does the lease end?", ["2027"], "2027年3月31日"),
    (
        "zf05",
        "en",
        "zh_租房合同",
        "Who is the landlord in the Nanshan lease contract?",
        ["郭海涛"],
        "出租方（甲方）：郭海涛",
    ),
    # 物流运费 (csv)
    ("wl01", "zh", "zh_物流运费", "寄到西南地区续重每公斤多少钱？", ["7"], "目的地区域: 西南"),
    ("wl02", "zh", "zh_物流运费", "寄新疆西藏首重多少钱？", ["25"], "目的地区域: 新疆西藏"),
    (
        "wl03",
        "en",
        "zh_物流运费",
        "What is the first-kilogram price for shipping within Jiangsu, Zhejiang and Shanghai?",
        ["8"],
        "目的地区域: 江浙沪",
    ),
    (
        "wl04",
        "en",
        "zh_物流运费",
        "How many days does delivery to the Northwest region take?",
        ["4-5", "4–5", "4 to 5"],
        "目的地区域: 西北",
    ),
    # 设备预约
    (
        "sb01",
        "zh",
        "zh_设备预约",
        "透射电子显微镜校外收费每小时多少元？",
        ["900"],
        "| 透射电子显微镜 | TEM-120 | 300 | 900",
    ),
    ("sb02", "zh", "zh_设备预约", "仪器预约需要提前多少小时提交？", ["48"], "提前48小时"),
    ("sb03", "en", "zh_设备预约", "Who is in charge of the flow cytometer?", ["许晴"], "流式细胞仪"),
    (
        "sb04",
        "en",
        "zh_设备预约",
        "What does an on-campus user pay per hour for the confocal microscope?",
        ["150"],
        "| 激光共聚焦显微镜 | LSM-980 | 150",
    ),
    ("sb05", "en", "zh_设备预约", "What is the model number of the ultracentrifuge?", ["UC-90"], "UC-90"),
    # 公司简介
    ("gs01", "zh", "zh_公司简介", "山海云图是哪一年成立的？", ["2016"], "成立于2016年"),
    ("gs02", "zh", "zh_公司简介", "山海云图B轮融资由谁领投？", ["蓝湖资本"], "蓝湖资本领投"),
    (
        "gs03",
        "en",
        "zh_公司简介",
        "How many employees did Shanhai Yuntu have at the end of 2024?",
        ["430"],
        "共有员工430人",
    ),
    (
        "gs04",
        "en",
        "zh_公司简介",
        "How much did Shanhai Yuntu raise in its Series B?",
        ["2.5", "250 million", "250m"],
        "B轮融资2.5亿元",
    ),
    (
        "gs05",
        "en",
        "zh_公司简介",
        "Where are Shanhai Yuntu's R&D centres?",
        ["武汉", "Wuhan"],
        "在武汉和西安设有研发中心",
    ),
    # 故障代码
    ("gz01", "zh", "zh_故障代码表", "壁挂炉显示E4是什么意思？", ["水压过低"], "| E4 | 水压过低"),
    (
        "gz02",
        "zh",
        "zh_故障代码表",
        "暖阳W5出现E9需要处理吗？",
        ["无需处理", "不需要"],
        "| E9 | 防冻保护启动",
    ),
    (
        "gz03",
        "en",
        "zh_故障代码表",
        "What does error code E3 mean on the Nuanyang W5 boiler?",
        ["风机", "fan"],
        "| E3 | 风机故障",
    ),
    (
        "gz04",
        "en",
        "zh_故障代码表",
        "To what pressure should water be topped up when the W5 shows E4?",
        ["1.0", "1.5"],
        "补水至1.0–1.5 bar",
    ),
    # 食堂菜单 (csv)
    ("st01", "zh", "zh_食堂菜单", "周三午餐主菜是什么？", ["清蒸鲈鱼"], "清蒸鲈鱼"),
    ("st02", "zh", "zh_食堂菜单", "周二午餐多少钱？", ["22"], "红烧牛肉"),
    (
        "st03",
        "en",
        "zh_食堂菜单",
        "What is served for dinner on Friday in the canteen?",
        ["麻辣香锅"],
        "麻辣香锅",
    ),
    # not in the documents
    ("ab01", "en", None, "What is the parental leave policy at Northwind Bikes?", [], ""),
    ("ab02", "en", None, "What is the maximum speed of the Kestrel KX500 router?", [], ""),
    ("ab03", "zh", None, "清风A3空气净化器的CADR是多少？", [], ""),
    ("ab04", "zh", None, "星河科技的股票代码是多少？", [], ""),
    ("ab05", "en", None, "What was Northwind Bikes' revenue in Q4 2025?", [], ""),
    ("ab06", "zh", None, "Skyline API 企业版每天有多少次请求上限以外的赠送额度？", [], ""),
    ("ab07", "en", None, "Who is the CEO of Huayue New Energy?", [], ""),
    ("ab08", "zh", None, "Riverside 诊所周日几点开门？有急诊吗？急诊电话是多少？", [], ""),
    ("ab09", "en", None, "How much does shipping to India cost?", [], ""),
    ("ab10", "zh", None, "翠湖花园小区的物业费每平方米多少钱？", [], ""),
    ("ab11", "en", None, "What is the Wi-Fi password at Brightwater Labs?", [], ""),
    ("ab12", "zh", None, "3月26日产品部会议的结论是什么？", [], ""),
    ("ab13", "en", None, "What time does the Xuhui store open on public holidays?", [], ""),
    ("ab14", "zh", None, "AeroCool DH-20 的售价是多少？", [], ""),
    ("ab15", "en", None, "What is the boiling point of the solvent stored in the yellow cabinet?", [], ""),
]


def split_of(qid: str) -> str:
    return "dev" if hashlib.sha256(qid.encode()).digest()[0] % 2 == 0 else "test"


def doc_path(stem: str) -> Path:
    hits = [p for p in DOCS.iterdir() if p.stem == stem]
    if len(hits) != 1:
        raise ValueError(f"document {stem!r}: {len(hits)} files")
    return hits[0]


def parsed_text(path: Path) -> str:
    """The text the platform extracts (csv rows become `header: value; ...`)."""
    from openmaas.knowledge.parse import ParseLimits, parse_document

    return parse_document(path.name, path.read_bytes(), ParseLimits())


def direction(lang: str, stem: str | None) -> str:
    if stem is None:
        return "absent"
    doc_lang = stem.split("_", 1)[0]
    return f"{lang}->{doc_lang}" if lang != doc_lang else lang


def rows() -> list[dict]:
    out = []
    for qid, lang, stem, question, answers, evidence in Q:
        if stem is not None:
            text = parsed_text(doc_path(stem))
            if evidence not in text:
                raise ValueError(f"{qid}: evidence {evidence!r} not in {stem}")
        out.append(
            {
                "id": qid,
                "split": split_of(qid),
                "lang": lang,
                "direction": direction(lang, stem),
                "document": doc_path(stem).name if stem else None,
                "question": question,
                "answers": answers,
                "evidence": evidence,
                "absent": stem is None,
            }
        )
    if len({r["id"] for r in out}) != len(out):
        raise ValueError("duplicate ids")
    return out


if __name__ == "__main__":
    data = rows()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), encoding="utf-8")
    from collections import Counter

    print(len(data), "questions;", dict(Counter((r["split"], r["direction"]) for r in data)))
