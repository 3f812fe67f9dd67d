"""Fine-tuning: chat datasets → LoRA (peft) on a catalog model → a GGUF adapter served by llama.cpp.

dataset.py   parse + validate chat JSONL (line numbers in every error)
trainer.py   the LoRA training loop (the only torch/transformers/peft user outside engines/)
export.py    peft adapter → GGUF LoRA with llama.cpp's own converter
store.py     job rows, events, and the per-account fine-tuned model registry
service.py   create / list / retrieve / events / cancel / delete (the API's one entry point)
runner.py    the durable job handler: validating_files → queued → running → terminal
models.py    resolves `ft:...` names per account for the catalog
"""
