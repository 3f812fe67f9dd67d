"""Fine-tuning failures, as typed platform errors (mapped centrally by api/errors.py).

InvalidRequest (400)
├── DatasetInvalid          1214  a training/validation file line that is not a chat example
├── JobNotCancellable       1214  a job that already ended
└── ModelUnsupported        1212  (openmaas.errors) a base model that cannot be fine-tuned
InternalFailure (500)
└── TrainingFailed          1230  training or export broke; the job records the reason
"""

from __future__ import annotations

from openmaas.errors import InternalFailure, InvalidRequest


class DatasetInvalid(InvalidRequest):
    code = "1214"

    def __init__(self, field: str, reason: str, line: int | None = None) -> None:
        where = f" line {line}" if line is not None else ""
        super().__init__(f"{field} 参数非法 (invalid {field}{where}: {reason})", param=field)
        self.line = line
        self.reason = reason


class JobNotCancellable(InvalidRequest):
    code = "1214"

    def __init__(self, status: str) -> None:
        super().__init__(
            f"微调任务已结束，无法取消 (a {status} fine-tuning job cannot be cancelled)", param="job_id"
        )


class TrainingFailed(InternalFailure):
    code = "1230"
