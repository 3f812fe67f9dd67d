"""The service container built by `create_app`: everything a request may need, no globals."""

from __future__ import annotations

from dataclasses import dataclass, field

from openmaas.accounts.wiring import AccountServices
from openmaas.agents.wiring import AgentServices
from openmaas.auth.authenticate import Authenticator
from openmaas.auth.sealing import SecretSealer
from openmaas.batch.service import BatchService
from openmaas.billing.bills import Bills
from openmaas.billing.meter import Meter
from openmaas.billing.service import BillingService
from openmaas.billing.usage import UsageRecorder
from openmaas.catalog.registry import Catalog
from openmaas.chat.async_chat import AsyncChatService
from openmaas.chat.service import ChatService
from openmaas.chat.tool_context import ToolContext
from openmaas.config import Settings
from openmaas.embeddings.service import EmbeddingService
from openmaas.files.service import FileService
from openmaas.finetune.service import FineTuneService
from openmaas.images.service import ImageService
from openmaas.jobs.queue import JobQueue
from openmaas.jobs.worker import JobWorker
from openmaas.knowledge.wiring import KnowledgeServices
from openmaas.limits.base import Limiter
from openmaas.observability.metrics import Metrics
from openmaas.search.providers import SearchProvider
from openmaas.store.db import Database
from openmaas.tools_api.wiring import ToolServices


@dataclass
class Services:
    settings: Settings
    db: Database
    sealer: SecretSealer
    authenticator: Authenticator
    catalog: Catalog
    billing: BillingService
    bills: Bills
    limiter: Limiter
    usage: UsageRecorder
    meter: Meter  # every chargeable call pays through it
    metrics: Metrics
    chat: ChatService
    jobs: JobQueue
    async_chat: AsyncChatService
    accounts: AccountServices
    embeddings: EmbeddingService
    files: FileService
    knowledge: KnowledgeServices
    batches: BatchService
    finetune: FineTuneService
    images: ImageService
    tools: ToolServices  # the tool endpoints (tools_api/wiring.py)
    search: SearchProvider | None = field(default=None)
    # built by app.build_services once chat and knowledge are (always there when serving)
    tool_context: ToolContext = field(init=False)  # chat's retrieval and web_search tools
    agents: AgentServices = field(init=False)
    worker: JobWorker | None = field(default=None)
