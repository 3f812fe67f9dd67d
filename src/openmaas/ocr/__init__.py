"""OCR: text lines with boxes from images (and scanned PDF pages)."""
