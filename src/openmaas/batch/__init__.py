"""The Batch API (reference §13): a JSONL file of requests run by one durable job at half price.

`input.py` validates the file at create time (a 400 naming the field and line, no row left
behind); `service.py` creates, lists, retrieves and cancels batches; `runner.py` is the job
handler, which runs the lines in order through a `LineExecutor` (the wire replay lives in
`api/batch_lines.py`), records every finished line durably so a reclaimed job resumes where
it stopped, and folds the results into output and error files.
"""
