"""`create_app(settings)`: builds every service, wires the routers, owns the lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from openmaas import __version__
from openmaas.accounts.wiring import build_account_services
from openmaas.agents.wiring import build_agent_services
from openmaas.api import anthropic_messages, assistants, async_chat, health, models, openai_responses
from openmaas.api import batches as batches_routes
from openmaas.api import embeddings as embeddings_routes
from openmaas.api import files as files_routes
from openmaas.api import fine_tuning as fine_tuning_routes
from openmaas.api import images as images_routes
from openmaas.api import knowledge as knowledge_routes
from openmaas.api.batch_lines import batch_job_handlers
from openmaas.api.body_limit import BodyLimitMiddleware
from openmaas.api.chat import routes as chat_routes
from openmaas.api.errors import install_error_handlers
from openmaas.api.platform import account as account_routes
from openmaas.api.platform import admin as admin_routes
from openmaas.api.platform import auth as auth_routes
from openmaas.api.platform import billing as billing_routes
from openmaas.api.platform import keys as keys_routes
from openmaas.api.platform import verification as verification_routes
from openmaas.api.tool_endpoints import openai_routers as tool_openai_routers
from openmaas.api.tool_endpoints import zhipu_routers as tool_zhipu_routers
from openmaas.auth.authenticate import Authenticator
from openmaas.auth.key_cache import KeyCache
from openmaas.auth.sealing import SecretSealer, load_or_create_server_key
from openmaas.batch.service import BatchService
from openmaas.billing.bills import Bills
from openmaas.billing.lease import LeaseBook
from openmaas.billing.maintenance import run_maintenance
from openmaas.billing.meter import Meter
from openmaas.billing.pricing import ServedModel
from openmaas.billing.service import BillingService
from openmaas.billing.usage import UsageRecorder
from openmaas.catalog.registry import Catalog, CatalogEntry
from openmaas.chat.async_chat import KIND as ASYNC_CHAT
from openmaas.chat.async_chat import AsyncChatService
from openmaas.chat.moderation_gate import ChatModeration
from openmaas.chat.service import ChatService
from openmaas.chat.tool_context import ToolContext
from openmaas.concurrency import run_in_threadpool, use_background_threads
from openmaas.config import BillingConfig, Settings
from openmaas.engines.base import ChatEngine
from openmaas.engines.factory import apply_omp_wait_policy, build_chat_engine
from openmaas.errors import PlatformError
from openmaas.finetune.wiring import build_finetune, finetune_job_handlers
from openmaas.images.service import ImageService
from openmaas.images.store import ImageStore
from openmaas.jobs.owners import JobOwners
from openmaas.jobs.queue import JobQueue
from openmaas.jobs.worker import JobWorker
from openmaas.knowledge.translation import QueryTranslator
from openmaas.knowledge.wiring import build_blob_store, build_content_services
from openmaas.limits.factory import build_limiter
from openmaas.notify.dispatcher import run_notification_dispatcher
from openmaas.observability.metrics import Metrics
from openmaas.observability.middleware import ObservabilityMiddleware, redact_uvicorn_access_log
from openmaas.observability.request_bodies import BodyStore
from openmaas.search.providers import build_search_provider
from openmaas.services import Services
from openmaas.store import migrate
from openmaas.store.db import Database
from openmaas.tools_api import prices as tool_prices
from openmaas.tools_api.wiring import build_tool_services
from openmaas.web import install_console
from openmaas.web.console_api import CONSOLE_API_PREFIX

log = logging.getLogger(__name__)
ZHIPU_PREFIX = "/api/paas/v4"
OPENAI_PREFIX = "/v1"


def build_services(settings: Settings) -> Services:
    services = build_core_services(settings)
    services.tool_context = ToolContext(
        services.knowledge.retrieval,
        lambda: services.search,
        services.tools.web_search,
        settings.web_search.default_count,
    )
    services.agents = build_agent_services(
        settings, services.db, services.chat, services.knowledge.retrieval, services.tool_context
    )
    return services


def build_core_services(settings: Settings) -> Services:
    # Before any engine loads an OpenMP runtime: libgomp reads its wait policy once.
    apply_omp_wait_policy(settings.omp_wait_policy, settings.omp_spin_count)
    db = Database(settings.resolved_database_url)
    sealer = SecretSealer(load_or_create_server_key(settings.secret_key, settings.data_dir))
    catalog = Catalog([CatalogEntry(m, build_chat_engine(m, settings)) for m in settings.models])
    billing = BillingService(db, settings.billing)
    limiter = build_limiter(settings)
    metrics = Metrics()
    usage = UsageRecorder(
        db,
        billing,
        metrics,
        lease_book(settings.billing),
        settings.billing.settle_gather_seconds,
        settings.billing.lease_flush_seconds,
    )
    meter = Meter(
        billing,
        usage,
        metrics,
        settings.billing.cache_price_percent,
        settings.billing.meter_heartbeat_seconds,
        settings.billing.meter_dead_seconds,
    )
    jobs = JobQueue(db, settings.job_lease_seconds, settings.jobs)
    content = content_services(settings, db, meter, limiter, jobs)
    content["knowledge"].retrieval.translator = QueryTranslator(
        partial(translation_engine, catalog, settings.knowledge.translation_model)
    )
    key_cache = KeyCache(settings.auth_cache_seconds)
    images = ImageService(
        settings.images,
        ImageStore(settings.data_dir / "images", settings.images.url_ttl_days),
        meter,
        limiter,
    )
    tools = build_tool_services(
        settings,
        catalog,
        content["embeddings"],
        content["knowledge"],
        images,
        jobs,
        build_blob_store(settings),
        meter,
        limiter,
    )
    # chat's sensitive_word_check uses the same rule moderator as /moderations (built once)
    chat = ChatService(
        catalog,
        meter,
        limiter,
        metrics,
        ChatModeration(tools.moderation.moderator, settings.tools.moderation),
    )
    return Services(
        settings=settings,
        db=db,
        sealer=sealer,
        authenticator=Authenticator(db, sealer, key_cache, settings.jwt_max_lifetime_seconds),
        catalog=catalog,
        billing=billing,
        limiter=limiter,
        usage=usage,
        meter=meter,
        chat=chat,
        metrics=metrics,
        bills=Bills(db, settings.billing.bill_utc_offset_hours),
        jobs=jobs,
        async_chat=AsyncChatService(chat, jobs),
        accounts=build_account_services(settings, db, sealer, billing, key_cache),
        search=build_search_provider(settings, content["knowledge"].retrieval),
        tools=tools,
        finetune=build_finetune(settings, db, catalog, content["files"], billing, meter, jobs),
        images=images,
        **content,
    )


def served_models(settings: Settings) -> list[ServedModel]:
    """Every model this server sells, by canonical name (fine-tuned models are priced as
    their base: `ft:` names resolve to the base's canonical entry), and the tool rows
    (tool endpoints, knowledge retrieval, the chat web_search tool)."""
    return (
        [ServedModel(m.name, tuple(m.aliases), "chat") for m in settings.models]
        + [ServedModel(m.name, tuple(m.aliases), "embedding") for m in settings.embeddings.models]
        + [ServedModel(m.name, tuple(m.aliases), "image") for m in settings.images.models]
        + [ServedModel(price.item, (), "tool") for price in tool_prices.ALL]
    )


def translation_engine(catalog: Catalog, name: str) -> ChatEngine | None:
    """The chat engine that translates knowledge questions (None when the name is not served)."""
    try:
        return catalog.resolve(name).engine
    except PlatformError:
        return None


def lease_book(config: BillingConfig) -> LeaseBook | None:
    if not config.lease_requests:
        return None
    return LeaseBook(config.lease_requests, config.lease_idle_seconds, config.lease_recall_seconds)


def content_services(settings: Settings, db: Database, meter: Meter, limiter, jobs: JobQueue) -> dict:
    """Embeddings, files and knowledge bases (knowledge/wiring.py)."""
    embeddings, files, knowledge = build_content_services(settings, db, meter, limiter, jobs)
    return {
        "embeddings": embeddings,
        "files": files,
        "knowledge": knowledge,
        "batches": BatchService(db, files, jobs, line_concurrency=settings.batch_line_concurrency),
    }


def make_worker(services: Services) -> JobWorker:
    handlers = {
        ASYNC_CHAT: services.async_chat.run_job,
        **services.knowledge.job_handlers(),
        **batch_job_handlers(services),
        **finetune_job_handlers(services.finetune),
        **services.tools.job_handlers(),
    }
    slots = {kind: services.settings.jobs.slots(kind) for kind in handlers}
    owners = JobOwners(services.db)
    return JobWorker(
        services.jobs,
        handlers,
        poll_seconds=services.settings.job_poll_seconds,
        slots=slots,
        owner=owners.principal,
        owner_watch=owners.stopped,
        owner_check_seconds=services.settings.jobs.owner_check_seconds,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    redact_uvicorn_access_log()  # image URLs are capabilities
    await run_in_threadpool(migrate.upgrade, services.db.engine)
    await run_in_threadpool(services.billing.seed)
    services.meter.check_prices(served_models(services.settings))
    await run_in_threadpool(services.finetune.models.refresh)  # ft: names resolve from memory
    for entry in services.catalog.entries():
        await entry.engine.start()
    await services.meter.start()
    await services.embeddings.start()
    await services.knowledge.start()
    await services.images.start()
    if services.settings.run_jobs_in_process:
        use_background_threads(
            services.settings.jobs.background_threads, services.settings.jobs.background_share
        )
        services.worker = make_worker(services)
        await services.worker.start()
    if services.settings.gc_freeze_after_start:
        # Everything built so far lives as long as the process: out of the collector's sight,
        # a full collection no longer walks it (tens of ms with the engines loaded, a stall
        # for every request in flight).
        gc.collect()
        gc.freeze()
        if services.settings.gc_young_threshold:
            gc.set_threshold(services.settings.gc_young_threshold, *gc.get_threshold()[1:])
    maintenance = asyncio.create_task(
        run_maintenance(services.billing, also=(BodyStore(services.db).purge_expired,)), name="maintenance"
    )
    notifications = asyncio.create_task(
        run_notification_dispatcher(
            services.accounts.notifications, services.settings.notify.dispatch_interval_seconds
        ),
        name="notifications",
    )
    try:
        yield
    finally:
        for task in (maintenance, notifications):
            task.cancel()
        # awaiting them lets a sweep already running in a worker thread finish before dispose
        await asyncio.gather(maintenance, notifications, return_exceptions=True)
        if services.worker is not None:
            await services.worker.close()
        await services.images.close()
        await services.agents.close()
        await services.tools.close()
        await services.knowledge.close()
        await services.embeddings.close()
        await services.meter.close()
        await services.limiter.close()
        if services.search is not None:
            await services.search.close()
        for entry in services.catalog.entries():
            await entry.engine.close()
        services.db.dispose()


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="OpenMaaS",
        version=__version__,
        lifespan=lifespan,
        description="Self-hosted model-as-a-service: Zhipu v4 and OpenAI compatible.",
    )
    app.state.services = build_services(settings)
    install_error_handlers(app)
    upload_limit = settings.files.largest_limit + 1024 * 1024  # multipart overhead
    tool_limit = settings.tools.parser.max_bytes * 4 // 3 + 1024 * 1024  # base64 in JSON (layout_parsing)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits={f"{p}/files": upload_limit for p in (ZHIPU_PREFIX, OPENAI_PREFIX, CONSOLE_API_PREFIX)}
        | {
            f"{p}/{path}": tool_limit
            for p in (ZHIPU_PREFIX, OPENAI_PREFIX, CONSOLE_API_PREFIX)
            for path in ("layout_parsing", "audio/transcriptions")
        },
    )
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.services.metrics)  # outermost
    for prefix in (ZHIPU_PREFIX, OPENAI_PREFIX):
        app.include_router(models.router, prefix=prefix)
    app.include_router(chat_routes.zhipu_router, prefix=ZHIPU_PREFIX)
    app.include_router(chat_routes.openai_router, prefix=OPENAI_PREFIX)
    app.include_router(async_chat.router, prefix=ZHIPU_PREFIX)
    app.include_router(openai_responses.router, prefix=OPENAI_PREFIX)  # the agent-era surfaces
    app.include_router(anthropic_messages.router, prefix=OPENAI_PREFIX)
    app.include_router(assistants.router, prefix=ZHIPU_PREFIX)
    for prefix in (ZHIPU_PREFIX, OPENAI_PREFIX):
        for content_router in (embeddings_routes.router, files_routes.router, knowledge_routes.router):
            app.include_router(content_router, prefix=prefix)
        app.include_router(batches_routes.router, prefix=prefix)
        app.include_router(fine_tuning_routes.router, prefix=prefix)
        app.include_router(images_routes.router, prefix=prefix)
    app.include_router(fine_tuning_routes.openai_router, prefix=OPENAI_PREFIX)
    for tool_router in tool_zhipu_routers():
        app.include_router(tool_router, prefix=ZHIPU_PREFIX)
    for tool_router in tool_openai_routers():
        app.include_router(tool_router, prefix=OPENAI_PREFIX)
    app.include_router(health.router)
    app.include_router(billing_routes.router)
    app.include_router(billing_routes.admin_router)
    for platform_routes in (auth_routes, account_routes, keys_routes, verification_routes, admin_routes):
        app.include_router(platform_routes.router)
    install_console(app)  # /console pages, their static assets and the cookie-authenticated console API
    return app


def app_from_environment() -> FastAPI:
    """The factory `openmaas serve --workers N` gives uvicorn: settings from OPENMAAS_* / TOML."""
    from openmaas.config import load_settings
    from openmaas.observability.logs import configure_json_logging

    settings = load_settings()
    if settings.log_json:
        configure_json_logging(settings.log_level)
    return create_app(settings)
