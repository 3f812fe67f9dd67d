"""The offline retrieval corpus: hand-written fact passages + templated look-alikes.

bench/data/qa_en.jsonl and qa_zh.jsonl hold 62 passages written for this benchmark,
each with a question that paraphrases it and the answer string that must appear in a
retrieved chunk; qa_lookup.jsonl adds 22 keyword-style queries (an identifier, a name,
a code: how people also search) over the same passages. qa_reference.jsonl adds 32
reference entries (error codes, part numbers, settings, incidents; 故障代码, 合同编号, 物料
编码, 手册条款), each with a question naming its identifier, among templated entries of
the same family with other codes (`LOOK_ALIKES`): the look-up a support desk does all
day, where only the code tells the entries apart. Around them, deterministic
templates write look-alike distractors (other islands, firms, towns: same vocabulary,
different facts), so neither word overlap nor topic alone finds the answer. English
bulk text comes from the Python documentation topics in the standard library
(pydoc_data). Everything is offline and reproducible (fixed seed).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"

EN_NAMES = [
    "Maren Holt",
    "Tobias Kern",
    "Ilse Varga",
    "Oren Dahl",
    "Petra Szabo",
    "Rufus Lowe",
    "Agnes Brand",
    "Celia Marsh",
    "Henrik Olsen",
    "Nadia Petrov",
    "Linus Grey",
    "Beata Kowal",
]
EN_PLACES = [
    "Dunmarrow",
    "Kelthorn",
    "Aberlin",
    "Rosswick",
    "Hallan",
    "Myrdal",
    "Colvern",
    "Easterby",
    "Fennick",
    "Garrowby",
    "Inchmore",
    "Lowcairn",
]
EN_TEMPLATES = [
    "{place} is a quiet island in the western strait. Its harbour master, {name}, has worked on the pier "
    "since {year} and repaints the boat sheds every {month}.",
    "The ferry to {place} leaves the harbour at {time} on weekdays; on Sundays the crossing runs only when "
    "the sea is calm, and tickets cost {n} euros.",
    "{place} Robotics was founded in {year} by {name}. Its first product was a {thing}, and its support "
    "line answers within {n} business hours.",
    "Employees at the {place} plant receive {n} days of paid leave; travel above {m} euros needs approval "
    "from {name} before booking.",
    "The {place} museum displays a {thing} found in {year}; the curator, {name}, says it is the oldest "
    "object in the county.",
    "To reset the {place} router, unplug it for {n} seconds; if the light stays red, call {name} at the "
    "help desk on extension {m}.",
    "In the {place} trial, seedlings grown under green light grew {n} percent taller, according to the "
    "botanist {name}.",
    "The {place} bakery rests its rye dough for {n} minutes and finishes the loaves with caraway and a "
    "brush of salted butter.",
]
ZH_PLACES = [
    "柳溪镇",
    "石桥村",
    "云水镇",
    "梅岭乡",
    "黄沙湾",
    "松林镇",
    "龙潭村",
    "杏花镇",
    "鹤鸣乡",
    "枫林镇",
]
ZH_NAMES = ["王建国", "李秀英", "陈志强", "刘海燕", "周文斌", "吴晓梅", "孙立军", "郑丽华"]
ZH_THINGS = ["芝麻饼", "米酒", "腊肉", "竹编", "青团", "豆腐干", "蜜橘", "土陶"]
ZH_TEMPLATES = [
    "{place}坐落在山脚下，镇上的特产是{thing}，每到春节前后都有商贩来批发。",
    "{place}的古桥已有{n}年历史，桥头的石碑记载了民国年间的修缮经过。",
    "每年农历{m}月，{place}举办庙会，村民会表演舞龙和划旱船。",
    "{place}公司的员工每年有{n}天年假，报销发票需在{m}个工作日内提交给财务部。",
    "{place}的学校有{n}名学生，校长{name}同时负责图书室的管理工作。",
    "研究人员{name}发现，在{place}的试验田里，施用有机肥的水稻产量提高了百分之{n}。",
    "{place}的客服电话是四零零六六{n}，工作时间为每天上午八点到下午六点。",
    "做{place}风味的{thing}时，要先浸泡{n}小时，再用小火慢慢蒸熟。",
]


@dataclass(frozen=True)
class Question:
    lang: str
    question: str
    answer: str
    style: str = "paraphrase"  # paraphrase: reworded; lookup: names an entity or code;
    # identifier: names a code among look-alike entries (qa_reference.jsonl)


@dataclass(frozen=True)
class LookAlike:
    """A family of templated reference entries, one per code. In codes and fields, '#' is
    a random digit 1-9 and '@' a letter A-D."""

    template: str
    codes: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]

    def entries(self, rng: random.Random, count: int, taken: set[str], answers: list[str]) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            code = _fill(rng, rng.choice(self.codes))
            values = {name: rng.choice(choices) for name, choices in self.fields.items()}
            text = _fill(rng, self.template.format(code=code, **values))
            if code not in taken and not any(a in text for a in answers):
                taken.add(code)
                out.append(text)
        return out


def _fill(rng: random.Random, pattern: str) -> str:
    return re.sub(
        r"[#@]", lambda m: str(rng.randint(1, 9)) if m.group() == "#" else rng.choice("ABCD"), pattern
    )


LOOK_ALIKES = {
    "orbis-error-codes": LookAlike(
        "Error {code} on the Orbis LX printers means {meaning}; {action}.",
        ("E-31##", "E-32##"),
        {
            "meaning": (
                "the toner cartridge is not recognised",
                "the paper tray is empty",
                "the waste toner box is nearly full",
                "the network card failed its self-test",
                "the fixing unit is too cold",
                "the drum unit has reached the end of its life",
                "the rear door is open",
                "the scanner lamp did not warm up",
            ),
            "action": (
                "restart the printer and try again",
                "replace the part and reset its counter",
                "call service if the message returns",
            ),
        },
    ),
    "spare-parts": LookAlike(
        "Part number {code} is the {part} for the {model}; it costs {price} euros and ships from "
        "the {site} warehouse.",
        ("KB-####-@",),
        {
            "part": (
                "replacement wheel",
                "charging dock",
                "sensor cover",
                "battery pack",
                "brush head",
                "bumper strip",
                "drive motor",
                "camera lens",
            ),
            "model": ("HX-40 crawler", "HX-60 crawler", "QX-9 keyboard", "Lumen router"),
            "price": ("#2", "1#5", "3#"),
            "site": ("Tampere", "Rotterdam", "Lyon"),
        },
    ),
    "config-reference": LookAlike(
        "The setting {code} defaults to {value}; {advice}.",
        tuple(
            f"{p}.{n}"
            for p in ("ingest", "search", "worker", "http", "cache")
            for n in (
                "max_batch_bytes",
                "max_batch_wait",
                "lease_renew_seconds",
                "keepalive_max",
                "rerank_model",
                "timeout_seconds",
                "max_connections",
                "retry_limit",
                "queue_depth",
                "flush_interval",
                "pool_size",
            )
        ),
        {
            "value": ("#", "##", "###", "#000"),
            "advice": (
                "change it only when support asks you to",
                "the value is read at start-up",
                "set it to 0 to disable the limit",
            ),
        },
    ),
    "incidents": LookAlike(
        "Incident {code} was caused by {cause} on the {system}; service was restored after "
        "{minutes} minutes.",
        ("INC-2####",),
        {
            "cause": (
                "a full disk",
                "a misconfigured firewall rule",
                "a failed database failover",
                "a memory leak in the search service",
                "an expired API key",
            ),
            "system": ("billing gateway", "search cluster", "customer portal", "mail relay"),
            "minutes": ("#", "1#", "3#"),
        },
    ),
    "空调故障代码": LookAlike(
        "凌风空调显示故障代码{code}，表示{meaning}，{action}。",
        ("F-##", "P-##"),
        {
            "meaning": (
                "室内风机转速异常",
                "通信线路连接不良",
                "室外温度传感器开路",
                "电源电压过低",
                "滤网需要清洗",
                "压缩机过载保护",
            ),
            "action": ("请断电五分钟后重新开机", "请联系售后上门检修", "处理后按复位键即可"),
        },
    ),
    "合同台账": LookAlike(
        "合同编号{code}的签约方是{company}，合同金额为{amount}万元，{term}。",
        ("HT-2022-####", "HT-2023-####", "HT-2024-####"),
        {
            "company": (
                "东盛建材有限公司",
                "华远科技股份公司",
                "青禾农业合作社",
                "安达运输公司",
                "明川设备厂",
            ),
            "amount": ("##", "1##", "#"),
            "term": ("有效期两年", "按季度付款", "到期自动续签一年"),
        },
    ),
    "物料编码": LookAlike(
        "物料编码{code}对应的是{item}，库存放在{n}号仓库，最低库存为{m}件。",
        ("WL-#####",),
        {
            "item": (
                "内六角螺钉M6×20",
                "平垫圈M8",
                "弹簧垫圈M10",
                "尼龙扎带200毫米",
                "不锈钢铆钉",
                "橡胶密封圈",
            ),
            "n": ("一", "三", "四", "五"),
            "m": ("##", "###"),
        },
    ),
    "员工手册": LookAlike(
        "根据员工手册第{code}条，{rule}。",
        ("#.#.#",),
        {
            "rule": (
                "员工每月可申请一次调休",
                "加班需提前一天填写申请单",
                "出差住宿标准按城市等级执行",
                "办公用品由行政部统一采购",
                "离职需提前三十天书面通知",
                "培训费用由部门预算承担",
            )
        },
    ),
}


def _load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _english(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        template = rng.choice(EN_TEMPLATES)
        out.append(
            template.format(
                place=rng.choice(EN_PLACES),
                name=rng.choice(EN_NAMES),
                year=rng.randint(1850, 2020),
                month=rng.choice(["May", "June", "March"]),
                time=f"{rng.randint(6, 11):02d}:{rng.choice(['05', '20', '50'])}",
                n=rng.randint(3, 60),
                m=rng.randint(100, 9000),
                thing=rng.choice(["pipe inspector", "silver brooch", "window drone"]),
            )
        )
    return out


def _chinese(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        template = rng.choice(ZH_TEMPLATES)
        out.append(
            template.format(
                place=rng.choice(ZH_PLACES),
                name=rng.choice(ZH_NAMES),
                thing=rng.choice(ZH_THINGS),
                n=rng.randint(3, 300),
                m=rng.randint(2, 12),
            )
        )
    return out


def _python_docs(limit_chars: int) -> list[tuple[str, str]]:
    from pydoc_data.topics import topics

    docs, used = [], 0
    for name in sorted(topics):
        text = topics[name].strip()
        if used + len(text) > limit_chars:
            break
        docs.append((f"python-{name}.txt", text))
        used += len(text)
    return docs


def build(
    seed: int = 7,
    distractors_per_lang: int = 160,
    python_doc_chars: int = 40_000,
    look_alikes_per_family: int = 24,
) -> tuple[list[tuple[str, str]], list[Question]]:
    """Documents (filename, text) and questions."""
    rng = random.Random(seed)
    documents: list[tuple[str, str]] = []
    questions: list[Question] = []
    for lang, path, fake in (("en", DATA / "qa_en.jsonl", _english), ("zh", DATA / "qa_zh.jsonl", _chinese)):
        items = _load(path)
        topics: dict[str, list[str]] = {}
        for item in items:
            topics.setdefault(item["doc"], []).append(item["passage"])
            questions.append(Question(lang, item["question"], item["answer"]))
        noise = fake(rng, distractors_per_lang)
        for index, (topic, passages) in enumerate(sorted(topics.items())):
            share = noise[index :: len(topics)]
            paragraphs = passages + share
            rng.shuffle(paragraphs)
            documents.append((f"{lang}-{topic}.txt", "\n\n".join(paragraphs)))
    for item in _load(DATA / "qa_lookup.jsonl"):
        questions.append(Question(item["lang"], item["question"], item["answer"], "lookup"))
    reference, identifiers = _reference(random.Random(f"{seed}-reference"), look_alikes_per_family)
    documents += reference + _python_docs(python_doc_chars)
    return documents, questions + identifiers


def _reference(rng: random.Random, per_family: int) -> tuple[list[tuple[str, str]], list[Question]]:
    items = _load(DATA / "qa_reference.jsonl")
    taken = {item["code"] for item in items} | {item["answer"] for item in items}
    answers = [item["answer"] for item in items]
    documents = []
    for doc, family in LOOK_ALIKES.items():
        own = [item for item in items if item["doc"] == doc]
        paragraphs = [item["passage"] for item in own] + family.entries(rng, per_family, taken, answers)
        rng.shuffle(paragraphs)
        documents.append((f"{own[0]['lang']}-{doc}.txt", "\n\n".join(paragraphs)))
    return documents, [Question(i["lang"], i["question"], i["answer"], "identifier") for i in items]
