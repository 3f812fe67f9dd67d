"""The offline retrieval corpus: hand-written fact passages + templated look-alikes.

bench/data/qa_en.jsonl and qa_zh.jsonl hold 62 passages written for this benchmark,
each with a question that paraphrases it and the answer string that must appear in a
retrieved chunk; qa_lookup.jsonl adds 22 keyword-style queries (an identifier, a name,
a code: how people also search) over the same passages. Around them, deterministic
templates write look-alike distractors (other islands, firms, towns: same vocabulary,
different facts), so neither word overlap nor topic alone finds the answer. English
bulk text comes from the Python documentation topics in the standard library
(pydoc_data). Everything is offline and reproducible (fixed seed).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"

EN_NAMES = ["Maren Holt", "Tobias Kern", "Ilse Varga", "Oren Dahl", "Petra Szabo", "Rufus Lowe",
            "Agnes Brand", "Celia Marsh", "Henrik Olsen", "Nadia Petrov", "Linus Grey", "Beata Kowal"]
EN_PLACES = ["Dunmarrow", "Kelthorn", "Aberlin", "Rosswick", "Hallan", "Myrdal", "Colvern", "Easterby",
             "Fennick", "Garrowby", "Inchmore", "Lowcairn"]
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
ZH_PLACES = ["柳溪镇", "石桥村", "云水镇", "梅岭乡", "黄沙湾",
             "松林镇", "龙潭村", "杏花镇", "鹤鸣乡", "枫林镇"]
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
    style: str = "paraphrase"  # paraphrase: reworded; lookup: names an identifier or entity


def _load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _english(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        template = rng.choice(EN_TEMPLATES)
        out.append(template.format(place=rng.choice(EN_PLACES), name=rng.choice(EN_NAMES),
                                   year=rng.randint(1850, 2020), month=rng.choice(["May", "June", "March"]),
                                   time=f"{rng.randint(6, 11):02d}:{rng.choice(['05', '20', '50'])}",
                                   n=rng.randint(3, 60), m=rng.randint(100, 9000),
                                   thing=rng.choice(["pipe inspector", "silver brooch", "window drone"])))
    return out


def _chinese(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        template = rng.choice(ZH_TEMPLATES)
        out.append(template.format(place=rng.choice(ZH_PLACES), name=rng.choice(ZH_NAMES),
                                   thing=rng.choice(ZH_THINGS), n=rng.randint(3, 300), m=rng.randint(2, 12)))
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


def build(seed: int = 7, distractors_per_lang: int = 160,
          python_doc_chars: int = 40_000) -> tuple[list[tuple[str, str]], list[Question]]:
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
            share = noise[index::len(topics)]
            paragraphs = passages + share
            rng.shuffle(paragraphs)
            documents.append((f"{lang}-{topic}.txt", "\n\n".join(paragraphs)))
    for item in _load(DATA / "qa_lookup.jsonl"):
        questions.append(Question(item["lang"], item["question"], item["answer"], "lookup"))
    documents += _python_docs(python_doc_chars)
    return documents, questions
