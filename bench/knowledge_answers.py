"""Knowledge answers end to end, through the API with the unmodified `zhipuai` SDK.

A real server (uvicorn, SQLite, multilingual-e5-small, a packaged Qwen GGUF as `glm-4`)
gets the 33 documents of `bench/data/knowledge/docs` uploaded into one knowledge base; once
indexed, every question of the split (bench/data/knowledge/questions.jsonl, written by
bench/knowledge_set.py) is

1. retrieved with `/knowledge/retrieve` three ways — dense (`embedding`), BM25 (`keyword`),
   hybrid (`mixed`, rerank as the API defaults) — recall@5: a top-5 chunk holds its evidence;
2. asked through `chat.completions.create(model="glm-4", tools=[retrieval])`, greedy, and
   graded: correct when the answer holds one of the question's answer strings (case, spaces
   and thousands separators normalised); for a question no document answers, correct when the
   answer says the documents do not contain it (and gives none of the decoy facts).

Printed per direction: zh, en, zh->en (a Chinese question on an English document), en->zh,
absent; `lang ok` counts answers written in the question's language. Any HTTP 5xx is counted
and printed.

    .venv/bin/python bench/knowledge_answers.py --split dev --model 1.5b
    .venv/bin/python bench/knowledge_answers.py --split test --model 0.5b
    .venv/bin/python bench/knowledge_answers.py --split dev --retrieval-only      # no chat model
    .venv/bin/python bench/knowledge_answers.py --smoke                           # seconds
    .venv/bin/python bench/knowledge_answers.py --split dev --retrieval-only --gate-scores

`--gate-scores` prints, for every question (unanswerable ones too), what the evidence gate
(knowledge/answerable.py) judged the hybrid top 5 by — each passage's cosine and cross-encoder
logit — and how many answerable / unanswerable questions each pair of thresholds would gate:
calibrate on dev only. `--min-cosine`, `--min-logit` and `--no-gate` override the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _weights import VARIANT_HELP, model_file

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "knowledge"
MODELS = {"0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m", "1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m"}
METHODS = (("dense", "embedding", 0), ("bm25", "keyword", 0), ("hybrid", "mixed", None))
DIRECTIONS = ("zh", "en", "zh->en", "en->zh", "absent")
NOT_IN_DOCS = (
    "not in the documents",
    "not in the document",
    "not mentioned",
    "does not contain",
    "do not contain",
    "doesn't contain",
    "don't contain",
    "no information",
    "not provided",
    "not found",
    "does not mention",
    "do not mention",
    "doesn't mention",
    "not specified",
    "cannot find",
    "can't find",
    "not available",
    "not include",
    "no mention",
    "not stated",
    "未提及",
    "没有提及",
    "未提到",
    "没有提到",
    "未找到",
    "没有找到",
    "找不到",
    "不包含",
    "未包含",
    "没有相关",
    "没有关于",
    "未提供",
    "没有提供",
    "文档中没有",
    "文档中未",
    "无法从",
    "无相关",
    "没有给出",
    "未给出",
    "未说明",
    "没有说明",
    "并未",
    "没有记载",
    "未记载",
    # the GLM platform's retrieval prompt asks for exactly this when the passages lack the answer
    "不是来自文档",
    "不来自文档",
    "not from the document",
    "not come from the document",
    "isn't from the document",
)
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def normalise(text: str) -> str:
    text = re.sub(r"(?<=\d)[,，](?=\d{3})", "", text.lower())
    return re.sub(r"\s+", "", text)


def grade(question: dict[str, Any], answer: str) -> bool:
    said = normalise(answer)
    if question["absent"]:
        return any(normalise(marker) in said for marker in NOT_IN_DOCS)
    return any(normalise(alt) in said for alt in question["answers"])


def language_ok(question: dict[str, Any], answer: str) -> bool:
    """Chinese question → mostly Chinese answer; English question → no Chinese prose."""
    cjk = len(CJK.findall(answer))
    latin = len(LATIN_WORD.findall(answer))
    return cjk >= latin if question["lang"] == "zh" else cjk <= 2 * max(1, latin // 10)


def load_questions(
    split: str,
    limit: int | None,
    sample: int | None = None,
    directions: str | None = None,
    ids: str | None = None,
) -> list[dict[str, Any]]:
    with (DATA / "questions.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    rows = [r for r in rows if split == "all" or r["split"] == split]
    if directions:
        rows = [r for r in rows if r["direction"] in directions.split(",")]
    if ids:
        rows = [r for r in rows if r["id"] in ids.split(",")]
    if sample and sample < len(rows):  # evenly spread: keeps the mix of directions
        rows = [rows[i * len(rows) // sample] for i in range(sample)]
    return rows[:limit] if limit else rows


# The retrieval tool's default templates before issue #20 (for "before" runs: --template old).
OLD_TEMPLATE_ZH = (
    '从文档\n"""\n{{knowledge}}\n"""\n中找问题\n"""\n{{question}}\n"""\n'
    "的答案。找到答案就仅使用文档语句回答问题，并用 [编号] 注明引用的文档片段；"
    "找不到答案就用自身知识回答并且告诉用户该信息不是来自文档。\n不要复述问题，直接开始回答。"
)
OLD_TEMPLATE_EN = (
    'Documents:\n"""\n{{knowledge}}\n"""\nQuestion:\n"""\n{{question}}\n"""\n'
    "Answer the question using only the documents above and cite the passages you used as "
    "[n]. If the answer is not in the documents, answer from your own knowledge and say "
    "that it does not come from the documents. Do not repeat the question."
)


def old_template(question: dict[str, Any], which: str) -> str | None:
    if which != "old":
        return None
    return OLD_TEMPLATE_ZH if CJK.search(question["question"]) else OLD_TEMPLATE_EN


def pct(n: int, total: int) -> str:
    return f"{100 * n / total:5.1f}% ({n}/{total})" if total else "n/a"


def start_server(settings: Any, live_server: Any, add_tenant: Any, free_port: Any) -> Any:
    """tests.conftest.start_live_server with a start deadline for loaded machines (two GGUFs
    and the embedding model load first)."""
    import threading

    import uvicorn

    from openmaas.app import create_app

    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 1800
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("server failed to start")
        time.sleep(0.1)
    services = app.state.services
    return live_server(f"http://127.0.0.1:{port}", services, add_tenant(services), server, thread)


class Server:
    """A live OpenMaaS on loopback (the test suite's own starter) and one SDK client."""

    def __init__(self, args: argparse.Namespace) -> None:
        sys.path.insert(0, str(HERE.parent))
        from zhipuai import ZhipuAI

        from openmaas.config import ModelConfig, PriceConfig, Settings
        from openmaas.embeddings.settings import EmbeddingsSettings, default_embedding_models
        from openmaas.knowledge.settings import KnowledgeSettings
        from tests.conftest import LiveServer, add_tenant, free_port

        data = Path(tempfile.mkdtemp(prefix="openmaas-knowledge-answers-"))

        def packaged(key: str, name: str) -> ModelConfig:
            path = model_file(args.models_dir, key, args.variant if key == args.model else "packaged")
            return ModelConfig(name=name, path=path, context_window=args.n_ctx, options={"parallel": 1})

        # as the default catalog: glm-4 answers, glm-4-flash (the 0.5B) translates questions
        fake = ModelConfig(name="glm-4", engine="fake")
        answering = fake if args.retrieval_only else packaged(args.model, "glm-4")
        models = [answering]
        if args.translate == "auto":
            if args.model == "0.5b" and not args.retrieval_only:
                models[0].aliases.append("glm-4-flash")
            else:
                models.append(packaged("0.5b", "glm-4-flash"))
        knowledge: dict[str, Any] = {
            k: v for k, v in (("fusion", args.fusion), ("dense_weight", args.dense_weight)) if v is not None
        }
        if args.no_gate:
            knowledge["no_answer_gate"] = False
        if args.min_cosine is not None:
            knowledge["no_answer_min_cosine"] = {"multilingual-e5-small": args.min_cosine}
        if args.min_logit is not None:
            knowledge["no_answer_min_rerank_logit"] = args.min_logit
        settings = Settings(
            environment="test",
            data_dir=data,
            secret_key="bench-secret",
            job_poll_seconds=0.05,
            engine_threads=args.threads,
            database_url=f"sqlite:///{data / 'db.sqlite'}",
            models=models,
            embeddings=EmbeddingsSettings(models=default_embedding_models()[:1]),
            knowledge=KnowledgeSettings(translate_queries=args.translate, **knowledge),
        )
        if "glm-4-flash" in models[0].aliases:
            # one 0.5B engine under both names: the free name may only sit on a free model
            # (start-up refuses otherwise), and this bench measures answers, not money
            settings.billing.prices["glm-4"] = PriceConfig(input_per_1k="0")
        self.live = start_server(settings, LiveServer, add_tenant, free_port)
        self.knowledge_settings = settings.knowledge
        self.client = ZhipuAI(
            api_key=self.live.tenant.api_key, base_url=self.live.zhipu_base, max_retries=0, timeout=600
        )
        self.errors_5xx: list[str] = []

    def ingest(self, names: set[str] | None) -> str:
        kb = self.client.knowledge.create(embedding_id=3, name="eval", description="issue 20 eval set")
        ids = []
        for path in sorted((DATA / "docs").iterdir()):
            if names is not None and path.name not in names:
                continue
            done = self.client.knowledge.document.create(
                file=(path.name, path.read_bytes(), "text/plain"), purpose="retrieval", knowledge_id=kb.id
            )
            if not done.successInfos:
                raise SystemExit(f"upload of {path.name} failed: {done.failedInfos}")
            ids.append(done.successInfos[0].documentId)
        deadline = time.monotonic() + 1800
        while any(self.client.knowledge.document.retrieve(d).embedding_stat != 1 for d in ids):
            if time.monotonic() > deadline:
                raise SystemExit("documents not indexed in 30 minutes")
            time.sleep(0.5)
        return kb.id

    def retrieve(self, kb_id: str, question: str, method: str, rerank: int | None) -> list[str]:
        return [hit["text"] for hit in self.retrieve_body(kb_id, question, method, rerank).get("data", [])]

    def gate_evidence(self, kb_id: str, question: str) -> dict[str, Any]:
        """The evidence gate's record in the trace of a hybrid retrieval (as the chat tool's)."""
        import httpx

        body = self.retrieve_body(kb_id, question, "mixed", None)
        if "request_id" not in body:
            return {}
        response = httpx.get(
            f"{self.live.zhipu_base}/knowledge/traces/{body['request_id']}",
            headers={"Authorization": f"Bearer {self.live.tenant.api_key}"},
            timeout=120,
        )
        response.raise_for_status()
        trace = response.json()
        if "answerable" not in trace:
            print(f"  (no gate record in the trace of {question!r}: {sorted(trace)})", file=sys.stderr)
        return dict(trace.get("answerable", {}))

    def retrieve_body(self, kb_id: str, question: str, method: str, rerank: int | None) -> dict[str, Any]:
        import httpx

        body: dict[str, Any] = {"query": question, "knowledge_id": kb_id, "top_k": 5, "recall_method": method}
        if rerank is not None:
            body["rerank_status"] = rerank
        response = httpx.post(
            f"{self.live.zhipu_base}/knowledge/retrieve",
            json=body,
            headers={"Authorization": f"Bearer {self.live.tenant.api_key}"},
            timeout=120,
        )
        if response.status_code >= 500:
            self.errors_5xx.append(f"retrieve {response.status_code}: {question}")
            return {}
        response.raise_for_status()
        return dict(response.json())

    def ask(self, kb_id: str, question: str, max_tokens: int, template: str | None) -> str:
        from zhipuai import APIStatusError

        retrieval: dict[str, Any] = {"knowledge_id": kb_id}
        if template:
            retrieval["prompt_template"] = template
        try:
            reply = self.client.chat.completions.create(
                model="glm-4",
                do_sample=False,
                max_tokens=max_tokens,
                messages=[{"role": "user", "content": question}],
                tools=[{"type": "retrieval", "retrieval": retrieval}],
            )
        except APIStatusError as exc:
            if exc.status_code >= 500:
                self.errors_5xx.append(f"chat {exc.status_code}: {question}")
            return f"<HTTP {exc.status_code}>"
        return reply.choices[0].message.content or ""

    def stop(self) -> None:
        self.client.close()
        self.live.stop()


def report(rows: list[dict[str, Any]], retrieval_only: bool) -> None:
    by_dir: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_dir[row["direction"]].append(row)
    groups = {d: by_dir[d] for d in DIRECTIONS if by_dir[d]}
    groups["cross-lingual"] = by_dir["zh->en"] + by_dir["en->zh"]
    groups["all answerable"] = [r for r in rows if r["direction"] != "absent"]
    print("\nrecall@5 (answerable questions; hit = a top-5 chunk holds the evidence)")
    print(f"{'':16}" + "".join(f"{g + f' ({len(v)})':>22}" for g, v in groups.items() if g != "absent"))
    for label, _, _ in METHODS:
        cells = "".join(
            f"{pct(sum(r['found'][label] for r in v), len(v)):>22}"
            for g, v in groups.items()
            if g != "absent"
        )
        print(f"{label:16}{cells}")
    answerable = groups["all answerable"]
    best = max(sum(r["found"][m] for r in answerable) for m in ("dense", "bm25"))
    hybrid = sum(r["found"]["hybrid"] for r in answerable)
    print(f"hybrid - best single method: {100 * (hybrid - best) / max(len(answerable), 1):+.1f} points")
    if retrieval_only:
        return
    print("\nanswers correct")
    groups["all"] = rows
    for group, part in groups.items():
        print(
            f"  {group:16} {pct(sum(r['correct'] for r in part), len(part)):>18}   "
            f"lang ok {pct(sum(r['lang_ok'] for r in part), len(part))}"
        )


def gated(passages: list[dict[str, Any]], min_cosine: float, min_logit: float) -> bool:
    """As knowledge/answerable.py decides, for other thresholds (a passage without evidence passes)."""

    def relevant(p: dict[str, Any]) -> bool:
        if p["logit"] is not None:
            return bool(p["logit"] >= min_logit)
        return p["cosine"] is None or p["cosine"] >= min_cosine

    return not any(relevant(p) for p in passages)


def gate_sweep(rows: list[dict[str, Any]]) -> None:
    """Per question the best logit / cosine of the top 5; then, per threshold pair, how many
    answerable questions (of those whose evidence is in the top 5) and unanswerable ones it gates."""
    print("\nevidence gate: best logit / best cosine (not reranked) of the hybrid top 5")
    for row in rows:
        passages = row["gate"].get("passages", [])
        logits = [p["logit"] for p in passages if p["logit"] is not None]
        cosines = [p["cosine"] for p in passages if p["logit"] is None and p["cosine"] is not None]
        print(
            f"  {row['id']:5} {row['direction']:7} top5 {'hit ' if row['found'].get('hybrid') else 'miss'} "
            f"logit {max(logits) if logits else '-':>8} cosine {max(cosines) if cosines else '-':>7} "
            f"all cosines {sorted((c for p in passages if (c := p['cosine']) is not None), reverse=True)[:3]}"
        )
    answerable = [r for r in rows if r["direction"] != "absent"]
    hits = [r for r in answerable if r["found"].get("hybrid")]
    absent = [r for r in rows if r["direction"] == "absent"]
    print(
        f"\ngated (thresholds and codes): absent {sum(r['gated'] for r in absent)}/{len(absent)}, "
        f"answerable {sum(r['gated'] for r in answerable)}/{len(answerable)} "
        f"({sum(r['gated'] for r in hits)} of them with the evidence in the top 5: "
        f"{', '.join(r['id'] for r in hits if r['gated']) or '-'})"
    )
    print("thresholds alone, swept (codes not counted):")
    print("\nmin cosine  min logit   gated: absent   answerable (evidence in top 5)   answerable (all)")
    for min_cosine in (0.76, 0.78, 0.79, 0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86):
        for min_logit in (-8.0, -6.0, -5.0, -4.0, -3.0, -2.0, 0.0):
            count = [
                sum(gated(r["gate"].get("passages", []), min_cosine, min_logit) for r in part)
                for part in (absent, hits, answerable)
            ]
            print(
                f"{min_cosine:10.2f} {min_logit:10.1f}   {count[0]:>6}/{len(absent)}"
                f"   {count[1]:>10}/{len(hits)}   {count[2]:>10}/{len(answerable)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--model", default="1.5b", choices=sorted(MODELS))
    parser.add_argument("--models-dir", type=Path, default=Path("~/.openmaas/models").expanduser())
    parser.add_argument("--variant", default="packaged", help=VARIANT_HELP)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--sample", type=int, default=None, help="N questions spread evenly over the split")
    parser.add_argument("--directions", default=None, help="only these, e.g. zh->en,en->zh")
    parser.add_argument("--ids", default=None, help="only these questions, e.g. ab03,px03")
    parser.add_argument("--retrieval-only", action="store_true", help="recall@5 only (fake chat engine)")
    parser.add_argument("--fusion", default=None, choices=("dbsf", "relative", "rrf", "guarded"))
    parser.add_argument("--dense-weight", type=float, default=None)
    parser.add_argument(
        "--translate",
        default="auto",
        choices=("auto", "never"),
        help="search questions also in translation (the 0.5B as glm-4-flash)",
    )
    parser.add_argument(
        "--template",
        default="default",
        choices=("default", "old"),
        help="old: the retrieval tool's previous default prompt, sent as prompt_template",
    )
    parser.add_argument("--gate-scores", action="store_true", help="calibrate the evidence gate (see above)")
    parser.add_argument("--min-cosine", type=float, default=None, help="knowledge.no_answer_min_cosine (e5)")
    parser.add_argument("--min-logit", type=float, default=None, help="knowledge.no_answer_min_rerank_logit")
    parser.add_argument("--no-gate", action="store_true", help="knowledge.no_answer_gate off (as before)")
    parser.add_argument("--smoke", action="store_true", help="3 documents, 3 questions, retrieval only")
    parser.add_argument("--details", type=Path, default=None, help="each question's retrievals and answer")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    questions = load_questions(args.split, args.limit, args.sample, args.directions, args.ids)
    names = None
    if args.smoke:
        args.retrieval_only, args.translate = True, "never"
        questions = [q for q in load_questions("all", None) if q["id"] in ("lp01", "kq04", "jh01")]
        names = {q["document"] for q in questions}
    began = time.perf_counter()
    server = Server(args)
    try:
        kb_id = server.ingest(names)
        print(
            f"knowledge answers: {len(questions)} {args.split} questions, translate {args.translate}, "
            f"template {args.template}, "
            f"{'retrieval only' if args.retrieval_only else 'model ' + args.model}, fusion "
            f"{server.knowledge_settings.fusion} (dense weight {server.knowledge_settings.dense_weight}); "
            f"indexed in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        rows = []
        for q in questions:
            row = {"id": q["id"], "direction": q["direction"], "found": {}}
            for label, method, rerank in METHODS:
                texts = [] if q["absent"] else server.retrieve(kb_id, q["question"], method, rerank)
                row["found"][label] = any(q["evidence"] in t for t in texts)
            if args.gate_scores:
                row["gate"] = server.gate_evidence(kb_id, q["question"])
                row["gated"] = bool(row["gate"].get("nothing_relevant"))
            if not args.retrieval_only:
                started = time.perf_counter()
                answer = server.ask(kb_id, q["question"], args.max_tokens, old_template(q, args.template))
                row.update(
                    answer=answer,
                    correct=grade(q, answer),
                    lang_ok=language_ok(q, answer),
                    seconds=round(time.perf_counter() - started, 1),
                )
                print(
                    f"  {q['id']:5} {q['direction']:7} {'OK ' if row['correct'] else 'NO '} "
                    f"{'gated ' if row.get('gated') else ''}"
                    f"({row['seconds']} s) {answer[:100]!r}",
                    file=sys.stderr,
                    flush=True,
                )
            rows.append(row)
            if args.details:
                with args.details.open("a", encoding="utf-8") as out:
                    out.write(
                        json.dumps(
                            row | {"question": q["question"], "answers": q["answers"]}, ensure_ascii=False
                        )
                        + "\n"
                    )
        report(rows, args.retrieval_only)
        if args.gate_scores:
            gate_sweep(rows)
        print(f"\nHTTP 5xx: {len(server.errors_5xx)}" + "".join(f"\n  {e}" for e in server.errors_5xx))
        print(f"total {time.perf_counter() - began:.0f} s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
